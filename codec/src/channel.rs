//! Channel identity and the rules a channel's terms must meet.
//!
//! The id commits to every term of the channel *and* to the chain and judge it lives on:
//! `keccak256(abi.encode(chainId, judge, participants, nonce, challengeDuration, executive))`.
//! Two channels with different terms can never share an id, and an id (with every signature on
//! its states) is worthless on another chain or judge.

use alloc::vec::Vec;
use alloy_primitives::{keccak256, Address, B256};

use crate::limits::{MAX_CHALLENGE_DURATION, MAX_PARTICIPANTS, MIN_PARTICIPANTS};
use crate::ChannelParams;

/// Why a channel's terms are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamsError {
    /// There must be 2 to 255 participants.
    ParticipantCount(usize),
    /// The participant at this index is the zero address or repeats an earlier one.
    Participant(usize),
    /// The challenge duration must be more than zero and at most ten years.
    ChallengeDuration(u64),
}

impl core::error::Error for ParamsError {}

impl core::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ParticipantCount(n) => {
                write!(f, "a channel needs {MIN_PARTICIPANTS} to {MAX_PARTICIPANTS} participants, not {n}")
            }
            Self::Participant(i) => {
                write!(f, "participant {i} is the zero address or appears twice")
            }
            Self::ChallengeDuration(d) => {
                write!(f, "challenge duration {d} s is outside 1..={MAX_CHALLENGE_DURATION} s")
            }
        }
    }
}

/// Checks the terms of a channel: participant count, no zero or repeated participant, and a
/// challenge duration in `1..=MAX_CHALLENGE_DURATION`.
pub fn validate_params(participants: &[Address], challenge_duration: u64) -> Result<(), ParamsError> {
    let n = participants.len();
    if !(MIN_PARTICIPANTS..=MAX_PARTICIPANTS).contains(&n) {
        return Err(ParamsError::ParticipantCount(n));
    }
    for (i, p) in participants.iter().enumerate() {
        if p.is_zero() || participants[..i].contains(p) {
            return Err(ParamsError::Participant(i));
        }
    }
    if challenge_duration == 0 || challenge_duration > MAX_CHALLENGE_DURATION {
        return Err(ParamsError::ChallengeDuration(challenge_duration));
    }
    Ok(())
}

/// The id of the channel with these terms, from its fields.
pub fn channel_id_of(
    chain_id: u64,
    judge: Address,
    participants: &[Address],
    nonce: u64,
    challenge_duration: u64,
    executive: Address,
) -> B256 {
    // abi.encode: six head words (the array as an offset), then the array's length and items.
    let mut buf = Vec::with_capacity(32 * (7 + participants.len()));
    let word_u64 = |buf: &mut Vec<u8>, v: u64| {
        buf.extend_from_slice(&[0u8; 24]);
        buf.extend_from_slice(&v.to_be_bytes());
    };
    let word_addr = |buf: &mut Vec<u8>, a: &Address| {
        buf.extend_from_slice(&[0u8; 12]);
        buf.extend_from_slice(a.as_slice());
    };
    word_u64(&mut buf, chain_id);
    word_addr(&mut buf, &judge);
    word_u64(&mut buf, 6 * 32);
    word_u64(&mut buf, nonce);
    word_u64(&mut buf, challenge_duration);
    word_addr(&mut buf, &executive);
    word_u64(&mut buf, participants.len() as u64);
    for p in participants {
        word_addr(&mut buf, p);
    }
    keccak256(&buf)
}

/// The id of the channel `params` on `chain_id` under the judge at `judge`.
pub fn channel_id(chain_id: u64, judge: Address, params: &ChannelParams) -> B256 {
    channel_id_of(chain_id, judge, &params.participants, params.nonce, params.challengeDuration, params.executive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloy_primitives::U256;
    use alloy_sol_types::SolValue;

    fn addrs(n: usize) -> Vec<Address> {
        (1..=n).map(|i| Address::with_last_byte(i as u8)).collect()
    }

    #[test]
    fn id_is_abi_encode_of_the_terms() {
        let judge = Address::repeat_byte(0x77);
        let params = ChannelParams {
            participants: addrs(3),
            nonce: 9,
            challengeDuration: 86_400,
            executive: Address::repeat_byte(0xee),
        };
        let expected = keccak256(
            (
                U256::from(412_346u64),
                judge,
                params.participants.clone(),
                params.nonce,
                params.challengeDuration,
                params.executive,
            )
                .abi_encode_params(),
        );
        assert_eq!(channel_id(412_346, judge, &params), expected);
    }

    #[test]
    fn every_term_changes_the_id() {
        let judge = Address::repeat_byte(0x77);
        let base = ChannelParams { participants: addrs(2), nonce: 1, challengeDuration: 60, executive: Address::ZERO };
        let id = channel_id(1, judge, &base);
        assert_ne!(id, channel_id(2, judge, &base));
        assert_ne!(id, channel_id(1, Address::repeat_byte(0x78), &base));
        let mut p = base.clone();
        p.participants.swap(0, 1);
        assert_ne!(id, channel_id(1, judge, &p));
        let mut p = base.clone();
        p.nonce = 2;
        assert_ne!(id, channel_id(1, judge, &p));
        let mut p = base.clone();
        p.challengeDuration = 61;
        assert_ne!(id, channel_id(1, judge, &p));
        let mut p = base;
        p.executive = Address::with_last_byte(1);
        assert_ne!(id, channel_id(1, judge, &p));
    }

    #[test]
    fn params_limits() {
        assert_eq!(validate_params(&addrs(1), 60), Err(ParamsError::ParticipantCount(1)));
        assert_eq!(validate_params(&addrs(0), 60), Err(ParamsError::ParticipantCount(0)));
        assert_eq!(validate_params(&addrs(2), 60), Ok(()));
        assert_eq!(validate_params(&addrs(255), 60), Ok(()));
        let many: Vec<Address> = (1..=256u32).map(|i| Address::left_padding_from(&i.to_be_bytes())).collect();
        assert_eq!(validate_params(&many, 60), Err(ParamsError::ParticipantCount(256)));
        assert_eq!(validate_params(&[Address::with_last_byte(1), Address::ZERO], 60), Err(ParamsError::Participant(1)));
        let dup = vec![Address::with_last_byte(1), Address::with_last_byte(2), Address::with_last_byte(1)];
        assert_eq!(validate_params(&dup, 60), Err(ParamsError::Participant(2)));
        assert_eq!(validate_params(&addrs(2), 0), Err(ParamsError::ChallengeDuration(0)));
        assert_eq!(validate_params(&addrs(2), MAX_CHALLENGE_DURATION), Ok(()));
        assert_eq!(
            validate_params(&addrs(2), MAX_CHALLENGE_DURATION + 1),
            Err(ParamsError::ChallengeDuration(MAX_CHALLENGE_DURATION + 1))
        );
    }
}
