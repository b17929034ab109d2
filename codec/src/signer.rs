//! Signing and recovery with k256, for the client and the tests (feature `k256`).
//!
//! The judge never links this module: on chain, recovery goes through the ecrecover
//! precompile. Both paths apply the same canonical-form checks of [`Signature::parse`].

use alloy_primitives::{Address, B256};
use k256::ecdsa::{RecoveryId, Signature as EcdsaSignature, SigningKey, VerifyingKey};

use crate::signature::{split, Signature, SignatureError};

/// The Ethereum address of a public key.
pub fn address_of(key: &VerifyingKey) -> Address {
    Address::from_public_key(key)
}

/// Signs a 32-byte digest; the result is always canonical (low-s).
pub fn sign(key: &SigningKey, digest: &B256) -> Signature {
    let (sig, recid) = key.sign_prehash_recoverable(digest.as_slice()).expect("signing a 32-byte prehash cannot fail");
    let (sig, recid) = match sig.normalize_s() {
        Some(low) => (low, RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced())),
        None => (sig, recid),
    };
    let (r, s) = sig.split_bytes();
    Signature { r: B256::from_slice(&r), s: B256::from_slice(&s), v: 27 + recid.is_y_odd() as u8 }
}

/// Recovers the signer of `digest`. Fails exactly where the ecrecover precompile (plus the
/// judge's checks) fails.
pub fn recover(digest: &B256, sig: &Signature) -> Result<Address, SignatureError> {
    let ecdsa = EcdsaSignature::from_scalars(sig.r.0, sig.s.0).map_err(|_| SignatureError::Unrecoverable)?;
    let recid = RecoveryId::new(sig.v == 28, false);
    let key = VerifyingKey::recover_from_prehash(digest.as_slice(), &ecdsa, recid)
        .map_err(|_| SignatureError::Unrecoverable)?;
    let addr = address_of(&key);
    if addr.is_zero() {
        return Err(SignatureError::Unrecoverable);
    }
    Ok(addr)
}

/// Checks that `sig` (64 or 65 bytes) is `expected`'s canonical signature of `digest`.
pub fn verify(digest: &B256, sig: &[u8], expected: Address) -> Result<(), SignatureError> {
    let signer = recover(digest, &Signature::parse(sig)?)?;
    if signer != expected {
        return Err(SignatureError::WrongSigner);
    }
    Ok(())
}

/// Why a set of signatures does not make a state fully signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullySignedError {
    /// The blob is not one 64- or 65-byte signature per participant.
    Length {
        /// Bytes given.
        length: usize,
        /// Participants expected to sign.
        participants: usize,
    },
    /// Signature `index` is not `participants[index]`'s.
    Signature {
        /// Position of the bad signature.
        index: usize,
        /// What is wrong with it.
        error: SignatureError,
    },
}

impl core::error::Error for FullySignedError {}

impl core::fmt::Display for FullySignedError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Length { length, participants } => write!(
                f,
                "{length} bytes of signatures is not one 64- or 65-byte signature for each of {participants} participants"
            ),
            Self::Signature { index, error } => write!(f, "signature {index}: {error}"),
        }
    }
}

/// Checks that `sigs` holds one valid signature of `digest` per participant, in order: the
/// judge's rule for a fully signed state.
pub fn verify_all(digest: &B256, participants: &[Address], sigs: &[u8]) -> Result<(), FullySignedError> {
    let parts = split(sigs, participants.len())
        .ok_or(FullySignedError::Length { length: sigs.len(), participants: participants.len() })?;
    for (index, (sig, who)) in parts.zip(participants).enumerate() {
        verify(digest, sig, *who).map_err(|error| FullySignedError::Signature { index, error })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_slice(keccak256([i]).as_slice()).unwrap()
    }

    #[test]
    fn sign_then_recover() {
        for i in 0..32u8 {
            let k = key(i);
            let digest = keccak256([i, i]);
            let sig = sign(&k, &digest);
            assert!(sig.s <= crate::signature::HALF_ORDER);
            assert_eq!(recover(&digest, &sig).unwrap(), address_of(k.verifying_key()));
            verify(&digest, &sig.to_compact(), address_of(k.verifying_key())).unwrap();
            verify(&digest, &sig.to_bytes(), address_of(k.verifying_key())).unwrap();
            assert_eq!(
                verify(&keccak256([i]), &sig.to_bytes(), address_of(k.verifying_key())),
                Err(SignatureError::WrongSigner)
            );
        }
    }

    #[test]
    fn verify_all_reports_the_first_bad_index() {
        let keys = [key(1), key(2), key(3)];
        let who: alloc::vec::Vec<Address> = keys.iter().map(|k| address_of(k.verifying_key())).collect();
        let digest = keccak256(b"state");
        let mut blob = alloc::vec::Vec::new();
        for k in &keys {
            blob.extend_from_slice(&sign(k, &digest).to_compact());
        }
        verify_all(&digest, &who, &blob).unwrap();
        blob[64..128].copy_from_slice(&sign(&keys[0], &digest).to_compact());
        assert_eq!(
            verify_all(&digest, &who, &blob),
            Err(FullySignedError::Signature { index: 1, error: SignatureError::WrongSigner })
        );
        assert_eq!(
            verify_all(&digest, &who, &blob[..100]),
            Err(FullySignedError::Length { length: 100, participants: 3 })
        );
    }
}
