//! The Avocado payment escrow: an executive contract of the judge.
//!
//! Participants deposit ETH for a channel whose `ChannelParams.executive` is this contract. The
//! channel's state `data` is `abi.encode(Account[])`, one `(balance, counted)` per participant
//! (see `avocado_codec::payment`). Once the judge reports the channel Final, anyone submits the
//! final `data`; the escrow checks it against the judge's `finalState` hash, credits each
//! participant, and each withdraws (pull payments: the only ETH transfer is to the caller of
//! `withdraw`, after its credit is zeroed, and reentrant calls are refused).
//!
//! # The judge is an argument
//! Every call names the judge. The channel id commits to the judge's address (and the chain id),
//! so naming another judge names another channel — one with no deposits. The escrow needs no
//! initialisation and trusts no address it was given at deployment.
//!
//! # Deposits the final state does not count
//! A deposit reaches the escrow before the others agree to count it, and they may never agree.
//! Each participant is paid `balance + deposited - counted`: its balance, plus its *own* deposits
//! the state did not count. The state must be balanced (`Σ balance = Σ counted`) and count no more
//! than each participant deposited, so the credits add up to the deposits to the wei, and nobody's
//! uncounted deposit can be credited to another.
//!
//! # Deposits during a dispute
//! Refused: once a dispute runs, no new state can count a deposit (the judge takes only states
//! signed already), so the money could only come back as a refund — the escrow says so instead.
//!
//! # No SDK router
//! As the judge: [`run`] behind a hand-written `user_entrypoint` on Nitro's `vm_hooks` (module
//! `wasm`), calldata decoded strictly for exactly these shapes (`avocado_codec::calldata`),
//! errors, events and the calls to the judge encoded by hand from the constants of the committed
//! interfaces. Like the SDK's entrypoint it refuses reentrant calls and value sent to a
//! non-payable function; storage keeps the SDK's layout (`mapping`s at slots 0 to 3).
#![no_std]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

#[cfg(target_arch = "wasm32")]
mod wasm;

use alloc::vec::Vec;

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::{SolCall, SolError, SolEvent};
use avocado_codec::{
    calldata::{Args, Malformed, Params},
    channel::channel_id_of,
    payment::{decode_accounts, payouts, IAvocadoEscrow as E, PaymentError},
    phase, IAvocadoJudge as J,
};

/// What the escrow needs from the chain: Nitro's hostios in the program, a model of them in tests.
pub trait Host {
    /// `SLOAD`.
    fn load(&mut self, key: &B256) -> B256;
    /// `SSTORE`: later loads see it; the chain keeps it only if the call succeeds.
    fn store(&mut self, key: &B256, value: &B256);
    /// `block.chainid`.
    fn chain_id(&mut self) -> u64;
    /// `address(this)`.
    fn this(&mut self) -> Address;
    /// `msg.sender`.
    fn sender(&mut self) -> Address;
    /// `msg.value`.
    fn value(&mut self) -> U256;
    /// A static call: its return data, or `None` if it reverted.
    fn static_call(&mut self, to: &Address, calldata: &[u8]) -> Option<Vec<u8>>;
    /// A call sending `value` with no calldata, after the stores so far are committed; whether
    /// it succeeded.
    fn pay(&mut self, to: &Address, value: &U256) -> bool;
    /// `LOG{topics}`: `record` is the topics, 32 bytes each, followed by the data.
    fn log(&mut self, record: &[u8], topics: usize);
}

/// Every way a call fails. Each reverts with the Solidity error of the same name
/// (`codec/sol/IAvocadoEscrow.sol`), except [`EscrowError::Malformed`] and
/// [`EscrowError::Unsupported`], which revert with no data, as Solidity does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscrowError {
    /// Calldata that is not a strict ABI encoding of the function's arguments.
    Malformed,
    /// An unknown selector, or value sent to a non-payable function.
    Unsupported,
    /// The channel names another executive contract.
    NotExecutive(Address),
    /// Only a participant may deposit.
    NotParticipant(Address),
    /// A deposit of nothing.
    ZeroDeposit,
    /// The channel is final: no more deposits.
    ChannelIsFinal(B256),
    /// A dispute runs: no more deposits.
    ChannelInDispute(B256),
    /// The judge does not report the channel final.
    ChannelNotFinal(B256),
    /// Settled already.
    AlreadySettled(B256),
    /// The data is not the final state's.
    DataMismatch {
        /// The judge's `dataHash`.
        expected: B256,
        /// `keccak256(data)`.
        given: B256,
    },
    /// The data is not one account per participant.
    MalformedBalances,
    /// The balances do not add up to the counted deposits.
    Unbalanced {
        /// Σ balance.
        balances: U256,
        /// Σ counted.
        counted: U256,
    },
    /// A count exceeds its participant's deposits.
    CountExceedsDeposit {
        /// The participant.
        participant: Address,
        /// Counted.
        counted: U256,
        /// Deposited.
        deposited: U256,
    },
    /// No credit.
    NothingToWithdraw,
    /// The transfer failed.
    TransferFailed,
}

