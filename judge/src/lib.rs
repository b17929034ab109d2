//! The Avocado judge: a Stylus contract that reports the latest fully signed state of each
//! channel and runs the dispute clock.
//!
//! It is an oracle. It holds no funds and calls nothing but the ecrecover precompile; an
//! executive contract (an escrow, a game) reads `finalState` to act. Everything it hashes comes
//! from `avocado-codec`, so the client signs exactly what the judge checks.
//!
//! # No SDK router: every byte is paid for
//! The program is [`run`] behind a hand-written `user_entrypoint` (module `wasm`) that talks to
//! Nitro's `vm_hooks` directly. The Stylus SDK's `#[public]` router, its generic ABI decoder and
//! its panic and formatting paths made up most of the former 34 KB program; here calldata is
//! decoded for exactly the judge's shapes (`avocado_codec::calldata`), errors and events are encoded by
//! hand from the constants of the committed interface (`codec/sol/IAvocadoJudge.sol`: selectors,
//! event signatures), and nothing panics with a message. The measurements behind each choice are
//! in the crate's README.
//!
//! # Storage: two slots per channel
//! `channels[id]` (the slot layout of a Solidity `mapping(bytes32 => struct)` at slot 0, as the
//! SDK's `StorageMap` had it) is one packed word (`version`, `finalizesAt`, flags) and the
//! `keccak256` of the stored state's data. The data itself lives in calldata and in events,
//! never in storage. A truncated fingerprint would fit everything in one slot, but executive
//! contracts release money against `dataHash`, so it keeps all 256 bits.
//!
//! # Validation happens once
//! The channel id commits to every term, so once the judge has stored a state for an id, the
//! terms that hash to it were already validated; later calls skip that work.
//!
//! # Time
//! Only `block.timestamp`: on Arbitrum `block.number` is a lagging L1 number. A dispute whose
//! deadline passed reads Final without a transaction (lazy finalisation).
#![no_std]

extern crate alloc;
// Host builds (tests, the ABI printer, the host `cdylib`) take std's panic handler; the program
// has its own (module `wasm`).
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

#[cfg(target_arch = "wasm32")]
mod wasm;

use alloc::vec::Vec;

use alloy_primitives::{keccak256, Address, B256};
use alloy_sol_types::{SolCall, SolError, SolEvent};
use avocado_codec::{
    calldata::{Args, Malformed, Params, StateArg},
    channel::{channel_id_of, validate_params, ParamsError},
    eip712::{challenge_hash, signing_hash, state_hash_of, Domain},
    limits::MAX_DATA_LEN,
    phase,
    signature::{split, Signature},
    IAvocadoJudge as I,
};

/// Flag bits of the packed word.
const EXISTS: u8 = 1;
const CONCLUDED: u8 = 2;

/// What the judge needs from the chain: Nitro's hostios in the program, a model of them in tests.
pub trait Host {
    /// `SLOAD` of `key` (a value stored earlier in this call included).
    fn load(&mut self, key: &B256) -> B256;
    /// `SSTORE`: later loads see it; the chain keeps it only if the call succeeds.
    fn store(&mut self, key: &B256, value: &B256);
    /// `block.timestamp`.
    fn timestamp(&mut self) -> u64;
    /// `block.chainid`.
    fn chain_id(&mut self) -> u64;
    /// `address(this)`.
    fn this(&mut self) -> Address;
    /// Whether `msg.value` is zero.
    fn no_value(&mut self) -> bool;
    /// A static call to the ecrecover precompile with `input`: its 32-byte output, or `None` if
    /// the call failed or returned anything else.
    fn ecrecover(&mut self, input: &[u8; 128]) -> Option<[u8; 32]>;
    /// `LOG{topics}`: `record` is the topics, 32 bytes each, followed by the data.
    fn log(&mut self, record: &[u8], topics: usize);
}

