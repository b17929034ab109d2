//! The node's one error type: each variant names what went wrong for the person or program that
//! sent the request, maps to one HTTP status on both APIs, and is read back from that status by
//! a peer ([`NodeError::from_status`]), so a refusal keeps its kind across the network.

use crate::{chain::ChainError, store::StoreError};

/// Why the node refused or failed a request. Nothing is changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// The chain refused or failed (HTTP 502); a refusal carries the judge's (or escrow's)
    /// decoded error.
    #[error("{0}")]
    Chain(#[from] ChainError),
    /// No chain is configured for this node (HTTP 503).
    #[error("this node runs without a chain: start it with --rpc-url and --judge")]
    NoChain,
    /// The store failed (HTTP 500).
    #[error("{0}")]
    Store(String),
}

/// One mapping: a store's refusal to record a signature is a conflict with what this node
/// signed before; anything else is the store failing.
impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadySigned { version, .. } => {
                Self::Conflict(format!("this node already signed another state as version {version}"))
            }
            e @ StoreError::FinalSigned { .. } => Self::Conflict(e.to_string()),
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

    /// The error a peer meant by answering `status` with `message` (the other direction of
    /// [`NodeError::status`]). A 2xx is not an error; a 5xx, or anything unknown, means the peer
    /// failed rather than answered, and reads as [`NodeError::Unreachable`] (worth retrying).
    pub fn from_status(status: u16, message: String) -> Self {
        match status {
            400 => Self::BadRequest(message),
            401 => Self::Unauthorized(message),
            403 => Self::Forbidden(message),
            404 => Self::NotFound(message),
            409 => Self::Conflict(message),
            422 => Self::Invalid(message),
            429 => Self::Busy(message),
            _ => Self::Unreachable(message),
        }
    }

    /// Whether this is a peer's (or this node's) answer on the merits: asking again does not
    /// change it. A proposal a peer refused fails; a queued message refused is dropped. Not a
    /// refusal: a peer that is busy (429) or cannot be reached, and local failures.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::BadRequest(_)
                | Self::Unauthorized(_)
                | Self::Forbidden(_)
                | Self::NotFound(_)
                | Self::Conflict(_)
                | Self::Invalid(_)
                | Self::Rejected(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refusal a peer answers reads back as the same kind of error, and a refusal stays a
    /// refusal across the network (the proposer gives up, the outbox drops the message).
    #[test]
    fn status_maps_both_ways() {
        let all = [
            NodeError::BadRequest("m".into()),
            NodeError::Unauthorized("m".into()),
            NodeError::Forbidden("m".into()),
            NodeError::NotFound("m".into()),
            NodeError::Conflict("m".into()),
            NodeError::Invalid("m".into()),
            NodeError::Busy("m".into()),
        ];
        for e in all {
            let back = NodeError::from_status(e.status(), "m".into());
            assert_eq!(back, e);
            assert_eq!(back.is_refusal(), e.is_refusal());
        }
        // 409 from a peer is a conflict; the local app sees a rejection as 409 too.
        assert_eq!(NodeError::Rejected("m".into()).status(), 409);
        assert!(NodeError::Rejected("m".into()).is_refusal());
        // Busy and unreachable peers are asked again; server failures are not answers.
        assert!(!NodeError::Busy("m".into()).is_refusal());
        assert!(!NodeError::from_status(500, "m".into()).is_refusal());
        assert!(matches!(NodeError::from_status(502, "m".into()), NodeError::Unreachable(_)));
        assert_eq!(NodeError::from_status(504, "m".into()).status(), 504);
    }

    #[test]
    fn a_store_refusal_is_a_conflict() {
        let e: NodeError = StoreError::AlreadySigned { channel: Default::default(), version: 3 }.into();
        assert_eq!(e, NodeError::Conflict("this node already signed another state as version 3".into()));
        let e: NodeError = StoreError::FinalSigned { channel: Default::default(), version: 4 }.into();
        assert_eq!(e.status(), 409);
        assert_eq!(NodeError::from(StoreError::Database("disk".into())).status(), 500);
    }
}