impl From<Malformed> for EscrowError {
    fn from(_: Malformed) -> Self {
        Self::Malformed
    }
}

/// ABI words appended to a buffer.
trait Words {
    fn word(&mut self, w: &[u8; 32]) -> &mut Self;
    fn addr(&mut self, a: &Address) -> &mut Self;
}

impl Words for Vec<u8> {
    fn word(&mut self, w: &[u8; 32]) -> &mut Self {
        self.extend_from_slice(w);
        self
    }
    fn addr(&mut self, a: &Address) -> &mut Self {
        self.extend_from_slice(&[0u8; 12]);
        self.extend_from_slice(a.as_slice());
        self
    }
}

fn uint(v: &U256) -> [u8; 32] {
    v.to_be_bytes::<32>()
}

impl EscrowError {
    /// The revert data: the error's selector and its arguments, ABI-encoded (all are static).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 96);
        let mut sel = |s: [u8; 4]| out.extend_from_slice(&s);
        match self {
            Self::Malformed | Self::Unsupported => {}
            Self::NotExecutive(a) => {
                sel(E::NotExecutive::SELECTOR);
                out.addr(a);
            }
            Self::NotParticipant(a) => {
                sel(E::NotParticipant::SELECTOR);
                out.addr(a);
            }
            Self::ZeroDeposit => sel(E::ZeroDeposit::SELECTOR),
            Self::ChannelIsFinal(id) => {
                sel(E::ChannelIsFinal::SELECTOR);
                out.word(&id.0);
            }
            Self::ChannelInDispute(id) => {
                sel(E::ChannelInDispute::SELECTOR);
                out.word(&id.0);
            }
            Self::ChannelNotFinal(id) => {
                sel(E::ChannelNotFinal::SELECTOR);
                out.word(&id.0);
            }
            Self::AlreadySettled(id) => {
                sel(E::AlreadySettled::SELECTOR);
                out.word(&id.0);
            }
            Self::DataMismatch { expected, given } => {
                sel(E::DataMismatch::SELECTOR);
                out.word(&expected.0).word(&given.0);
            }
            Self::MalformedBalances => sel(E::MalformedBalances::SELECTOR),
            Self::Unbalanced { balances, counted } => {
                sel(E::Unbalanced::SELECTOR);
                out.word(&uint(balances)).word(&uint(counted));
            }
            Self::CountExceedsDeposit { participant, counted, deposited } => {
                sel(E::CountExceedsDeposit::SELECTOR);
                out.addr(participant).word(&uint(counted)).word(&uint(deposited));
            }
            Self::NothingToWithdraw => sel(E::NothingToWithdraw::SELECTOR),
            Self::TransferFailed => sel(E::TransferFailed::SELECTOR),
        }
        out
    }
}

/// `keccak256(key ‖ slot)`: the slot of `mapping[key]` for a mapping at `slot`.
fn map_slot(key: &[u8; 32], slot: &[u8; 32]) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(key);
    buf[32..].copy_from_slice(slot);
    keccak256(buf)
}

fn root(n: u8) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[31] = n;
    w
}

fn addr_key(a: &Address) -> [u8; 32] {
    a.into_word().0
}

/// `deposits[id][who]` (slot 0).
fn deposit_slot(id: &B256, who: &Address) -> B256 {
    map_slot(&addr_key(who), &map_slot(&id.0, &root(0)).0)
}

/// `totals[id]` (slot 1).
fn total_slot(id: &B256) -> B256 {
    map_slot(&id.0, &root(1))
}

/// `settled[id]` (slot 2): a bool in the slot's last byte.
fn settled_slot(id: &B256) -> B256 {
    map_slot(&id.0, &root(2))
}

/// `credits[who]` (slot 3).
fn credit_slot(who: &Address) -> B256 {
    map_slot(&addr_key(who), &root(3))
}