/// Every way a call to the judge fails. Each reverts with the Solidity error of the same name
/// (`codec/sol/IAvocadoJudge.sol`), except [`JudgeError::Malformed`] and
/// [`JudgeError::Unsupported`], which revert with no data, as a Solidity contract does when its
/// ABI decoder refuses calldata or no function matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JudgeError {
    /// Calldata that is not a strict ABI encoding of the function's arguments.
    Malformed,
    /// An unknown selector, or ETH sent to this non-payable contract.
    Unsupported,
    /// `participants.length` is outside 2..=255.
    InvalidParticipantCount(usize),
    /// A participant is zero or repeated.
    InvalidParticipant(usize),
    /// `challengeDuration` is zero or over ten years.
    InvalidChallengeDuration(u64),
    /// `state.channelId` is not the id of `params` here.
    WrongChannel {
        /// The id of `params`.
        expected: B256,
        /// `state.channelId`.
        given: B256,
    },
    /// `state.data` is over 16 KiB; the size.
    StateTooLarge(usize),
    /// `sigs` is not one 64- or 65-byte signature per participant.
    InvalidSignaturesLength {
        /// `sigs.length`.
        length: usize,
        /// `participants.length`.
        participants: usize,
    },
    /// A participant's signature is bad; its index.
    InvalidSignature(usize),
    /// The challenger's signature is bad.
    InvalidChallengerSignature,
    /// The challenger is not a participant; who signed.
    NotParticipant(Address),
    /// The stored version is higher.
    StaleVersion {
        /// The stored version.
        stored: u64,
        /// The version given.
        given: u64,
    },
    /// `open` on a known channel.
    ChannelExists(B256),
    /// The channel is final.
    ChannelFinal(B256),
    /// A dispute already runs.
    ChallengeInProgress {
        /// The channel.
        id: B256,
        /// The running dispute's deadline.
        finalizes_at: u64,
    },
    /// `conclude` with `isFinal == false`.
    NotFinalState,
    /// `finalState` before the channel is final.
    ChannelNotFinal(B256),
}

impl From<Malformed> for JudgeError {
    fn from(_: Malformed) -> Self {
        Self::Malformed
    }
}

impl From<ParamsError> for JudgeError {
    fn from(e: ParamsError) -> Self {
        match e {
            ParamsError::ParticipantCount(n) => Self::InvalidParticipantCount(n),
            ParamsError::Participant(i) => Self::InvalidParticipant(i),
            ParamsError::ChallengeDuration(d) => Self::InvalidChallengeDuration(d),
        }
    }
}

/// ABI words appended to a buffer.
trait Words {
    fn uint(&mut self, v: u64) -> &mut Self;
    fn word(&mut self, w: &B256) -> &mut Self;
    fn addr(&mut self, a: &Address) -> &mut Self;
}

impl Words for Vec<u8> {
    fn uint(&mut self, v: u64) -> &mut Self {
        self.extend_from_slice(&[0u8; 24]);
        self.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn word(&mut self, w: &B256) -> &mut Self {
        self.extend_from_slice(w.as_slice());
        self
    }
    fn addr(&mut self, a: &Address) -> &mut Self {
        self.extend_from_slice(&[0u8; 12]);
        self.extend_from_slice(a.as_slice());
        self
    }
}

impl JudgeError {
    /// The revert data: the error's selector and its arguments, ABI-encoded (all are static).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 64);
        let mut sel = |s: [u8; 4]| out.extend_from_slice(&s);
        match self {
            Self::Malformed | Self::Unsupported => {}
            Self::InvalidParticipantCount(n) => {
                sel(I::InvalidParticipantCount::SELECTOR);
                out.uint(*n as u64);
            }
            Self::InvalidParticipant(i) => {
                sel(I::InvalidParticipant::SELECTOR);
                out.uint(*i as u64);
            }
            Self::InvalidChallengeDuration(d) => {
                sel(I::InvalidChallengeDuration::SELECTOR);
                out.uint(*d);
            }
            Self::WrongChannel { expected, given } => {
                sel(I::WrongChannel::SELECTOR);
                out.word(expected).word(given);
            }
            Self::StateTooLarge(size) => {
                sel(I::StateTooLarge::SELECTOR);
                out.uint(*size as u64).uint(MAX_DATA_LEN as u64);
            }
            Self::InvalidSignaturesLength { length, participants } => {
                sel(I::InvalidSignaturesLength::SELECTOR);
                out.uint(*length as u64).uint(*participants as u64);
            }
            Self::InvalidSignature(i) => {
                sel(I::InvalidSignature::SELECTOR);
                out.uint(*i as u64);
            }
            Self::InvalidChallengerSignature => sel(I::InvalidChallengerSignature::SELECTOR),
            Self::NotParticipant(who) => {
                sel(I::NotParticipant::SELECTOR);
                out.addr(who);
            }
            Self::StaleVersion { stored, given } => {
                sel(I::StaleVersion::SELECTOR);
                out.uint(*stored).uint(*given);
            }
            Self::ChannelExists(id) => {
                sel(I::ChannelExists::SELECTOR);
                out.word(id);
            }
            Self::ChannelFinal(id) => {
                sel(I::ChannelFinal::SELECTOR);
                out.word(id);
            }
            Self::ChallengeInProgress { id, finalizes_at } => {
                sel(I::ChallengeInProgress::SELECTOR);
                out.word(id).uint(*finalizes_at);
            }
            Self::NotFinalState => sel(I::NotFinalState::SELECTOR),
            Self::ChannelNotFinal(id) => {
                sel(I::ChannelNotFinal::SELECTOR);
                out.word(id);
            }
        }
        out
    }
}

