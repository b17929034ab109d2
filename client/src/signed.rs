//! A fully signed state: what the judge accepts and what a node must never lose.

use alloy_primitives::Bytes;
use avocado_codec::{Signature, State};

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
