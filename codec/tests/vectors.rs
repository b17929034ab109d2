//! The committed vectors (`tests/vectors/codec.json`) recomputed from scratch, and property
//! tests: any change to a signed state or its domain invalidates every signature on it.

use alloy_primitives::{hex, Address, Bytes, B256};
use alloy_sol_types::SolStruct;
use avocado_codec::{signer, Challenge, ChannelParams, Domain, Signature, State};
use k256::ecdsa::SigningKey;
use proptest::prelude::*;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/codec.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read vectors")).expect("parse vectors")
}

fn b256(v: &Value) -> B256 {
    v.as_str().unwrap().parse().unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn vectors_recompute_exactly() {
    let doc = vectors();
    let keys: Vec<SigningKey> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let key = SigningKey::from_slice(&bytes(&k["privateKey"])).unwrap();
            let addr: Address = k["address"].as_str().unwrap().parse().unwrap();
            assert_eq!(signer::address_of(key.verifying_key()), addr);
            key
        })
        .collect();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 8, "vector file lost cases");
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let domain = Domain::new(
            c["domain"]["chainId"].as_u64().unwrap(),
            c["domain"]["judge"].as_str().unwrap().parse().unwrap(),
        );
        assert_eq!(domain.separator(), b256(&c["domain"]["separator"]), "{name}: separator");
        assert_eq!(domain.separator(), domain.to_eip712().hash_struct(), "{name}: separator (alloy)");
        let p = &c["params"];
        let params = ChannelParams {
            participants: p["participants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().parse().unwrap())
                .collect(),
            nonce: p["nonce"].as_u64().unwrap(),
            challengeDuration: p["challengeDuration"].as_u64().unwrap(),
            executive: p["executive"].as_str().unwrap().parse().unwrap(),
        };
        let id = domain.channel_id(&params);
        assert_eq!(id, b256(&c["channelId"]), "{name}: channel id");
        let state = State {
            channelId: id,
            version: c["state"]["version"].as_u64().unwrap(),
            data: Bytes::from(bytes(&c["state"]["data"])),
            isFinal: c["state"]["isFinal"].as_bool().unwrap(),
        };
        let digest = domain.state_digest(&state);
        assert_eq!(digest, b256(&c["stateDigest"]), "{name}: state digest");
        assert_eq!(digest, state.eip712_signing_hash(&domain.to_eip712()), "{name}: digest (alloy)");
        let key_idx: Vec<usize> = c["keys"].as_array().unwrap().iter().map(|k| k.as_u64().unwrap() as usize).collect();
        for (i, who) in params.participants.iter().enumerate() {
            let full = bytes(&c["signatures"][i]);
            let compact = bytes(&c["compactSignatures"][i]);
            let resigned = signer::sign(&keys[key_idx[i]], &digest);
            assert_eq!(resigned.to_bytes().as_slice(), full.as_slice(), "{name}: signature {i}");
            assert_eq!(resigned.to_compact().as_slice(), compact.as_slice(), "{name}: compact {i}");
            assert_eq!(signer::recover(&digest, &Signature::parse(&full).unwrap()).unwrap(), *who);
            assert_eq!(signer::recover(&digest, &Signature::parse(&compact).unwrap()).unwrap(), *who);
        }
        let challenge = Challenge { channelId: id, version: state.version };
        let cd = domain.challenge_digest(&challenge);
        assert_eq!(cd, b256(&c["challenge"]["digest"]), "{name}: challenge digest");
        assert_eq!(cd, challenge.eip712_signing_hash(&domain.to_eip712()));
        let signer_idx = c["challenge"]["signer"].as_u64().unwrap() as usize;
        let csig = Signature::parse(&bytes(&c["challenge"]["signature"])).unwrap();
        assert_eq!(signer::recover(&cd, &csig).unwrap(), params.participants[signer_idx]);
    }
}

/// Everything a state signature commits to, as one flat byte string.
fn flatten(domain: &Domain, state: &State) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&domain.chain_id.to_be_bytes());
    v.extend_from_slice(domain.judge.as_slice());
    v.extend_from_slice(state.channelId.as_slice());
    v.extend_from_slice(&state.version.to_be_bytes());
    v.push(state.isFinal as u8);
    v.extend_from_slice(&state.data);
    v
}

fn unflatten(v: &[u8]) -> (Domain, State) {
    let domain = Domain::new(u64::from_be_bytes(v[..8].try_into().unwrap()), Address::from_slice(&v[8..28]));
    let state = State {
        channelId: B256::from_slice(&v[28..60]),
        version: u64::from_be_bytes(v[60..68].try_into().unwrap()),
        // Any non-zero byte is a flipped bool: encode it as the opposite of the original.
        isFinal: v[68] == 1,
        data: Bytes::copy_from_slice(&v[69..]),
    };
    (domain, state)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flipping_any_byte_breaks_every_signature(
        key in 1u64..u64::MAX,
        chain_id in any::<u64>(),
        judge in any::<[u8; 20]>(),
        channel in any::<[u8; 32]>(),
        version in any::<u64>(),
        is_final in any::<bool>(),
        data in proptest::collection::vec(any::<u8>(), 0..200),
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut secret = [0u8; 32];
        secret[24..].copy_from_slice(&key.to_be_bytes());
        let sk = SigningKey::from_slice(&secret).unwrap();
        let who = signer::address_of(sk.verifying_key());
        let domain = Domain::new(chain_id, Address::from(judge));
        let state = State { channelId: B256::from(channel), version, data: Bytes::from(data), isFinal: is_final };
        let sig = signer::sign(&sk, &domain.state_digest(&state));
        prop_assert!(signer::verify(&domain.state_digest(&state), &sig.to_compact(), who).is_ok());

        let mut flat = flatten(&domain, &state);
        let i = pos.index(flat.len());
        flat[i] ^= mask;
        if i == 68 && flat[68] > 1 { flat[68] = (!is_final) as u8; }
        let (d2, s2) = unflatten(&flat);
        let digest = d2.state_digest(&s2);
        prop_assert!(signer::verify(&digest, &sig.to_compact(), who).is_err());
        prop_assert!(signer::verify(&digest, &sig.to_bytes(), who).is_err());

        // And flipping any byte of the signature itself.
        let mut bad = sig.to_bytes();
        let j = pos.index(65);
        bad[j] ^= mask;
        prop_assert!(signer::verify(&domain.state_digest(&state), &bad, who).is_err());
    }
}
