//! The Avocado payment escrow: an executive contract of the judge.
//!
//! Participants deposit ETH for a channel whose `ChannelParams.executive` is this contract. The
//! channel's state `data` is `abi.encode(Account[])`, one `(balance, counted)` per participant
//! (see `avocado_codec::payment`). Once the judge reports the channel Final, anyone submits the
//! final `data`; the escrow checks it against the judge's `finalState` hash, credits each
//! participant, and each withdraws (pull payments: the only ETH transfer is to the caller of
//! `withdraw`, after its credit is zeroed, and the SDK refuses reentrant calls).
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
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]
#![cfg_attr(not(any(test, feature = "export-abi")), no_std, allow(missing_docs))] // SDK-generated `user_entrypoint`

#[macro_use]
extern crate alloc;

use alloc::vec::Vec;

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::SolCall;
use avocado_codec::{
    channel::channel_id_of,
    payment::{decode_accounts, payouts, IAvocadoEscrow as E, PaymentError},
    phase, IAvocadoJudge as J,
};
use stylus_sdk::{
    abi::Bytes,
    prelude::*,
    storage::{StorageBool, StorageMap, StorageU256},
};

/// `ChannelParams` as it arrives in calldata: `(participants, nonce, challengeDuration, executive)`.
pub type ParamsArg = (Vec<Address>, u64, u64, Address);

/// Every way a call fails; each reverts with the Solidity error of the same name.
#[derive(SolidityError)]
pub enum EscrowError {
    /// The channel names another executive contract.
    NotExecutive(E::NotExecutive),
    /// Only a participant may deposit.
    NotParticipant(E::NotParticipant),
    /// A deposit of nothing.
    ZeroDeposit(E::ZeroDeposit),
    /// The channel is final: no more deposits.
    ChannelIsFinal(E::ChannelIsFinal),
    /// A dispute runs: no more deposits.
    ChannelInDispute(E::ChannelInDispute),
    /// The judge does not report the channel final.
    ChannelNotFinal(E::ChannelNotFinal),
    /// Settled already.
    AlreadySettled(E::AlreadySettled),
    /// The data is not the final state's.
    DataMismatch(E::DataMismatch),
    /// The data is not one account per participant.
    MalformedBalances(E::MalformedBalances),
    /// The balances do not add up to the counted deposits.
    Unbalanced(E::Unbalanced),
    /// A count exceeds its participant's deposits.
    CountExceedsDeposit(E::CountExceedsDeposit),
    /// No credit.
    NothingToWithdraw(E::NothingToWithdraw),
    /// The transfer failed.
    TransferFailed(E::TransferFailed),
}

/// The escrow's storage.
#[storage]
#[entrypoint]
pub struct Escrow {
    /// channel → participant → deposited.
    deposits: StorageMap<B256, StorageMap<Address, StorageU256>>,
    /// channel → all its deposits.
    totals: StorageMap<B256, StorageU256>,
    /// channel → paid out.
    settled: StorageMap<B256, StorageBool>,
    /// account → withdrawable.
    credits: StorageMap<Address, StorageU256>,
}

impl Escrow {
    /// The channel id of `params` under `judge`, after checking that this escrow is its executive.
    fn channel(&self, judge: Address, params: &ParamsArg) -> Result<B256, EscrowError> {
        let (participants, nonce, duration, executive) = params;
        if *executive != self.vm().contract_address() {
            return Err(EscrowError::NotExecutive(E::NotExecutive { executive: *executive }));
        }
        Ok(channel_id_of(self.vm().chain_id(), judge, participants, *nonce, *duration, *executive))
    }

    /// A view call to the judge; `None` if it reverts or is not there.
    fn ask_judge(&self, judge: Address, calldata: &[u8]) -> Option<Vec<u8>> {
        let mut out_len = 0usize;
        // SAFETY: the pointers are to live buffers of the stated lengths; a static call cannot
        // write our storage, so no cached slot can alias.
        let status = unsafe {
            self.vm().static_call_contract(judge.as_ptr(), calldata.as_ptr(), calldata.len(), u64::MAX, &mut out_len)
        };
        (status == 0).then(|| self.vm().read_return_data(0, Some(out_len)))
    }

    fn credit_to(&mut self, who: Address, amount: U256) {
        let mut slot = self.credits.setter(who);
        let now = slot.get();
        slot.set(now + amount);
    }
}

