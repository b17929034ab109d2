//! The Avocado judge: a Stylus contract that reports the latest fully signed state of each
//! channel and runs the dispute clock.
//!
//! It is an oracle. It holds no funds and calls nothing but the ecrecover precompile; an
//! executive contract (an escrow, a game) reads [`Judge::final_state`] to act. Everything it
//! hashes comes from `avocado-codec`, so the client signs exactly what the judge checks.
//!
//! # Storage: two slots per channel
//! `channels[id]` is a [`ChannelSlots`]: one packed word (`version`, `finalizesAt`, flags) and
//! the `keccak256` of the stored state's data. The data itself lives in calldata and in events,
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
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(not(any(test, feature = "export-abi")), no_std, allow(missing_docs))] // SDK-generated `user_entrypoint`

#[macro_use]
extern crate alloc;

use alloc::vec::Vec;

use alloy_primitives::{address, Address, B256};
use avocado_codec::{
    channel::{channel_id_of, validate_params, ParamsError},
    eip712::{challenge_hash, signing_hash, state_hash, Domain},
    limits::MAX_DATA_LEN,
    phase,
    signature::{split, Signature},
    IAvocadoJudge as I,
};
use stylus_sdk::{
    abi::Bytes,
    prelude::*,
    storage::{StorageB256, StorageMap},
};

/// `ChannelParams` as it arrives in calldata: `(participants, nonce, challengeDuration, executive)`.
pub type ParamsArg = (Vec<Address>, u64, u64, Address);
/// `State` as it arrives in calldata: `(channelId, version, data, isFinal)`.
pub type StateArg = (B256, u64, Bytes, bool);

const ECRECOVER: Address = address!("0000000000000000000000000000000000000001");

/// Flag bits of the packed word.
const EXISTS: u8 = 1;
const CONCLUDED: u8 = 2;

/// Every way a call to the judge fails; each reverts with the Solidity error of the same name.
#[derive(SolidityError)]
pub enum JudgeError {
    /// `participants.length` is outside 2..=255.
    InvalidParticipantCount(I::InvalidParticipantCount),
    /// A participant is zero or repeated.
    InvalidParticipant(I::InvalidParticipant),
    /// `challengeDuration` is zero or over ten years.
    InvalidChallengeDuration(I::InvalidChallengeDuration),
    /// `state.channelId` is not the id of `params` here.
    WrongChannel(I::WrongChannel),
    /// `state.data` is over 16 KiB.
    StateTooLarge(I::StateTooLarge),
    /// `sigs` is not one 64- or 65-byte signature per participant.
    InvalidSignaturesLength(I::InvalidSignaturesLength),
    /// A participant's signature is bad.
    InvalidSignature(I::InvalidSignature),
    /// The challenger's signature is bad.
    InvalidChallengerSignature(I::InvalidChallengerSignature),
    /// The challenger is not a participant.
    NotParticipant(I::NotParticipant),
    /// The stored version is higher.
    StaleVersion(I::StaleVersion),
    /// `open` on a known channel.
    ChannelExists(I::ChannelExists),
    /// The channel is final.
    ChannelFinal(I::ChannelFinal),
    /// A dispute already runs.
    ChallengeInProgress(I::ChallengeInProgress),
    /// `conclude` with `isFinal == false`.
    NotFinalState(I::NotFinalState),
    /// `finalState` before the channel is final.
    ChannelNotFinal(I::ChannelNotFinal),
}

impl From<ParamsError> for JudgeError {
    fn from(e: ParamsError) -> Self {
        match e {
            ParamsError::ParticipantCount(n) => {
                Self::InvalidParticipantCount(I::InvalidParticipantCount { count: alloy_primitives::U256::from(n) })
            }
            ParamsError::Participant(i) => {
                Self::InvalidParticipant(I::InvalidParticipant { index: alloy_primitives::U256::from(i) })
            }
            ParamsError::ChallengeDuration(duration) => {
                Self::InvalidChallengeDuration(I::InvalidChallengeDuration { duration })
            }
        }
    }
}

/// The two storage slots of one channel.
#[storage]
pub struct ChannelSlots {
    /// `version` (bytes 0..8, big-endian) ‖ `finalizesAt` (8..16) ‖ flags (16); zero = never seen.
    meta: StorageB256,
    /// `keccak256(data)` of the stored state.
    data_hash: StorageB256,
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
        Self {
            version: u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
            finalizes_at: u64::from_be_bytes([w[8], w[9], w[10], w[11], w[12], w[13], w[14], w[15]]),
            flags: w[16],
        }
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

/// The judge's storage: channel id → its two slots.
#[storage]
#[entrypoint]
pub struct Judge {
    channels: StorageMap<B256, ChannelSlots>,
}

/// What the checks of a fully signed state established.
struct Verified {
    id: B256,
    meta: Meta,
    phase: u8,
    data_hash: B256,
}

impl Judge {
    fn domain(&self) -> Domain {
        Domain::new(self.vm().chain_id(), self.vm().contract_address())
    }

