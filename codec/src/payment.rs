//! The payment channel's state, its rules and its settlement — shared by the escrow (which pays)
//! and the client (which signs), so what a node signs is exactly what the escrow pays.
//!
//! # Encoding
//! `data = abi.encode(Account[])` with `struct Account { uint256 balance; uint256 counted; }`,
//! one account per participant, in participant order:
//! - `balance` — what the participant is owed by the channel now;
//! - `counted` — how much of the participant's own escrow deposits the channel has counted.
//!
//! Decoding is strict — exactly the canonical encoding, nothing before, between or after — so
//! one list of accounts has one encoding and one hash.
//!
//! # Why each participant's count is in the state
//! A deposit reaches the escrow before the others agree to count it (a transaction cannot wait for
//! a signature), and a dishonest participant may refuse to count it, or settle a state signed
//! before it arrived. If the state held balances only, the escrow could not tell *whose* deposit a
//! surplus is, and a state counting one participant's deposit could credit it to another. With the
//! count per participant, settlement is, for each participant `i`:
//!
//! ```text
//! payout[i] = balance[i] + (deposited[i] - counted[i])
//! ```
//!
//! which needs `Σ balance = Σ counted` (the channel never creates or destroys money) and
//! `counted[i] ≤ deposited[i]` (nobody counts money it did not put in); then `Σ payout = Σ
//! deposited` to the wei. Deposits the state does not count go back to their own depositor.
//!
//! # The invariant
//! *An honest participant can always obtain on chain at least its balance in the latest state it
//! accepted, plus every deposit of its own that no state it accepted has counted — whatever the
//! others do.* A node keeps it by signing a state `new` built on `old`, proposed by `proposer`,
//! only when [`check_transition`] accepts it and every raised count is backed by a deposit the
//! escrow shows (the node reads the chain): counts never go down, a count raises only its own
//! participant's balance, and nobody but the proposer loses anything. So for every participant but
//! the proposer, `balance + uncounted deposits` never goes down from one signed state to the next.

use alloc::vec::Vec;

use alloy_primitives::U256;

/// One participant's part of a payment state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// What the channel owes the participant (wei).
    pub balance: U256,
    /// How much of the participant's own deposits the channel has counted (wei).
    pub counted: U256,
}

/// `abi.encode(Account[])`.
pub fn encode_accounts(accounts: &[Account]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + 64 * accounts.len());
    out.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    out.extend_from_slice(&U256::from(accounts.len()).to_be_bytes::<32>());
    for a in accounts {
        out.extend_from_slice(&a.balance.to_be_bytes::<32>());
        out.extend_from_slice(&a.counted.to_be_bytes::<32>());
    }
    out
}

/// The accounts in `data`, if it is the canonical encoding of exactly `count` of them.
pub fn decode_accounts(data: &[u8], count: usize) -> Option<Vec<Account>> {
    if data.len() != 64 + 64 * count {
        return None;
    }
    let word = |i: usize| U256::from_be_slice(&data[32 * i..32 * (i + 1)]);
    if word(0) != U256::from(32) || word(1) != U256::from(count) {
        return None;
    }
    Some((0..count).map(|i| Account { balance: word(2 + 2 * i), counted: word(3 + 2 * i) }).collect())
}

/// Version 0 of a payment channel of `count` participants: nothing owed, nothing counted.
pub fn empty_accounts(count: usize) -> Vec<u8> {
    encode_accounts(&alloc::vec![Account::default(); count])
}

/// Why a payment state cannot be signed or settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentError {
    /// The data is not one account per participant.
    Malformed,
    /// Amounts overflow 256 bits.
    Overflow,
    /// The balances do not add up to what is counted.
    Unbalanced {
        /// Σ balance.
        balances: U256,
        /// Σ counted.
        counted: U256,
    },
    /// A participant's count went down.
    CountLowered {
        /// The participant.
        participant: usize,
    },
    /// A participant other than the proposer lost something: its balance fell, or did not rise
    /// by the deposit of its own newly counted.
    TakesFrom {
        /// The participant.
        participant: usize,
        /// How much short it is of what it is owed (wei).
        short: U256,
    },
    /// A count is above what the participant deposited.
    CountExceedsDeposit {
        /// The participant.
        participant: usize,
        /// Counted.
        counted: U256,
        /// Deposited.
        deposited: U256,
    },
}