/// The packed word of a channel, decoded.
#[derive(Clone, Copy)]
struct Meta {
    version: u64,
    finalizes_at: u64,
    flags: u8,
}

impl Meta {
    fn decode(word: B256) -> Self {
        let w = word.0;
        let mut version = [0u8; 8];
        let mut finalizes_at = [0u8; 8];
        version.copy_from_slice(&w[..8]);
        finalizes_at.copy_from_slice(&w[8..16]);
        Self { version: u64::from_be_bytes(version), finalizes_at: u64::from_be_bytes(finalizes_at), flags: w[16] }
    }

    fn encode(&self) -> B256 {
        let mut w = [0u8; 32];
        w[..8].copy_from_slice(&self.version.to_be_bytes());
        w[8..16].copy_from_slice(&self.finalizes_at.to_be_bytes());
        w[16] = self.flags;
        B256::new(w)
    }

    fn exists(&self) -> bool {
        self.flags & EXISTS != 0
    }

    fn phase(&self, now: u64) -> u8 {
        if !self.exists() {
            phase::NONE
        } else if self.flags & CONCLUDED != 0 || (self.finalizes_at != 0 && now >= self.finalizes_at) {
            phase::FINAL
        } else if self.finalizes_at != 0 {
            phase::CHALLENGE
        } else {
            phase::OPEN
        }
    }
}

/// The slot of a channel's packed word: `keccak256(id ‖ 0)`, a Solidity mapping at slot 0; its
/// data hash is in the next slot.
fn meta_slot(id: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(id.as_slice());
    keccak256(buf)
}

fn data_slot(meta: &B256) -> B256 {
    let mut next = meta.0;
    // +1 with carry, as the SDK's slot arithmetic does.
    for b in next.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    B256::new(next)
}

/// The judge over one host, for one call.
struct Judge<'h, H: Host> {
    host: &'h mut H,
}

/// What the checks of a fully signed state established.
struct Verified {
    id: B256,
    slot: B256,
    meta: Meta,
    phase: u8,
    data_hash: B256,
    domain: B256,
}