    /// The signer of `digest` according to the ecrecover precompile, or `None`.
    fn recover(&self, digest: &B256, sig: &[u8]) -> Option<Address> {
        let sig = Signature::parse(sig).ok()?;
        let input = sig.ecrecover_input(digest);
        let mut out_len = 0usize;
        // The raw hostio rather than the SDK's `RawCall`: it links only `static_call_contract`,
        // not every call kind. SAFETY: the pointers are to live buffers of the stated lengths,
        // and the precompile touches no storage of ours, so no cached slot can alias.
        let status = unsafe {
            self.vm().static_call_contract(ECRECOVER.as_ptr(), input.as_ptr(), input.len(), u64::MAX, &mut out_len)
        };
        if status != 0 || out_len != 32 {
            return None;
        }
        let out = self.vm().read_return_data(0, Some(32));
        let who = Address::from_slice(&out[12..]);
        (!who.is_zero()).then_some(who)
    }

    /// Every check of a fully signed state for `params`, in the order of their cost.
    fn verify(&self, params: &ParamsArg, state: &StateArg, sigs: &[u8]) -> Result<Verified, JudgeError> {
        let (participants, nonce, duration, executive) = params;
        let (given_id, version, data, is_final) = state;
        let domain = self.domain();
        let id = channel_id_of(domain.chain_id, domain.judge, participants, *nonce, *duration, *executive);
        if *given_id != id {
            return Err(JudgeError::WrongChannel(I::WrongChannel { expected: id, given: *given_id }));
        }
        if data.len() > MAX_DATA_LEN {
            return Err(JudgeError::StateTooLarge(I::StateTooLarge {
                size: alloy_primitives::U256::from(data.len()),
                limit: alloy_primitives::U256::from(MAX_DATA_LEN),
            }));
        }
        let meta = Meta::decode(self.channels.getter(id).meta.get());
        let now = self.vm().block_timestamp();
        let phase = meta.phase(now);
        if phase == phase::FINAL {
            return Err(JudgeError::ChannelFinal(I::ChannelFinal { channelId: id }));
        }
        if !meta.exists() {
            validate_params(participants, *duration)?;
        }
        let parts =
            split(sigs, participants.len()).ok_or(JudgeError::InvalidSignaturesLength(I::InvalidSignaturesLength {
                length: alloy_primitives::U256::from(sigs.len()),
                participants: alloy_primitives::U256::from(participants.len()),
            }))?;
        let digest = signing_hash(&domain.separator(), &state_hash(&id, *version, data, *is_final));
        for (i, (sig, who)) in parts.zip(participants.iter()).enumerate() {
            if self.recover(&digest, sig) != Some(*who) {
                return Err(JudgeError::InvalidSignature(I::InvalidSignature {
                    index: alloy_primitives::U256::from(i),
                }));
            }
        }
        Ok(Verified { id, meta, phase, data_hash: alloy_primitives::keccak256(data) })
    }

    fn store(&mut self, id: B256, meta: Meta, data_hash: B256) {
        let mut slots = self.channels.setter(id);
        slots.meta.set(meta.encode());
        slots.data_hash.set(data_hash);
    }
}

fn stale(stored: u64, given: u64) -> JudgeError {
    JudgeError::StaleVersion(I::StaleVersion { stored, given })
}

#[public]
impl Judge {
    /// Registers a channel with its fully signed initial state.
    pub fn open(&mut self, params: ParamsArg, state: StateArg, sigs: Bytes) -> Result<(), JudgeError> {
        let v = self.verify(&params, &state, &sigs)?;
        if v.meta.exists() {
            return Err(JudgeError::ChannelExists(I::ChannelExists { channelId: v.id }));
        }
        let (participants, nonce, challenge_duration, executive) = params;
        let (_, version, data, _) = state;
        self.store(v.id, Meta { version, finalizes_at: 0, flags: EXISTS }, v.data_hash);
        self.vm().log(I::ChannelOpened {
            channelId: v.id,
            participants,
            nonce,
            challengeDuration: challenge_duration,
            executive,
        });
        self.vm().log(I::StateCheckpointed { channelId: v.id, version, data });
        Ok(())
    }

