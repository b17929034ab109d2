//! The payment channel's state: `data = abi.encode(uint256[] balances)`, one amount (wei) per
//! participant, in participant order. The escrow and the client both use these two functions,
//! so what a node signs is what the escrow pays.
//!
//! Decoding is strict — exactly the canonical encoding, nothing before, between or after — so
//! one list of balances has one encoding and one hash.

use alloc::vec::Vec;

use alloy_primitives::U256;

/// `abi.encode(balances)` for a `uint256[]`.
pub fn encode_balances(balances: &[U256]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + 32 * balances.len());
    out.extend_from_slice(&U256::from(32).to_be_bytes::<32>());
    out.extend_from_slice(&U256::from(balances.len()).to_be_bytes::<32>());
    for b in balances {
        out.extend_from_slice(&b.to_be_bytes::<32>());
    }
    out
}

/// The balances in `data`, if it is the canonical encoding of exactly `count` of them.
pub fn decode_balances(data: &[u8], count: usize) -> Option<Vec<U256>> {
    if data.len() != 64 + 32 * count {
        return None;
    }
    let word = |i: usize| U256::from_be_slice(&data[32 * i..32 * (i + 1)]);
    if word(0) != U256::from(32) || word(1) != U256::from(count) {
        return None;
    }
    Some((0..count).map(|i| word(2 + i)).collect())
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
    use alloy_sol_types::SolValue;

    #[test]
    fn the_encoding_is_solidity_s_and_decoding_is_strict() {
        let b = alloc::vec![U256::from(7), U256::MAX, U256::ZERO];
        let ours = encode_balances(&b);
        assert_eq!(ours, b.abi_encode(), "abi.encode(uint256[])");
        assert_eq!(decode_balances(&ours, 3), Some(b.clone()));
        assert_eq!(decode_balances(&ours, 2), None, "wrong count");
        let mut longer = ours.clone();
        longer.push(0);
        assert_eq!(decode_balances(&longer, 3), None, "trailing byte");
        let mut offset = ours.clone();
        offset[31] = 64;
        assert_eq!(decode_balances(&offset, 3), None, "non-canonical offset");
        assert_eq!(decode_balances(&[], 0), None);
        assert_eq!(decode_balances(&encode_balances(&[]), 0), Some(alloc::vec![]));
    }
}