impl<H: Host> Judge<'_, H> {
    fn domain(&mut self) -> Domain {
        Domain::new(self.host.chain_id(), self.host.this())
    }

    /// The signer of `digest`, or `None` for a malformed, high-s or unrecoverable signature.
    fn recover(&mut self, digest: &B256, sig: &[u8]) -> Option<Address> {
        let sig = Signature::parse(sig).ok()?;
        let out = self.host.ecrecover(&sig.ecrecover_input(digest))?;
        let who = Address::from_slice(&out[12..]);
        (!who.is_zero()).then_some(who)
    }

    /// Every check of a fully signed state for `params`, in the order of their cost.
    fn verify(&mut self, params: &Params, state: &StateArg<'_>, sigs: &[u8]) -> Result<Verified, JudgeError> {
        let domain = self.domain();
        let id = channel_id_of(
            domain.chain_id,
            domain.judge,
            &params.participants,
            params.nonce,
            params.challenge_duration,
            params.executive,
        );
        if state.channel_id != id {
            return Err(JudgeError::WrongChannel { expected: id, given: state.channel_id });
        }
        if state.data.len() > MAX_DATA_LEN {
            return Err(JudgeError::StateTooLarge(state.data.len()));
        }
        let slot = meta_slot(&id);
        let meta = Meta::decode(self.host.load(&slot));
        let phase = meta.phase(self.host.timestamp());
        if phase == phase::FINAL {
            return Err(JudgeError::ChannelFinal(id));
        }
        if !meta.exists() {
            validate_params(&params.participants, params.challenge_duration)?;
        }
        let n = params.participants.len();
        let parts =
            split(sigs, n).ok_or(JudgeError::InvalidSignaturesLength { length: sigs.len(), participants: n })?;
        let separator = domain.separator();
        let data_hash = keccak256(state.data);
        let digest = signing_hash(&separator, &state_hash_of(&id, state.version, &data_hash, state.is_final));
        for (i, (sig, who)) in parts.zip(params.participants.iter()).enumerate() {
            if self.recover(&digest, sig) != Some(*who) {
                return Err(JudgeError::InvalidSignature(i));
            }
        }
        Ok(Verified { id, slot, meta, phase, data_hash, domain: separator })
    }

    fn store(&mut self, v: &Verified, meta: Meta) {
        self.host.store(&v.slot, &meta.encode());
        self.host.store(&data_slot(&v.slot), &v.data_hash);
    }

    /// Emits an event whose data is `head` words followed by one `bytes` (`data`), with topics
    /// `topics`: the ABI encoding of `(head..., bytes)` with the offset word in place.
    fn log_with_data(&mut self, topics: &[&B256], head: &[u64], data: &[u8]) {
        let padded = data.len().div_ceil(32) * 32;
        let mut rec = Vec::with_capacity(32 * (topics.len() + head.len() + 2) + padded);
        for t in topics {
            rec.word(t);
        }
        for h in head {
            rec.uint(*h);
        }
        rec.uint(32 * (head.len() as u64 + 1)).uint(data.len() as u64);
        rec.extend_from_slice(data);
        rec.resize(rec.len() + padded - data.len(), 0);
        self.host.log(&rec, topics.len());
    }

    fn open(&mut self, a: &Args<'_>) -> Result<(), JudgeError> {
        let (p, s, sigs) = a.params_state_sigs()?;
        let v = self.verify(&p, &s, sigs)?;
        if v.meta.exists() {
            return Err(JudgeError::ChannelExists(v.id));
        }
        self.store(&v, Meta { version: s.version, finalizes_at: 0, flags: EXISTS });
        // ChannelOpened(id indexed, address[] participants, nonce, challengeDuration, executive)
        let n = p.participants.len();
        let mut rec = Vec::with_capacity(32 * (7 + n));
        rec.word(&I::ChannelOpened::SIGNATURE_HASH).word(&v.id);
        rec.uint(4 * 32).uint(p.nonce).uint(p.challenge_duration).addr(&p.executive).uint(n as u64);
        for who in &p.participants {
            rec.addr(who);
        }
        self.host.log(&rec, 2);
        self.log_with_data(&[&I::StateCheckpointed::SIGNATURE_HASH, &v.id], &[s.version], s.data);
        Ok(())
    }

    fn checkpoint(&mut self, a: &Args<'_>) -> Result<(), JudgeError> {
        let (p, s, sigs) = a.params_state_sigs()?;
        let v = self.verify(&p, &s, sigs)?;
        if v.meta.exists() {
            if s.version < v.meta.version {
                return Err(JudgeError::StaleVersion { stored: v.meta.version, given: s.version });
            }
            if s.version == v.meta.version {
                return Ok(());
            }
        }
        self.store(&v, Meta { version: s.version, finalizes_at: v.meta.finalizes_at, flags: v.meta.flags | EXISTS });
        self.log_with_data(&[&I::StateCheckpointed::SIGNATURE_HASH, &v.id], &[s.version], s.data);
        Ok(())
    }

    fn challenge(&mut self, a: &Args<'_>) -> Result<(), JudgeError> {
        let (p, s, sigs, challenger_sig) = a.challenge()?;
        let v = self.verify(&p, &s, sigs)?;
        if v.phase == phase::CHALLENGE {
            return Err(JudgeError::ChallengeInProgress { id: v.id, finalizes_at: v.meta.finalizes_at });
        }
        if v.meta.exists() && s.version < v.meta.version {
            return Err(JudgeError::StaleVersion { stored: v.meta.version, given: s.version });
        }
        let digest = signing_hash(&v.domain, &challenge_hash(&v.id, s.version));
        let challenger = self.recover(&digest, challenger_sig).ok_or(JudgeError::InvalidChallengerSignature)?;
        if !p.participants.contains(&challenger) {
            return Err(JudgeError::NotParticipant(challenger));
        }
        let finalizes_at = self.host.timestamp().saturating_add(p.challenge_duration);
        self.store(&v, Meta { version: s.version, finalizes_at, flags: v.meta.flags | EXISTS });
        let who = challenger.into_word();
        self.log_with_data(&[&I::ChallengeStarted::SIGNATURE_HASH, &v.id, &who], &[s.version, finalizes_at], s.data);
        Ok(())
    }

    fn conclude(&mut self, a: &Args<'_>) -> Result<(), JudgeError> {
        let (p, s, sigs) = a.params_state_sigs()?;
        if !s.is_final {
            return Err(JudgeError::NotFinalState);
        }
        let v = self.verify(&p, &s, sigs)?;
        if v.meta.exists() && s.version < v.meta.version {
            return Err(JudgeError::StaleVersion { stored: v.meta.version, given: s.version });
        }
        let flags = v.meta.flags | EXISTS | CONCLUDED;
        self.store(&v, Meta { version: s.version, finalizes_at: v.meta.finalizes_at, flags });
        self.log_with_data(&[&I::ChannelConcluded::SIGNATURE_HASH, &v.id], &[s.version], s.data);
        Ok(())
    }

    /// `(meta, slot)` of a channel.
    fn meta(&mut self, id: &B256) -> (Meta, B256) {
        let slot = meta_slot(id);
        (Meta::decode(self.host.load(&slot)), slot)
    }

    fn status(&mut self, id: &B256) -> Vec<u8> {
        let (meta, slot) = self.meta(id);
        let phase = meta.phase(self.host.timestamp());
        let data_hash = self.host.load(&data_slot(&slot));
        let mut out = Vec::with_capacity(128);
        out.uint(phase as u64).uint(meta.version).uint(meta.finalizes_at).word(&data_hash);
        out
    }

    fn final_state(&mut self, id: &B256) -> Result<Vec<u8>, JudgeError> {
        let (meta, slot) = self.meta(id);
        if meta.phase(self.host.timestamp()) != phase::FINAL {
            return Err(JudgeError::ChannelNotFinal(*id));
        }
        let data_hash = self.host.load(&data_slot(&slot));
        let mut out = Vec::with_capacity(64);
        out.uint(meta.version).word(&data_hash);
        Ok(out)
    }
}

