//! The payment rules as the node applies them to every state it signs in a payment channel (a
//! channel whose executive is this node's escrow): the codec's transition rules
//! ([`avocado_codec::payment::check_transition`]) and, for every count a state raises, the
//! deposit the escrow shows. Reading the deposits is the shell's job (a chain call at the
//! confirmation depth); deciding is here.

use alloy_primitives::U256;
use avocado_codec::payment::{check_transition, decode_accounts, Account, PaymentError};
use avocado_codec::State;

use crate::error::NodeError;

/// The counts `new` raises, `(participant, new count)`, if `new` may follow `old` (`None` for
/// version 0) when proposed by participant `proposer` in a channel of `n`: each must then be
/// backed by that participant's confirmed deposit ([`check_deposit`]).
pub fn raised_counts(
    n: usize,
    old: Option<&State>,
    new: &State,
    proposer: usize,
) -> Result<Vec<(usize, U256)>, NodeError> {
    let malformed = || NodeError::Invalid(format!("a payment state holds {n} (balance, counted) accounts"));
    let new_a = decode_accounts(&new.data, n).ok_or_else(malformed)?;
    let old_a = match old {
        Some(s) => decode_accounts(&s.data, n).ok_or_else(malformed)?,
        None => vec![Account::default(); n],
    };
    check_transition(&old_a, &new_a, proposer).map_err(|e| NodeError::Invalid(e.to_string()))
}

/// A raised count is backed by what its participant deposited (as of the confirmation depth).
pub fn check_deposit(participant: usize, counted: U256, deposited: U256) -> Result<(), NodeError> {
    if counted > deposited {
        let e = PaymentError::CountExceedsDeposit { participant, counted, deposited };
        return Err(NodeError::Invalid(e.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, B256};
    use avocado_codec::payment::encode_accounts;

    fn state(version: u64, accounts: &[(u64, u64)]) -> State {
        let a: Vec<Account> =
            accounts.iter().map(|(b, c)| Account { balance: U256::from(*b), counted: U256::from(*c) }).collect();
        State { channelId: B256::ZERO, version, data: Bytes::from(encode_accounts(&a)), isFinal: false }
    }

    #[test]
    fn a_count_raises_its_own_balance_and_needs_a_deposit() {
        let old = state(1, &[(0, 0), (0, 0)]);
        let new = state(2, &[(100, 100), (0, 0)]);
        assert_eq!(raised_counts(2, Some(&old), &new, 0).unwrap(), vec![(0, U256::from(100))]);
        check_deposit(0, U256::from(100), U256::from(100)).unwrap();
        let e = check_deposit(0, U256::from(100), U256::from(99)).unwrap_err();
        assert!(e.to_string().contains("escrow holds"), "{e}");
    }

    #[test]
    fn only_the_proposer_pays_and_states_balance() {
        let old = state(1, &[(100, 100), (0, 0)]);
        // Participant 1 proposes taking 40 from participant 0.
        let take = state(2, &[(60, 100), (40, 0)]);
        let e = raised_counts(2, Some(&old), &take, 1).unwrap_err();
        assert!(e.to_string().contains("only the proposer may pay"), "{e}");
        assert!(raised_counts(2, Some(&old), &take, 0).unwrap().is_empty());
        let unbalanced = state(2, &[(100, 100), (1, 0)]);
        assert!(raised_counts(2, Some(&old), &unbalanced, 0).unwrap_err().to_string().contains("add up to"));
        // A count never goes down.
        let lower = state(2, &[(50, 50), (0, 0)]);
        assert_eq!(raised_counts(2, Some(&old), &lower, 0).unwrap_err().status(), 422);
    }

    #[test]
    fn payment_data_is_one_account_per_participant() {
        let bad = State { channelId: B256::ZERO, version: 0, data: Bytes::from_static(b"hi"), isFinal: false };
        let e = raised_counts(2, None, &bad, 0).unwrap_err();
        assert_eq!(e.to_string(), "a payment state holds 2 (balance, counted) accounts");
        assert!(raised_counts(2, None, &state(0, &[(0, 0), (0, 0)]), 0).unwrap().is_empty());
    }
}
