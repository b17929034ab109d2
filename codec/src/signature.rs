//! Signature wire formats and the checks every verifier applies before recovery.
//!
//! Two encodings are accepted: the 65-byte `r ‖ s ‖ v` (v ∈ {27, 28}) and the 64-byte EIP-2098
//! compact `r ‖ (yParity << 255 | s)`. On Arbitrum calldata dominates the cost of a transaction,
//! so the client sends compact signatures on chain. A high-s signature is refused rather than
//! normalised: the same state must not have two valid encodings of one signer's signature.
//!
//! Recovery itself is not here: the judge asks the ecrecover precompile, the client uses k256
//! (see `signer`, behind the `k256` feature).

use alloy_primitives::{b256, B256};

/// `secp256k1n / 2`: the largest `s` a canonical signature may carry.
pub const HALF_ORDER: B256 = b256!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

/// A parsed, canonical (low-s) secp256k1 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    /// The `r` scalar.
    pub r: B256,
    /// The `s` scalar, at most [`HALF_ORDER`].
    pub s: B256,
    /// 27 or 28.
    pub v: u8,
}

/// Why a signature is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// A signature is 64 or 65 bytes long.
    Length(usize),
    /// `v` must be 27 or 28 (0 and 1 are accepted and mapped to them).
    V(u8),
    /// `s` is above `secp256k1n / 2`: the malleable twin of a canonical signature.
    HighS,
    /// `r` or `s` is zero.
    ZeroScalar,
    /// Recovery failed or gave the zero address.
    Unrecoverable,
    /// The signature is valid but made by someone else.
    WrongSigner,
}

impl core::error::Error for SignatureError {}

impl core::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Length(n) => write!(f, "a signature is 64 or 65 bytes, not {n}"),
            Self::V(v) => write!(f, "signature v must be 27 or 28, not {v}"),
            Self::HighS => f.write_str("signature s is in the upper half of the curve order (not canonical)"),
            Self::ZeroScalar => f.write_str("signature r or s is zero"),
            Self::Unrecoverable => f.write_str("no signer can be recovered from the signature"),
            Self::WrongSigner => f.write_str("the signature was made by another key"),
        }
    }
}

impl Signature {
    /// Parses a 65-byte or 64-byte (EIP-2098) signature and checks it is canonical.
    pub fn parse(bytes: &[u8]) -> Result<Self, SignatureError> {
        let (r, s, v) = match bytes.len() {
            65 => {
                let v = match bytes[64] {
                    0 | 27 => 27,
                    1 | 28 => 28,
                    v => return Err(SignatureError::V(v)),
                };
                (B256::from_slice(&bytes[..32]), B256::from_slice(&bytes[32..64]), v)
            }
            64 => {
                let mut s = B256::from_slice(&bytes[32..64]);
                let v = 27 + (s[0] >> 7);
                s[0] &= 0x7f;
                (B256::from_slice(&bytes[..32]), s, v)
            }
            n => return Err(SignatureError::Length(n)),
        };
        if r.is_zero() || s.is_zero() {
            return Err(SignatureError::ZeroScalar);
        }
        if s > HALF_ORDER {
            return Err(SignatureError::HighS);
        }
        Ok(Self { r, s, v })
    }

    /// The 65-byte `r ‖ s ‖ v` encoding.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(self.r.as_slice());
        out[32..64].copy_from_slice(self.s.as_slice());
        out[64] = self.v;
        out
    }

    /// The 64-byte EIP-2098 compact encoding.
    pub fn to_compact(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(self.r.as_slice());
        out[32..64].copy_from_slice(self.s.as_slice());
        if self.v == 28 {
            out[32] |= 0x80;
        }
        out
    }

    /// The 128-byte input of the ecrecover precompile (`0x01`): `hash ‖ v ‖ r ‖ s`.
    pub fn ecrecover_input(&self, digest: &B256) -> [u8; 128] {
        let mut out = [0u8; 128];
        out[..32].copy_from_slice(digest.as_slice());
        out[63] = self.v;
        out[64..96].copy_from_slice(self.r.as_slice());
        out[96..128].copy_from_slice(self.s.as_slice());
        out
    }
}

/// Splits a concatenation of `count` signatures, all 64-byte or all 65-byte, into its parts.
/// Returns `None` if the length is neither `64 * count` nor `65 * count`.
pub fn split(blob: &[u8], count: usize) -> Option<core::slice::Chunks<'_, u8>> {
    if count == 0 {
        return None;
    }
    let width = if blob.len() == 64 * count {
        64
    } else if blob.len() == 65 * count {
        65
    } else {
        return None;
    };
    Some(blob.chunks(width))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig65(s_first: u8, v: u8) -> [u8; 65] {
        let mut b = [0x11u8; 65];
        b[32] = s_first;
        b[64] = v;
        b
    }

    #[test]
    fn parses_both_forms_to_the_same_signature() {
        for v in [27u8, 28] {
            let full = Signature::parse(&sig65(0x22, v)).unwrap();
            let compact = Signature::parse(&full.to_compact()).unwrap();
            assert_eq!(full, compact);
            assert_eq!(full.to_bytes(), sig65(0x22, v));
        }
        assert_eq!(Signature::parse(&sig65(0x22, 0)).unwrap().v, 27);
        assert_eq!(Signature::parse(&sig65(0x22, 1)).unwrap().v, 28);
    }

    #[test]
    fn refuses_bad_signatures() {
        assert_eq!(Signature::parse(&[0; 63]), Err(SignatureError::Length(63)));
        assert_eq!(Signature::parse(&[0; 66]), Err(SignatureError::Length(66)));
        assert_eq!(Signature::parse(&sig65(0x22, 29)), Err(SignatureError::V(29)));
        assert_eq!(Signature::parse(&sig65(0x80, 27)), Err(SignatureError::HighS));
        let mut high = [0u8; 65];
        high[..32].fill(1);
        high[32..64].copy_from_slice(HALF_ORDER.as_slice());
        high[64] = 27;
        assert!(Signature::parse(&high).is_ok());
        high[63] += 1;
        assert_eq!(Signature::parse(&high), Err(SignatureError::HighS));
        let mut zero_r = sig65(0x22, 27);
        zero_r[..32].fill(0);
        assert_eq!(Signature::parse(&zero_r), Err(SignatureError::ZeroScalar));
    }

    #[test]
    fn split_requires_one_width_for_all() {
        assert_eq!(split(&[0; 128], 2).unwrap().count(), 2);
        assert_eq!(split(&[0; 130], 2).unwrap().count(), 2);
        assert!(split(&[0; 129], 2).is_none());
        assert!(split(&[0; 64], 2).is_none());
        assert!(split(&[], 0).is_none());
    }
}
