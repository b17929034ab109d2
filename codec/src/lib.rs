#![doc = include_str!("../README.md")]
#![no_std]

extern crate alloc;

pub mod calldata;
pub mod channel;
pub mod eip712;
pub mod payment;
pub mod signature;
#[cfg(feature = "k256")]
pub mod signer;

pub use channel::{channel_id, validate_params, ParamsError};
pub use eip712::Domain;
pub use signature::{Signature, SignatureError};

/// The Solidity view of the judge: the signed structs, its calls, events and errors, generated
/// from the committed interface `sol/IAvocadoJudge.sol`. Judge, client and tests all use these
/// types, so the ABI has one source of truth.
#[allow(missing_docs)]
mod sol {
    alloy_sol_types::sol!(
        #[sol(all_derives)]
        "sol/IAvocadoJudge.sol"
    );
}
pub use sol::{Challenge, ChannelParams, IAvocadoJudge, State};

/// Phases reported by the judge's `status` call.
pub mod phase {
    /// The judge has never seen the channel.
    pub const NONE: u8 = 0;
    /// A state is stored and no dispute runs.
    pub const OPEN: u8 = 1;
    /// A dispute runs until `finalizesAt`.
    pub const CHALLENGE: u8 = 2;
    /// Concluded, or the dispute deadline passed. Nothing can change the channel any more.
    pub const FINAL: u8 = 3;
}

/// Protocol limits, enforced by the judge and by every node before it signs.
pub mod limits {
    /// Largest `State.data`, in bytes.
    pub const MAX_DATA_LEN: usize = 16 * 1024;
    /// Fewest participants of a channel.
    pub const MIN_PARTICIPANTS: usize = 2;
    /// Most participants of a channel.
    pub const MAX_PARTICIPANTS: usize = 255;
    /// Longest dispute window: ten years of 365 days, in seconds.
    pub const MAX_CHALLENGE_DURATION: u64 = 10 * 365 * 24 * 60 * 60;
}