#[public]
impl Escrow {
    /// Deposits `msg.value` for the channel; only a participant, while no dispute runs and before
    /// the channel is final.
    ///
    /// # Errors
    /// `NotExecutive`, `NotParticipant`, `ZeroDeposit`, `ChannelIsFinal` (final or settled),
    /// `ChannelInDispute`.
    ///
    /// # Events
    /// `Deposited`.
    #[payable]
    pub fn deposit(&mut self, judge: Address, params: ParamsArg) -> Result<(), EscrowError> {
        let id = self.channel(judge, &params)?;
        let sender = self.vm().msg_sender();
        if !params.0.contains(&sender) {
            return Err(EscrowError::NotParticipant(E::NotParticipant { account: sender }));
        }
        let amount = self.vm().msg_value();
        if amount.is_zero() {
            return Err(EscrowError::ZeroDeposit(E::ZeroDeposit {}));
        }
        let judged = self
            .ask_judge(judge, &J::statusCall { channelId: id }.abi_encode())
            .and_then(|out| J::statusCall::abi_decode_returns(&out).ok())
            .map_or(phase::NONE, |s| s.phase);
        if self.settled.get(id) || judged == phase::FINAL {
            return Err(EscrowError::ChannelIsFinal(E::ChannelIsFinal { channelId: id }));
        }
        if judged == phase::CHALLENGE {
            return Err(EscrowError::ChannelInDispute(E::ChannelInDispute { channelId: id }));
        }
        let mine = self.deposits.getter(id).get(sender) + amount;
        self.deposits.setter(id).setter(sender).set(mine);
        let total = self.totals.get(id) + amount;
        self.totals.setter(id).set(total);
        self.vm().log(E::Deposited { channelId: id, participant: sender, amount, total });
        Ok(())
    }

    /// Pays out the final state: credits each participant its balance plus its own deposits the
    /// state did not count.
    ///
    /// # Errors
    /// `NotExecutive`, `AlreadySettled`, `ChannelNotFinal`, `DataMismatch`, `MalformedBalances`,
    /// `Unbalanced`, `CountExceedsDeposit`; nothing is credited then.
    ///
    /// # Events
    /// `Settled`.
    pub fn settle(&mut self, judge: Address, params: ParamsArg, data: Bytes) -> Result<(), EscrowError> {
        let id = self.channel(judge, &params)?;
        if self.settled.get(id) {
            return Err(EscrowError::AlreadySettled(E::AlreadySettled { channelId: id }));
        }
        let (version, expected) = self
            .ask_judge(judge, &J::finalStateCall { channelId: id }.abi_encode())
            .and_then(|out| J::finalStateCall::abi_decode_returns(&out).ok())
            .map(|r| (r.version, r.dataHash))
            .ok_or(EscrowError::ChannelNotFinal(E::ChannelNotFinal { channelId: id }))?;
        let given = keccak256(&data);
        if given != expected {
            return Err(EscrowError::DataMismatch(E::DataMismatch { expected, given }));
        }
        let participants = &params.0;
        let accounts = decode_accounts(&data, participants.len())
            .ok_or(EscrowError::MalformedBalances(E::MalformedBalances {}))?;
        let deposited: Vec<U256> = participants.iter().map(|p| self.deposits.getter(id).get(*p)).collect();
        let credits = payouts(&accounts, &deposited).map_err(|e| match e {
            PaymentError::Unbalanced { balances, counted } => {
                EscrowError::Unbalanced(E::Unbalanced { balances, counted })
            }
            PaymentError::CountExceedsDeposit { participant, counted, deposited } => {
                EscrowError::CountExceedsDeposit(E::CountExceedsDeposit {
                    participant: participants[participant],
                    counted,
                    deposited,
                })
            }
            _ => EscrowError::MalformedBalances(E::MalformedBalances {}),
        })?;
        self.settled.setter(id).set(true);
        // Σ counted = Σ balance ≤ Σ deposited, checked above: neither sum overflows.
        let paid = accounts.iter().fold(U256::ZERO, |a, x| a + x.balance);
        let refunded = self.totals.get(id) - paid;
        for (who, credit) in participants.iter().zip(credits) {
            if !credit.is_zero() {
                self.credit_to(*who, credit);
            }
        }
        self.vm().log(E::Settled { channelId: id, version, paid, refunded });
        Ok(())
    }

    /// Sends the caller all its credit.
    pub fn withdraw(&mut self) -> Result<(), EscrowError> {
        let who = self.vm().msg_sender();
        let amount = self.credits.get(who);
        if amount.is_zero() {
            return Err(EscrowError::NothingToWithdraw(E::NothingToWithdraw {}));
        }
        // Effects before the interaction.
        self.credits.setter(who).set(U256::ZERO);
        let value = amount.to_be_bytes::<32>();
        let mut out_len = 0usize;
        // SAFETY: live buffers of the stated lengths; the storage cache is flushed by the SDK
        // before a call that may observe it.
        let status = unsafe {
            self.vm().flush_cache(false);
            self.vm().call_contract(who.as_ptr(), [].as_ptr(), 0, value.as_ptr(), u64::MAX, &mut out_len)
        };
        if status != 0 {
            return Err(EscrowError::TransferFailed(E::TransferFailed {}));
        }
        self.vm().log(E::Withdrawn { account: who, amount });
        Ok(())
    }

    /// What `participant` deposited for `channel_id`.
    pub fn deposited(&self, channel_id: B256, participant: Address) -> U256 {
        self.deposits.getter(channel_id).get(participant)
    }

    /// The channel's deposits.
    pub fn total_deposits(&self, channel_id: B256) -> U256 {
        self.totals.get(channel_id)
    }

    /// Whether the channel was settled.
    pub fn is_settled(&self, channel_id: B256) -> bool {
        self.settled.get(channel_id)
    }

    /// What `account` may withdraw.
    pub fn credit(&self, account: Address) -> U256 {
        self.credits.get(account)
    }
}
