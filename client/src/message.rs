//! The peer exchange's messages, as they travel between nodes: JSON bodies, each authenticated by
//! its sender's signature.
//!
//! A message's signature covers the exact bytes of its body and the judge's EIP-712 domain
//! separator: `keccak256("Avocado peer message" ‖ separator ‖ keccak256(body))`. The receiver
//! recovers the sender from it, so a body forged, altered, or replayed against another chain or
//! judge deployment names the wrong sender and is refused. Replaying a message to the node it was
//! meant for changes nothing: every message is idempotent (a state already held, a signature
//! already given, a proposal already known), and a rejection names the digest of the state it
//! rejects, so it cannot abort another proposal that happens to carry the same version.

use alloy_primitives::{keccak256, Address, Bytes, B256};
use avocado_codec::{signer, ChannelParams, Domain, Signature, State};
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};

use crate::signed::SignedState;

/// HTTP header carrying a message's signature (65 bytes, hex).
pub const SIGNATURE_HEADER: &str = "avocado-signature";
/// Largest message body a node accepts: an update and its base (two 16 KiB states in hex with
/// 255 signatures each) and framing.
pub const MAX_MESSAGE_BYTES: usize = 192 * 1024;

/// A channel's terms as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Terms {
    /// Participants, in signing order.
    pub participants: Vec<Address>,
    /// Distinguishes channels between the same participants.
    pub nonce: u64,
    /// Dispute window, in seconds.
    pub challenge_duration: u64,
    /// The executive contract, or the zero address.
    pub executive: Address,
}

impl From<&ChannelParams> for Terms {
    fn from(p: &ChannelParams) -> Self {
        Self {
            participants: p.participants.clone(),
            nonce: p.nonce,
            challenge_duration: p.challengeDuration,
            executive: p.executive,
        }
    }
}

impl From<&Terms> for ChannelParams {
    fn from(t: &Terms) -> Self {
        Self {
            participants: t.participants.clone(),
            nonce: t.nonce,
            challengeDuration: t.challenge_duration,
            executive: t.executive,
        }
    }
}

/// A state as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateJson {
    /// The channel.
    pub channel_id: B256,
    /// Version.
    pub version: u64,
    /// Application data.
    pub data: Bytes,
    /// Whether this state closes the channel.
    pub is_final: bool,
}

impl From<&State> for StateJson {
    fn from(s: &State) -> Self {
        Self { channel_id: s.channelId, version: s.version, data: s.data.clone(), is_final: s.isFinal }
    }
}

impl From<&StateJson> for State {
    fn from(s: &StateJson) -> Self {
        Self { channelId: s.channel_id, version: s.version, data: s.data.clone(), isFinal: s.is_final }
    }
}

/// A fully signed state as JSON: 65-byte signatures in participant order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedJson {
    /// The state.
    pub state: StateJson,
    /// One signature per participant.
    pub signatures: Vec<Bytes>,
}

impl From<&SignedState> for SignedJson {
    fn from(s: &SignedState) -> Self {
        Self {
            state: (&s.state).into(),
            signatures: s.signatures.iter().map(|g| Bytes::copy_from_slice(&g.to_bytes())).collect(),
        }
    }
}

impl TryFrom<&SignedJson> for SignedState {
    type Error = avocado_codec::SignatureError;
    fn try_from(s: &SignedJson) -> Result<Self, Self::Error> {
        Ok(Self {
            state: (&s.state).into(),
            signatures: s.signatures.iter().map(|b| Signature::parse(b)).collect::<Result<_, _>>()?,
        })
    }
}