/// The escrow over one host, for one call.
struct Escrow<'h, H: Host> {
    host: &'h mut H,
}

impl<H: Host> Escrow<'_, H> {
    fn get(&mut self, slot: &B256) -> U256 {
        U256::from_be_bytes(self.host.load(slot).0)
    }

    fn set(&mut self, slot: &B256, v: U256) {
        self.host.store(slot, &B256::new(v.to_be_bytes::<32>()));
    }

    fn settled(&mut self, id: &B256) -> bool {
        self.host.load(&settled_slot(id)).0[31] != 0
    }

    /// The channel id of `params` under `judge`, after checking that this escrow is its executive.
    fn channel(&mut self, judge: &Address, p: &Params) -> Result<B256, EscrowError> {
        if p.executive != self.host.this() {
            return Err(EscrowError::NotExecutive(p.executive));
        }
        let chain_id = self.host.chain_id();
        Ok(channel_id_of(chain_id, *judge, &p.participants, p.nonce, p.challenge_duration, p.executive))
    }

    /// A view of the judge taking the channel id; its return data, or `None` if it reverted.
    fn ask_judge(&mut self, judge: &Address, selector: [u8; 4], id: &B256) -> Option<Vec<u8>> {
        let mut call = Vec::with_capacity(36);
        call.extend_from_slice(&selector);
        call.word(&id.0);
        self.host.static_call(judge, &call)
    }

    fn deposit(&mut self, a: &Args<'_>) -> Result<(), EscrowError> {
        let (judge, p) = (a.address(0)?, a.params(32)?);
        let id = self.channel(&judge, &p)?;
        let sender = self.host.sender();
        if !p.participants.contains(&sender) {
            return Err(EscrowError::NotParticipant(sender));
        }
        let amount = self.host.value();
        if amount.is_zero() {
            return Err(EscrowError::ZeroDeposit);
        }
        // `status` returns (uint8 phase, uint64, uint64, bytes32); anything else reads as None.
        let judged = self
            .ask_judge(&judge, J::statusCall::SELECTOR, &id)
            .filter(|out| out.len() >= 128 && out[..31].iter().all(|b| *b == 0))
            .map_or(phase::NONE, |out| out[31]);
        if judged == phase::FINAL || self.settled(&id) {
            return Err(EscrowError::ChannelIsFinal(id));
        }
        if judged == phase::CHALLENGE {
            return Err(EscrowError::ChannelInDispute(id));
        }
        let mine = deposit_slot(&id, &sender);
        let now = self.get(&mine) + amount;
        self.set(&mine, now);
        let totals = total_slot(&id);
        let total = self.get(&totals) + amount;
        self.set(&totals, total);
        let mut rec = Vec::with_capacity(160);
        rec.word(&E::Deposited::SIGNATURE_HASH.0).word(&id.0).addr(&sender).word(&uint(&amount)).word(&uint(&total));
        self.host.log(&rec, 3);
        Ok(())
    }

    fn settle(&mut self, a: &Args<'_>) -> Result<(), EscrowError> {
        let (judge, p, data) = (a.address(0)?, a.params(32)?, a.bytes(0, 64)?);
        let id = self.channel(&judge, &p)?;
        if self.settled(&id) {
            return Err(EscrowError::AlreadySettled(id));
        }
        // `finalState` returns (uint64 version, bytes32 dataHash).
        let out = self
            .ask_judge(&judge, J::finalStateCall::SELECTOR, &id)
            .filter(|out| out.len() >= 64)
            .ok_or(EscrowError::ChannelNotFinal(id))?;
        let version = Args::new(&out).uint64(0).map_err(|_| EscrowError::ChannelNotFinal(id))?;
        let expected = B256::from_slice(&out[32..64]);
        let given = keccak256(data);
        if given != expected {
            return Err(EscrowError::DataMismatch { expected, given });
        }
        let accounts = decode_accounts(data, p.participants.len()).ok_or(EscrowError::MalformedBalances)?;
        let deposited: Vec<U256> = p.participants.iter().map(|who| self.get(&deposit_slot(&id, who))).collect();
        let credits = payouts(&accounts, &deposited).map_err(|e| match e {
            PaymentError::Unbalanced { balances, counted } => EscrowError::Unbalanced { balances, counted },
            PaymentError::CountExceedsDeposit { participant, counted, deposited } => {
                EscrowError::CountExceedsDeposit { participant: p.participants[participant], counted, deposited }
            }
            _ => EscrowError::MalformedBalances,
        })?;
        self.host.store(&settled_slot(&id), &B256::with_last_byte(1));
        // Σ counted = Σ balance ≤ Σ deposited, checked above: neither sum overflows.
        let paid = accounts.iter().fold(U256::ZERO, |acc, x| acc + x.balance);
        let refunded = self.get(&total_slot(&id)) - paid;
        for (who, credit) in p.participants.iter().zip(credits) {
            if !credit.is_zero() {
                let slot = credit_slot(who);
                let now = self.get(&slot) + credit;
                self.set(&slot, now);
            }
        }
        let mut rec = Vec::with_capacity(160);
        rec.word(&E::Settled::SIGNATURE_HASH.0).word(&id.0);
        rec.word(&uint(&U256::from(version))).word(&uint(&paid)).word(&uint(&refunded));
        self.host.log(&rec, 2);
        Ok(())
    }

    fn withdraw(&mut self) -> Result<(), EscrowError> {
        let who = self.host.sender();
        let slot = credit_slot(&who);
        let amount = self.get(&slot);
        if amount.is_zero() {
            return Err(EscrowError::NothingToWithdraw);
        }
        // Effects before the interaction.
        self.set(&slot, U256::ZERO);
        if !self.host.pay(&who, &amount) {
            return Err(EscrowError::TransferFailed);
        }
        let mut rec = Vec::with_capacity(96);
        rec.word(&E::Withdrawn::SIGNATURE_HASH.0).addr(&who).word(&uint(&amount));
        self.host.log(&rec, 2);
        Ok(())
    }
}