/// One call to the judge: `input` is the whole calldata; `Ok` is the return data, `Err` the
/// revert data. The host keeps the stores and logs of a call that returns `Ok` only.
///
/// # Errors
/// Each function's Solidity errors (see [`JudgeError`]); no data for malformed calldata, an
/// unknown selector or a call with value.
///
/// # Events
/// `open`: `ChannelOpened`, `StateCheckpointed`; `checkpoint` with a newer version:
/// `StateCheckpointed`; `challenge`: `ChallengeStarted`; `conclude`: `ChannelConcluded`.
pub fn run<H: Host>(host: &mut H, input: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    dispatch(&mut Judge { host }, input).map_err(|e| e.encode())
}

fn dispatch<H: Host>(j: &mut Judge<'_, H>, input: &[u8]) -> Result<Vec<u8>, JudgeError> {
    if input.len() < 4 || !j.host.no_value() {
        return Err(JudgeError::Unsupported);
    }
    let mut selector = [0u8; 4];
    selector.copy_from_slice(&input[..4]);
    let a = Args::new(&input[4..]);
    let done = |r: Result<(), JudgeError>| r.map(|()| Vec::new());
    match selector {
        I::checkpointCall::SELECTOR => done(j.checkpoint(&a)),
        I::statusCall::SELECTOR => Ok(j.status(&a.word(0)?)),
        I::finalStateCall::SELECTOR => j.final_state(&a.word(0)?),
        I::challengeCall::SELECTOR => done(j.challenge(&a)),
        I::concludeCall::SELECTOR => done(j.conclude(&a)),
        I::openCall::SELECTOR => done(j.open(&a)),
        I::channelIdCall::SELECTOR => {
            let p = a.params_only()?;
            let d = j.domain();
            let id = channel_id_of(d.chain_id, d.judge, &p.participants, p.nonce, p.challenge_duration, p.executive);
            Ok(id.to_vec())
        }
        I::domainSeparatorCall::SELECTOR => Ok(j.domain().separator().to_vec()),
        _ => Err(JudgeError::Unsupported),
    }
}

/// The selectors the judge answers, in the order `dispatch` tries them.
pub const SELECTORS: [[u8; 4]; 8] = [
    I::checkpointCall::SELECTOR,
    I::statusCall::SELECTOR,
    I::finalStateCall::SELECTOR,
    I::challengeCall::SELECTOR,
    I::concludeCall::SELECTOR,
    I::openCall::SELECTOR,
    I::channelIdCall::SELECTOR,
    I::domainSeparatorCall::SELECTOR,
];

/// The committed Solidity interface this program implements (printed by the `export-abi` build).
pub const INTERFACE: &str = include_str!("../../codec/sol/IAvocadoJudge.sol");
