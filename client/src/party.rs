//! A channel participant: a key, the channel's terms, and the latest fully signed state it holds.
//!
//! Signing follows the protocol's safety rule: a party signs a version at most once, and only a
//! version one above the latest fully signed state it holds. Both facts are written to its
//! [`Store`] before a signature is returned or a state acknowledged, so they hold across
//! restarts.

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, B256};
use avocado_codec::{signer, ChannelParams, Domain, Signature, State};
use k256::ecdsa::SigningKey;

use crate::store::{Store, StoreError};

/// A fully signed state: the state and one signature per participant, in participant order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedState {
    /// The state.
    pub state: State,
    /// Participants' signatures, in participant order.
    pub signatures: Vec<Signature>,
}

impl SignedState {
    /// The signatures as the judge takes them: 64-byte compact, concatenated.
    pub fn sigs(&self) -> Bytes {
        self.signatures.iter().flat_map(|s| s.to_compact()).collect::<Vec<u8>>().into()
    }

    /// The signatures as 65-byte `r ‖ s ‖ v`, concatenated.
    pub fn sigs_65(&self) -> Bytes {
        self.signatures.iter().flat_map(|s| s.to_bytes()).collect::<Vec<u8>>().into()
    }
}

/// Why a party refuses to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The proposal is for another channel.
    WrongChannel,
    /// The version is not exactly one above the latest fully signed one.
    VersionGap {
        /// Latest fully signed version held.
        latest: u64,
        /// Version proposed.
        proposed: u64,
    },
    /// This party already signed another state with this version.
    AlreadySigned(u64),
    /// The store could not record the signature, so it was not given.
    Store(String),
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WrongChannel => f.write_str("the proposed state belongs to another channel"),
            Self::VersionGap { latest, proposed } => {
                write!(f, "proposed version {proposed} does not follow the latest signed version {latest}")
            }
            Self::AlreadySigned(v) => write!(f, "version {v} is already signed with other contents"),
            Self::Store(e) => write!(f, "not signed: {e}"),
        }
    }
}

impl std::error::Error for SignError {}

/// Why a party refuses a fully signed state.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// A signature is missing or wrong.
    #[error("{0}")]
    Signatures(#[from] signer::FullySignedError),
    /// The state could not be stored, so it is not acknowledged.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// One participant of one channel.
pub struct Party {
    /// Display name.
    pub name: String,
    key: SigningKey,
    /// The judge's domain.
    pub domain: Domain,
    /// The channel's terms.
    pub params: ChannelParams,
    /// The channel id.
    pub channel_id: B256,
    /// Latest fully signed state held.
    pub latest: Option<SignedState>,
    store: Arc<dyn Store>,
}

impl Party {
    /// A party holding `key`, in the channel `params` under `domain`, remembering in `store`
    /// (and resuming from the latest fully signed state it holds there).
    pub fn new(
        name: &str,
        key: SigningKey,
        domain: Domain,
        params: ChannelParams,
        store: Arc<dyn Store>,
    ) -> Result<Self, StoreError> {
        let channel_id = domain.channel_id(&params);
        let latest = store.latest(channel_id)?;
        Ok(Self { name: name.into(), key, domain, params, channel_id, latest, store })
    }

    /// This party's address.
    pub fn address(&self) -> Address {
        signer::address_of(self.key.verifying_key())
    }

    /// The next state with `data`.
    pub fn propose(&self, data: &[u8], is_final: bool) -> State {
        let version = self.latest.as_ref().map_or(0, |s| s.state.version + 1);
        State { channelId: self.channel_id, version, data: Bytes::copy_from_slice(data), isFinal: is_final }
    }

    /// Signs `state` if it may: right channel, next version, never two contents per version.
    pub fn countersign(&mut self, state: &State) -> Result<Signature, SignError> {
        if state.channelId != self.channel_id {
            return Err(SignError::WrongChannel);
        }
        let expected = self.latest.as_ref().map_or(0, |s| s.state.version + 1);
        if state.version != expected {
            return Err(SignError::VersionGap { latest: expected.wrapping_sub(1), proposed: state.version });
        }
        let digest = self.domain.state_digest(state);
        // On disk before the signature exists outside this function.
        self.store.record_signature(self.channel_id, state.version, digest).map_err(|e| match e {
            StoreError::AlreadySigned { version, .. } => SignError::AlreadySigned(version),
            other => SignError::Store(other.to_string()),
        })?;
        Ok(signer::sign(&self.key, &digest))
    }

    /// Accepts a fully signed state after checking every signature, and keeps it on disk.
    pub fn accept(&mut self, signed: SignedState) -> Result<(), AcceptError> {
        let digest = self.domain.state_digest(&signed.state);
        signer::verify_all(&digest, &self.params.participants, &signed.sigs())?;
        self.store.save_latest(&signed)?;
        self.latest = Some(signed);
        Ok(())
    }

    /// This party's signature of `Challenge{channelId, version}`.
    pub fn challenge_signature(&self, version: u64) -> Bytes {
        let c = avocado_codec::Challenge { channelId: self.channel_id, version };
        Bytes::copy_from_slice(&signer::sign(&self.key, &self.domain.challenge_digest(&c)).to_compact())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;

    fn store() -> Arc<dyn Store> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "avocado-party-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        Arc::new(crate::store::RedbStore::open(&d.join("node.redb")).unwrap())
    }

    fn parties() -> Vec<Party> {
        let keys: Vec<SigningKey> =
            (0..3u8).map(|i| SigningKey::from_slice(keccak256([i]).as_slice()).unwrap()).collect();
        let params = ChannelParams {
            participants: keys.iter().map(|k| signer::address_of(k.verifying_key())).collect(),
            nonce: 1,
            challengeDuration: 3600,
            executive: Address::ZERO,
        };
        let domain = Domain::new(1, Address::repeat_byte(1));
        keys.into_iter()
            .enumerate()
            .map(|(i, k)| Party::new(&format!("p{i}"), k, domain, params.clone(), store()).unwrap())
            .collect()
    }

    #[test]
    fn round_of_signatures_makes_a_fully_signed_state() {
        let mut ps = parties();
        let s0 = ps[0].propose(b"zero", false);
        let sigs: Vec<Signature> = ps.iter_mut().map(|p| p.countersign(&s0).unwrap()).collect();
        let full = SignedState { state: s0, signatures: sigs };
        for p in &mut ps {
            p.accept(full.clone()).unwrap();
        }
        assert_eq!(ps[2].propose(b"one", false).version, 1);
    }

    #[test]
    fn refuses_gaps_other_channels_and_double_signing() {
        let mut ps = parties();
        let mut s = ps[0].propose(b"zero", false);
        s.version = 5;
        assert_eq!(ps[1].countersign(&s), Err(SignError::VersionGap { latest: u64::MAX, proposed: 5 }));
        s.version = 0;
        s.channelId = B256::ZERO;
        assert_eq!(ps[1].countersign(&s), Err(SignError::WrongChannel));
        let a = ps[0].propose(b"a", false);
        let b = ps[0].propose(b"b", false);
        ps[1].countersign(&a).unwrap();
        assert_eq!(ps[1].countersign(&b), Err(SignError::AlreadySigned(0)));
        // Signing the same contents again is fine (a retried delivery).
        ps[1].countersign(&a).unwrap();
    }
}
