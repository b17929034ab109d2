//! EIP-712 hashing of Avocado's signed types.
//!
//! The judge runs this code inside WASM, where every byte of code is paid by the deployer and
//! every keccak by the caller, so the hashes are computed from borrowed pieces with constant type
//! hashes and no allocation. The tests check every function here against `alloy-sol-types`'
//! generic `SolStruct::eip712_signing_hash`, so the two can never drift apart.

use alloy_primitives::{b256, keccak256, Address, B256};

use crate::{Challenge, State};

/// `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`
pub const DOMAIN_TYPEHASH: B256 = b256!("8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");
/// `keccak256("State(bytes32 channelId,uint64 version,bytes data,bool isFinal)")`
pub const STATE_TYPEHASH: B256 = b256!("ca8319931e231008a99b981c295fd474136c92820cb2760fcf54fb9f1f219db6");
/// `keccak256("Challenge(bytes32 channelId,uint64 version)")`
pub const CHALLENGE_TYPEHASH: B256 = b256!("9c65c9e766ef8b212411c35493a222d7655d0b2db562e8b05f0dfaf3e094905c");
/// `keccak256("Avocado")`, the domain's `name`.
pub const NAME_HASH: B256 = b256!("a59f8e04087931875e5cd720c441bf6287a5af6235a70323d9f268402ece8169");
/// `keccak256("1")`, the domain's `version`.
pub const VERSION_HASH: B256 = b256!("c89efdaa54c0f20c7adf612882df0950f5a951637e0307cdcb4c672f298b8bc6");

/// The EIP-712 domain of one judge deployment: `{name: "Avocado", version: "1", chainId,
/// verifyingContract: judge}`. A signature made under one domain is worthless under any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Domain {
    /// The chain the judge lives on.
    pub chain_id: u64,
    /// The judge contract's address.
    pub judge: Address,
}

impl Domain {
    /// The domain of `judge` on `chain_id`.
    pub const fn new(chain_id: u64, judge: Address) -> Self {
        Self { chain_id, judge }
    }

    /// The domain separator (`hashStruct(EIP712Domain)`).
    pub fn separator(&self) -> B256 {
        let mut buf = [0u8; 160];
        buf[..32].copy_from_slice(DOMAIN_TYPEHASH.as_slice());
        buf[32..64].copy_from_slice(NAME_HASH.as_slice());
        buf[64..96].copy_from_slice(VERSION_HASH.as_slice());
        buf[120..128].copy_from_slice(&self.chain_id.to_be_bytes());
        buf[140..160].copy_from_slice(self.judge.as_slice());
        keccak256(buf)
    }

    /// The same domain as `alloy-sol-types` models it.
    pub fn to_eip712(&self) -> alloy_sol_types::Eip712Domain {
        alloy_sol_types::eip712_domain! {
            name: "Avocado",
            version: "1",
            chain_id: self.chain_id,
            verifying_contract: self.judge,
        }
    }

    /// The id of a channel with `params` under this domain.
    pub fn channel_id(&self, params: &crate::ChannelParams) -> B256 {
        crate::channel_id(self.chain_id, self.judge, params)
    }

    /// The digest every participant signs for `state`.
    pub fn state_digest(&self, state: &State) -> B256 {
        signing_hash(&self.separator(), &state_hash(&state.channelId, state.version, &state.data, state.isFinal))
    }

    /// The digest a participant signs to challenge with `challenge.version`.
    pub fn challenge_digest(&self, challenge: &Challenge) -> B256 {
        signing_hash(&self.separator(), &challenge_hash(&challenge.channelId, challenge.version))
    }
}

/// `hashStruct(State)` from its fields.
pub fn state_hash(channel_id: &B256, version: u64, data: &[u8], is_final: bool) -> B256 {
    state_hash_of(channel_id, version, &keccak256(data), is_final)
}

/// `hashStruct(State)` from its fields with `data` given as its `keccak256`: the judge stores
/// that hash anyway, so it hashes the data once.
pub fn state_hash_of(channel_id: &B256, version: u64, data_hash: &B256, is_final: bool) -> B256 {
    let mut buf = [0u8; 160];
    buf[..32].copy_from_slice(STATE_TYPEHASH.as_slice());
    buf[32..64].copy_from_slice(channel_id.as_slice());
    buf[88..96].copy_from_slice(&version.to_be_bytes());
    buf[96..128].copy_from_slice(data_hash.as_slice());
    buf[159] = is_final as u8;
    keccak256(buf)
}

/// `hashStruct(Challenge)` from its fields.
pub fn challenge_hash(channel_id: &B256, version: u64) -> B256 {
    let mut buf = [0u8; 96];
    buf[..32].copy_from_slice(CHALLENGE_TYPEHASH.as_slice());
    buf[32..64].copy_from_slice(channel_id.as_slice());
    buf[88..96].copy_from_slice(&version.to_be_bytes());
    keccak256(buf)
}

/// `keccak256("\x19\x01" ‖ domainSeparator ‖ structHash)`: the digest that is signed.
pub fn signing_hash(domain_separator: &B256, struct_hash: &B256) -> B256 {
    let mut buf = [0u8; 66];
    buf[0] = 0x19;
    buf[1] = 0x01;
    buf[2..34].copy_from_slice(domain_separator.as_slice());
    buf[34..66].copy_from_slice(struct_hash.as_slice());
    keccak256(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChannelParams;
    use alloc::vec;
    use alloy_primitives::{address, Bytes};
    use alloy_sol_types::SolStruct;

    fn domain() -> Domain {
        Domain::new(412_346, address!("a6e41ffd769491a42a6e5ce453259b93983a22ef"))
    }

    #[test]
    fn constants_are_the_hashes_they_name() {
        assert_eq!(STATE_TYPEHASH, State::eip712_type_hash(&State::default()));
        assert_eq!(CHALLENGE_TYPEHASH, Challenge::eip712_type_hash(&Challenge::default()));
        assert_eq!(NAME_HASH, keccak256("Avocado"));
        assert_eq!(VERSION_HASH, keccak256("1"));
        assert_eq!(
            DOMAIN_TYPEHASH,
            keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
        );
    }

    #[test]
    fn separator_matches_alloy() {
        let d = domain();
        assert_eq!(d.separator(), d.to_eip712().hash_struct());
    }

    #[test]
    fn digests_match_alloy() {
        let d = domain();
        let params = ChannelParams {
            participants: vec![Address::repeat_byte(1), Address::repeat_byte(2)],
            nonce: 7,
            challengeDuration: 3600,
            executive: Address::ZERO,
        };
        let id = d.channel_id(&params);
        for (data, is_final) in [(vec![], false), (vec![1, 2, 3], true), (vec![0xab; 1000], false)] {
            let state = State { channelId: id, version: 42, data: Bytes::from(data), isFinal: is_final };
            assert_eq!(d.state_digest(&state), state.eip712_signing_hash(&d.to_eip712()));
        }
        let ch = Challenge { channelId: id, version: u64::MAX };
        assert_eq!(d.challenge_digest(&ch), ch.eip712_signing_hash(&d.to_eip712()));
    }
}