impl core::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Malformed => write!(f, "the data is not one (balance, counted) account per participant"),
            Self::Overflow => write!(f, "the amounts overflow"),
            Self::Unbalanced { balances, counted } => {
                write!(f, "the balances add up to {balances} wei but the counted deposits to {counted} wei")
            }
            Self::CountLowered { participant } => {
                write!(f, "the state lowers participant {participant}'s counted deposits")
            }
            Self::TakesFrom { participant, short } => {
                write!(f, "the state takes {short} wei from participant {participant}; only the proposer may pay")
            }
            Self::CountExceedsDeposit { participant, counted, deposited } => write!(
                f,
                "the state counts {counted} wei of participant {participant}'s deposits but the escrow holds \
                 {deposited} wei from it"
            ),
        }
    }
}

fn sum(mut values: impl Iterator<Item = U256>) -> Result<U256, PaymentError> {
    values.try_fold(U256::ZERO, |acc, v| acc.checked_add(v).ok_or(PaymentError::Overflow))
}

/// Checks that the accounts are balanced: `Σ balance = Σ counted`.
pub fn check_balanced(accounts: &[Account]) -> Result<(), PaymentError> {
    let balances = sum(accounts.iter().map(|a| a.balance))?;
    let counted = sum(accounts.iter().map(|a| a.counted))?;
    if balances != counted {
        return Err(PaymentError::Unbalanced { balances, counted });
    }
    Ok(())
}

/// The rules a signer applies to `new`, proposed by participant `proposer` on top of `old`
/// (version 0 builds on all zeros). Returns the participants whose count rose, with the new count:
/// the caller must check each against the escrow's deposits before signing.
///
/// # Errors
/// [`PaymentError`] naming the first rule broken: unbalanced, a lowered count, or a participant
/// other than the proposer short of its old balance plus its own newly counted deposits.
pub fn check_transition(old: &[Account], new: &[Account], proposer: usize) -> Result<Vec<(usize, U256)>, PaymentError> {
    if old.len() != new.len() {
        return Err(PaymentError::Malformed);
    }
    check_balanced(new)?;
    let mut raised = Vec::new();
    for (i, (was, now)) in old.iter().zip(new).enumerate() {
        if now.counted < was.counted {
            return Err(PaymentError::CountLowered { participant: i });
        }
        let newly = now.counted - was.counted;
        if !newly.is_zero() {
            raised.push((i, now.counted));
        }
        if i != proposer {
            let due = was.balance.checked_add(newly).ok_or(PaymentError::Overflow)?;
            if now.balance < due {
                return Err(PaymentError::TakesFrom { participant: i, short: due - now.balance });
            }
        }
    }
    Ok(raised)
}

/// What the escrow pays each participant for the final `accounts`, given what each deposited:
/// its balance plus its deposits the state did not count. The payouts add up to the deposits.
///
/// # Errors
/// [`PaymentError::Unbalanced`], [`PaymentError::CountExceedsDeposit`] or
/// [`PaymentError::Overflow`]; nothing is paid then.
pub fn payouts(accounts: &[Account], deposited: &[U256]) -> Result<Vec<U256>, PaymentError> {
    if accounts.len() != deposited.len() {
        return Err(PaymentError::Malformed);
    }
    check_balanced(accounts)?;
    accounts
        .iter()
        .zip(deposited)
        .enumerate()
        .map(|(i, (a, d))| {
            let uncounted = d.checked_sub(a.counted).ok_or(PaymentError::CountExceedsDeposit {
                participant: i,
                counted: a.counted,
                deposited: *d,
            })?;
            a.balance.checked_add(uncounted).ok_or(PaymentError::Overflow)
        })
        .collect()
}

/// The solidity view of the escrow, generated from the committed interface
/// `sol/IAvocadoEscrow.sol`.
#[allow(missing_docs)]
mod sol {
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        "sol/IAvocadoEscrow.sol"
    );
}
pub use sol::{ChannelParams as EscrowParams, IAvocadoEscrow};