    /// Stores a fully signed state newer than the stored one; the stored version is a no-op.
    pub fn checkpoint(&mut self, params: ParamsArg, state: StateArg, sigs: Bytes) -> Result<(), JudgeError> {
        let v = self.verify(&params, &state, &sigs)?;
        let (_, version, data, _) = state;
        if v.meta.exists() {
            if version < v.meta.version {
                return Err(stale(v.meta.version, version));
            }
            if version == v.meta.version {
                return Ok(());
            }
        }
        let meta = Meta { version, finalizes_at: v.meta.finalizes_at, flags: v.meta.flags | EXISTS };
        self.store(v.id, meta, v.data_hash);
        self.vm().log(I::StateCheckpointed { channelId: v.id, version, data });
        Ok(())
    }

    /// Starts the dispute clock with a fully signed state at least as new as the stored one.
    pub fn challenge(
        &mut self,
        params: ParamsArg,
        state: StateArg,
        sigs: Bytes,
        challenger_sig: Bytes,
    ) -> Result<(), JudgeError> {
        let v = self.verify(&params, &state, &sigs)?;
        if v.phase == phase::CHALLENGE {
            return Err(JudgeError::ChallengeInProgress(I::ChallengeInProgress {
                channelId: v.id,
                finalizesAt: v.meta.finalizes_at,
            }));
        }
        let (_, version, data, _) = state;
        if v.meta.exists() && version < v.meta.version {
            return Err(stale(v.meta.version, version));
        }
        let digest = signing_hash(&self.domain().separator(), &challenge_hash(&v.id, version));
        let challenger = self
            .recover(&digest, &challenger_sig)
            .ok_or(JudgeError::InvalidChallengerSignature(I::InvalidChallengerSignature {}))?;
        if !params.0.contains(&challenger) {
            return Err(JudgeError::NotParticipant(I::NotParticipant { signer: challenger }));
        }
        let finalizes_at = self.vm().block_timestamp().saturating_add(params.2);
        self.store(v.id, Meta { version, finalizes_at, flags: v.meta.flags | EXISTS }, v.data_hash);
        self.vm().log(I::ChallengeStarted { channelId: v.id, challenger, version, finalizesAt: finalizes_at, data });
        Ok(())
    }

    /// Cooperative close: a fully signed final state makes the channel Final at once.
    pub fn conclude(&mut self, params: ParamsArg, state: StateArg, sigs: Bytes) -> Result<(), JudgeError> {
        if !state.3 {
            return Err(JudgeError::NotFinalState(I::NotFinalState {}));
        }
        let v = self.verify(&params, &state, &sigs)?;
        let (_, version, data, _) = state;
        if v.meta.exists() && version < v.meta.version {
            return Err(stale(v.meta.version, version));
        }
        let meta = Meta { version, finalizes_at: v.meta.finalizes_at, flags: v.meta.flags | EXISTS | CONCLUDED };
        self.store(v.id, meta, v.data_hash);
        self.vm().log(I::ChannelConcluded { channelId: v.id, version, data });
        Ok(())
    }

    /// `(phase, version, finalizesAt, dataHash)` of a channel, with the phase read off the clock.
    pub fn status(&self, channel_id: B256) -> (u8, u64, u64, B256) {
        let slots = self.channels.getter(channel_id);
        let meta = Meta::decode(slots.meta.get());
        (meta.phase(self.vm().block_timestamp()), meta.version, meta.finalizes_at, slots.data_hash.get())
    }

    /// `(version, dataHash)` of the final state; reverts `ChannelNotFinal` before that.
    pub fn final_state(&self, channel_id: B256) -> Result<(u64, B256), JudgeError> {
        let slots = self.channels.getter(channel_id);
        let meta = Meta::decode(slots.meta.get());
        if meta.phase(self.vm().block_timestamp()) != phase::FINAL {
            return Err(JudgeError::ChannelNotFinal(I::ChannelNotFinal { channelId: channel_id }));
        }
        Ok((meta.version, slots.data_hash.get()))
    }

    /// The id of a channel with these terms on this chain and judge.
    pub fn channel_id(&self, params: ParamsArg) -> B256 {
        let d = self.domain();
        channel_id_of(d.chain_id, d.judge, &params.0, params.1, params.2, params.3)
    }

    /// The EIP-712 domain separator of this judge.
    pub fn domain_separator(&self) -> B256 {
        self.domain().separator()
    }
}
