//! The node's errors: each names what went wrong for the person or program that sent the
//! request, and maps to one HTTP status on both APIs.

use crate::{chain::ChainError, store::StoreError};

/// Why the node refused or failed a request. Nothing is changed when one is returned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    /// The request is not well-formed (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The sender could not be authenticated: bad message signature or API token (HTTP 401).
    #[error("{0}")]
    Unauthorized(String),
    /// The sender is authenticated but may not do this, e.g. is not a participant (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// No such channel, proposal or state (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what the node holds: a stale or replayed version, a version
    /// gap, another state already signed, a concurrent proposal (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but its content is refused: invalid terms, policy, sizes,
    /// signatures that do not verify (HTTP 422).
    #[error("{0}")]
    Invalid(String),
    /// The node holds all it takes of this for now — pending proposals from parties it has no
    /// channel with, messages queued for one peer — and refuses more until some settle or
    /// expire; retrying later may succeed (HTTP 429).
    #[error("{0}")]
    Busy(String),
    /// A peer refused the proposal (HTTP 409 to the local app).
    #[error("{0}")]
    Rejected(String),
    /// A peer could not be reached in time (HTTP 504).
    #[error("{0}")]
    Unreachable(String),
    /// The chain refused or failed (HTTP 502).
    #[error("{0}")]
    Chain(#[from] ChainError),
    /// No chain is configured for this node (HTTP 503).
    #[error("this node runs without a chain: start it with --rpc-url and --judge")]
    NoChain,
    /// The store failed (HTTP 500).
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadySigned { .. } => Self::Conflict(e.to_string()),
            other => Self::Store(other.to_string()),
        }
    }
}

impl NodeError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) | Self::Rejected(_) => 409,
            Self::Invalid(_) => 422,
            Self::Busy(_) => 429,
            Self::Store(_) => 500,
            Self::Chain(_) => 502,
            Self::NoChain => 503,
            Self::Unreachable(_) => 504,
        }
    }
}