/// A message from one participant's node to another's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Message {
    /// Proposes a channel: its terms, every participant's node address, the initial data.
    #[serde(rename_all = "camelCase")]
    ProposeChannel {
        /// The terms.
        terms: Terms,
        /// Peer API URL of each participant, in participant order.
        peers: Vec<String>,
        /// Data of version 0.
        data: Bytes,
    },
    /// Signs version 0 of a proposed channel.
    #[serde(rename_all = "camelCase")]
    AcceptChannel {
        /// The channel.
        channel_id: B256,
        /// The sender's signature of version 0.
        signature: Bytes,
    },
    /// Declines a proposed channel.
    #[serde(rename_all = "camelCase")]
    RejectChannel {
        /// The channel.
        channel_id: B256,
        /// The EIP-712 digest of the version 0 declined: a rejection names exactly what it
        /// rejects, so replaying it against another proposal changes nothing.
        digest: B256,
        /// Why, for the proposer's user.
        reason: String,
    },
    /// Proposes the next state of an open channel.
    #[serde(rename_all = "camelCase")]
    ProposeUpdate {
        /// The proposed state.
        state: StateJson,
        /// The fully signed state it builds on (a receiver that missed it catches up from it).
        base: SignedJson,
    },
    /// Signs a proposed update (sent later when a user decided by hand).
    #[serde(rename_all = "camelCase")]
    AcceptUpdate {
        /// The channel.
        channel_id: B256,
        /// The version signed.
        version: u64,
        /// The sender's signature of the proposed state.
        signature: Bytes,
    },
    /// Declines a proposed update.
    #[serde(rename_all = "camelCase")]
    RejectUpdate {
        /// The channel.
        channel_id: B256,
        /// The version declined.
        version: u64,
        /// The EIP-712 digest of the state declined: a rejection names exactly what it rejects,
        /// so replaying it against a later proposal with the same version changes nothing.
        digest: B256,
        /// Why.
        reason: String,
    },
    /// A fully signed state, sent by its proposer to every other participant.
    #[serde(rename_all = "camelCase")]
    Signed {
        /// The state and all signatures.
        signed: SignedJson,
    },
    /// Asks for the latest fully signed state the receiver holds.
    #[serde(rename_all = "camelCase")]
    Sync {
        /// The channel.
        channel_id: B256,
    },
}

/// The digest a node signs to send `body` under `domain`.
pub fn message_digest(domain: &Domain, body: &[u8]) -> B256 {
    let mut buf = Vec::with_capacity(20 + 64);
    buf.extend_from_slice(b"Avocado peer message");
    buf.extend_from_slice(domain.separator().as_slice());
    buf.extend_from_slice(keccak256(body).as_slice());
    keccak256(buf)
}

/// A message ready to send: its body and the hex signature for [`SIGNATURE_HEADER`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The JSON body.
    pub body: String,
    /// `0x` + 65-byte signature.
    pub signature: String,
}

impl Envelope {
    /// Serializes and signs `message`.
    pub fn seal(key: &SigningKey, domain: &Domain, message: &Message) -> Self {
        let body = serde_json::to_string(message).expect("messages always serialize");
        let sig = signer::sign(key, &message_digest(domain, body.as_bytes()));
        Self { body, signature: alloy_primitives::hex::encode_prefixed(sig.to_bytes()) }
    }
}

/// Why a received message is refused before it is looked at.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The signature header is missing or not a signature.
    #[error("missing or malformed {SIGNATURE_HEADER} header")]
    BadSignature,
    /// The body is not a message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Checks the signature of a received body and parses it: `(sender, message)`.
pub fn open(domain: &Domain, body: &[u8], signature: Option<&str>) -> Result<(Address, Message), OpenError> {
    let raw = signature.and_then(|s| alloy_primitives::hex::decode(s.trim()).ok()).ok_or(OpenError::BadSignature)?;
    let sig = Signature::parse(&raw).map_err(|_| OpenError::BadSignature)?;
    let from = signer::recover(&message_digest(domain, body), &sig).map_err(|_| OpenError::BadSignature)?;
    let message = serde_json::from_slice(body).map_err(|e| OpenError::Malformed(e.to_string()))?;
    Ok((from, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_message_opens_to_its_sender_and_nothing_else_does() {
        let key = SigningKey::from_slice(keccak256(b"peer").as_slice()).unwrap();
        let domain = Domain::new(412_346, Address::repeat_byte(9));
        let msg = Message::Sync { channel_id: B256::repeat_byte(1) };
        let env = Envelope::seal(&key, &domain, &msg);
        let (from, got) = open(&domain, env.body.as_bytes(), Some(&env.signature)).unwrap();
        assert_eq!(from, signer::address_of(key.verifying_key()));
        assert_eq!(got, msg);
        // Another judge deployment: the signature names someone else.
        let other = Domain::new(412_346, Address::repeat_byte(8));
        let (stranger, _) = open(&other, env.body.as_bytes(), Some(&env.signature)).unwrap();
        assert_ne!(stranger, from);
        // An altered body likewise.
        let altered = env.body.replace("0x01", "0x02");
        assert_ne!(open(&domain, altered.as_bytes(), Some(&env.signature)).unwrap().0, from);
        assert!(matches!(open(&domain, env.body.as_bytes(), None), Err(OpenError::BadSignature)));
        assert!(matches!(open(&domain, b"{", Some(&env.signature)), Err(OpenError::Malformed(_))));
    }

    #[test]
    fn wire_names_are_camel_case() {
        let msg = Message::AcceptUpdate { channel_id: B256::ZERO, version: 3, signature: Bytes::new() };
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.starts_with(r#"{"type":"acceptUpdate","channelId":"#), "{json}");
    }
}