/// One call to the escrow: `input` is the whole calldata; `Ok` is the return data, `Err` the
/// revert data. The host keeps the stores and logs of a call that returns `Ok` only.
///
/// # Errors
/// Each function's Solidity errors (see [`EscrowError`]); no data for malformed calldata, an
/// unknown selector or value sent to a function other than `deposit`.
///
/// # Events
/// `deposit`: `Deposited`; `settle`: `Settled`; `withdraw`: `Withdrawn`.
pub fn run<H: Host>(host: &mut H, input: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    dispatch(&mut Escrow { host }, input).map_err(|e| e.encode())
}

fn dispatch<H: Host>(e: &mut Escrow<'_, H>, input: &[u8]) -> Result<Vec<u8>, EscrowError> {
    if input.len() < 4 {
        return Err(EscrowError::Unsupported);
    }
    let mut selector = [0u8; 4];
    selector.copy_from_slice(&input[..4]);
    let a = Args::new(&input[4..]);
    if selector != E::depositCall::SELECTOR && !e.host.value().is_zero() {
        return Err(EscrowError::Unsupported);
    }
    let word = |v: U256| Ok(uint(&v).to_vec());
    match selector {
        E::depositCall::SELECTOR => e.deposit(&a).map(|()| Vec::new()),
        E::settleCall::SELECTOR => e.settle(&a).map(|()| Vec::new()),
        E::withdrawCall::SELECTOR => e.withdraw().map(|()| Vec::new()),
        E::depositedCall::SELECTOR => {
            let (id, who) = (a.word(0)?, a.address(32)?);
            word(e.get(&deposit_slot(&id, &who)))
        }
        E::totalDepositsCall::SELECTOR => {
            let id = a.word(0)?;
            word(e.get(&total_slot(&id)))
        }
        E::isSettledCall::SELECTOR => {
            let id = a.word(0)?;
            let settled = e.settled(&id);
            word(U256::from(settled as u8))
        }
        E::creditCall::SELECTOR => {
            let who = a.address(0)?;
            word(e.get(&credit_slot(&who)))
        }
        _ => Err(EscrowError::Unsupported),
    }
}

/// The selectors the escrow answers.
pub const SELECTORS: [[u8; 4]; 7] = [
    E::depositCall::SELECTOR,
    E::settleCall::SELECTOR,
    E::withdrawCall::SELECTOR,
    E::depositedCall::SELECTOR,
    E::totalDepositsCall::SELECTOR,
    E::isSettledCall::SELECTOR,
    E::creditCall::SELECTOR,
];

/// The committed Solidity interface this program implements (printed by the `export-abi` build).
pub const INTERFACE: &str = include_str!("../../codec/sol/IAvocadoEscrow.sol");