impl From<&crate::ChannelParams> for EscrowParams {
    fn from(p: &crate::ChannelParams) -> Self {
        Self {
            participants: p.participants.clone(),
            nonce: p.nonce,
            challengeDuration: p.challengeDuration,
            executive: p.executive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloy_sol_types::{sol, SolValue};

    sol! {
        struct SolAccount { uint256 balance; uint256 counted; }
    }

    fn acc(balance: u64, counted: u64) -> Account {
        Account { balance: U256::from(balance), counted: U256::from(counted) }
    }

    #[test]
    fn the_encoding_is_solidity_s_and_decoding_is_strict() {
        let a = vec![acc(7, 3), Account { balance: U256::MAX, counted: U256::ZERO }, acc(0, 0)];
        let ours = encode_accounts(&a);
        let theirs: Vec<SolAccount> = a.iter().map(|x| SolAccount { balance: x.balance, counted: x.counted }).collect();
        assert_eq!(ours, theirs.abi_encode(), "abi.encode(Account[])");
        assert_eq!(decode_accounts(&ours, 3), Some(a.clone()));
        assert_eq!(decode_accounts(&ours, 2), None, "wrong count");
        let mut longer = ours.clone();
        longer.push(0);
        assert_eq!(decode_accounts(&longer, 3), None, "trailing byte");
        let mut offset = ours.clone();
        offset[31] = 64;
        assert_eq!(decode_accounts(&offset, 3), None, "non-canonical offset");
        assert_eq!(decode_accounts(&[], 0), None);
        assert_eq!(decode_accounts(&empty_accounts(0), 0), Some(vec![]));
        assert_eq!(decode_accounts(&empty_accounts(2), 2), Some(vec![Account::default(); 2]));
    }

    #[test]
    fn a_count_raises_only_its_own_participant() {
        let old = vec![acc(3, 3), acc(0, 0)];
        // Bob (1) deposited 5 and it is counted to Bob: fine, whoever proposes.
        let fair = vec![acc(3, 3), acc(5, 5)];
        assert_eq!(check_transition(&old, &fair, 0), Ok(vec![(1, U256::from(5))]));
        assert_eq!(check_transition(&old, &fair, 1), Ok(vec![(1, U256::from(5))]));
        // Alice (0) counts Bob's deposit to herself: Bob is short of his own deposit.
        let theft = vec![acc(8, 3), acc(0, 5)];
        assert_eq!(
            check_transition(&old, &theft, 0),
            Err(PaymentError::TakesFrom { participant: 1, short: U256::from(5) })
        );
        // Without counting it, Alice cannot give herself anything: unbalanced.
        let inflate = vec![acc(8, 3), acc(0, 0)];
        assert!(matches!(check_transition(&old, &inflate, 0), Err(PaymentError::Unbalanced { .. })));
        // Bob may give his own deposit away when he proposes.
        let gift = vec![acc(8, 3), acc(0, 5)];
        assert_eq!(check_transition(&old, &gift, 1), Ok(vec![(1, U256::from(5))]));
    }

    #[test]
    fn payments_and_counts_follow_the_rules() {
        let old = vec![acc(3, 3), acc(5, 5)];
        assert_eq!(check_transition(&old, &[acc(1, 3), acc(7, 5)], 0), Ok(vec![]), "Alice pays 2");
        assert_eq!(
            check_transition(&old, &[acc(1, 3), acc(7, 5)], 1),
            Err(PaymentError::TakesFrom { participant: 0, short: U256::from(2) }),
            "Bob cannot make Alice pay"
        );
        assert_eq!(
            check_transition(&old, &[acc(3, 2), acc(5, 6)], 1),
            Err(PaymentError::CountLowered { participant: 0 }),
            "a count never goes down"
        );
        assert_eq!(check_transition(&old, &[acc(3, 3)], 0), Err(PaymentError::Malformed));
        let max = Account { balance: U256::MAX, counted: U256::MAX };
        assert_eq!(check_transition(&old, &[max, acc(5, 5)], 0), Err(PaymentError::Overflow));
    }

    #[test]
    fn payouts_refund_each_depositor_its_uncounted_deposits() {
        // Alice deposited 3 (counted), paid 2 to Bob; Bob deposited 5 of which nothing counted.
        let accounts = vec![acc(1, 3), acc(2, 0)];
        let paid = payouts(&accounts, &[U256::from(3), U256::from(5)]).unwrap();
        assert_eq!(paid, vec![U256::from(1), U256::from(7)]);
        assert_eq!(paid.iter().copied().fold(U256::ZERO, |a, b| a + b), U256::from(8), "conserved");
        assert_eq!(
            payouts(&accounts, &[U256::from(2), U256::from(5)]),
            Err(PaymentError::CountExceedsDeposit { participant: 0, counted: U256::from(3), deposited: U256::from(2) })
        );
        assert!(matches!(
            payouts(&[acc(4, 3), acc(0, 0)], &[U256::from(3), U256::ZERO]),
            Err(PaymentError::Unbalanced { .. })
        ));
    }
}
