//! The peer API: node ↔ node over HTTP.
//!
//! One route, `POST /peer/v1/message`: the body is a JSON [`Message`], the
//! `avocado-signature` header its sender's signature (see [`crate::message`]). Bodies over
//! [`MAX_MESSAGE_BYTES`] are refused before they are read. Answers are a JSON [`Reply`], or an
//! error status with `{"error": "..."}`.
//!
//! How a node reaches its peers is a [`Transport`]: [`HttpTransport`] here, and
//! [`InProcess`] (nodes in one process, no sockets) for tests and simulations. [`send`] retries
//! with backoff while a peer is unreachable (connection refused, 5xx), never when the peer
//! answered (a refusal does not improve by asking again, see [`NodeError::is_refusal`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use axum::{
    body::Bytes as Body,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use futures::future::BoxFuture;

use super::{Node, NodeError, Reply};
use crate::message::{open, Envelope, OpenError, MAX_MESSAGE_BYTES, SIGNATURE_HEADER};

/// The path messages are posted to.
pub const MESSAGE_PATH: &str = "/peer/v1/message";

/// An error as the APIs answer it.
pub(crate) fn error_response(e: &NodeError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
}

/// The peer API's routes over `node`.
pub fn router(node: Arc<Node>) -> Router {
    Router::new().route(MESSAGE_PATH, post(receive)).layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES)).with_state(node)
}

async fn receive(State(node): State<Arc<Node>>, headers: HeaderMap, body: Body) -> Response {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let (from, message) = match open(node.domain(), &body, signature) {
        Ok(m) => m,
        Err(OpenError::BadSignature) => {
            return error_response(&NodeError::Unauthorized(OpenError::BadSignature.to_string()))
        }
        Err(e @ OpenError::Malformed(_)) => return error_response(&NodeError::BadRequest(e.to_string())),
    };
    match node.handle(from, message).await {
        Ok(reply) => Json(reply).into_response(),
        Err(e) => {
            tracing::debug!(%from, error = %e, "peer message refused");
            error_response(&e)
        }
    }
}

/// How a node reaches other nodes: one attempt to deliver a sealed message and read the answer.
pub trait Transport: Send + Sync {
    /// One attempt. A refusal comes back as the matching [`NodeError`]; a peer that cannot be
    /// reached, or fails, as [`NodeError::Unreachable`].
    fn send_once<'a>(&'a self, url: &'a str, envelope: &'a Envelope) -> BoxFuture<'a, Result<Reply, NodeError>>;
}

/// Sends through `transport`, retrying with backoff while the peer is unreachable, for up to
/// `timeout`.
pub async fn send(
    transport: &dyn Transport,
    url: &str,
    envelope: &Envelope,
    timeout: Duration,
) -> Result<Reply, NodeError> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(25);
    loop {
        match transport.send_once(url, envelope).await {
            Err(NodeError::Unreachable(m)) if Instant::now() + backoff < deadline => {
                tracing::debug!(%url, "retrying: {m}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// Delivers in the background through `transport`, retrying for up to `timeout`.
pub fn spawn_delivery(transport: Arc<dyn Transport>, url: String, envelope: Envelope, timeout: Duration) {
    tokio::spawn(async move {
        if let Err(e) = send(&*transport, &url, &envelope, timeout).await {
            tracing::debug!(%url, "delivery abandoned: {e}");
        }
    });
}

/// Sends messages to other nodes over HTTP.
#[derive(Clone)]
pub struct HttpTransport {
    http: reqwest::Client,
}

impl Default for HttpTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpTransport {
    /// A client with short connection timeouts (peers are nodes, not browsers).
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            // Below the peer listener's idle timeout (its header timeout, 5 s): a pooled
            // connection is dropped here before the other side closes it under a request.
            .pool_idle_timeout(Duration::from_secs(4))
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client builds");
        Self { http }
    }

    async fn post(&self, url: &str, envelope: &Envelope) -> Result<Reply, NodeError> {
        let endpoint = format!("{}{MESSAGE_PATH}", url.trim_end_matches('/'));
        let response = self
            .http
            .post(&endpoint)
            .header(SIGNATURE_HEADER, &envelope.signature)
            .header("content-type", "application/json")
            .body(envelope.body.clone())
            .send()
            .await
            .map_err(|e| NodeError::Unreachable(format!("peer {url} unreachable: {e}")))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| NodeError::Unreachable(format!("peer {url}: {e}")))?;
        if status == 200 {
            return serde_json::from_str(&text)
                .map_err(|e| NodeError::Unreachable(format!("peer {url} answered something unreadable: {e}")));
        }
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or(text);
        if status >= 500 {
            return Err(NodeError::Unreachable(format!("peer {url} failed ({status}): {message}")));
        }
        Err(NodeError::from_status(status, message))
    }
}

impl Transport for HttpTransport {
    fn send_once<'a>(&'a self, url: &'a str, envelope: &'a Envelope) -> BoxFuture<'a, Result<Reply, NodeError>> {
        Box::pin(self.post(url, envelope))
    }
}

/// Nodes in one process reaching each other by URL without sockets: the message is opened
/// (its signature checked) and handled exactly as the peer API would, and an error crosses as
/// its HTTP status would (so a refusal stays a refusal). A URL with no node, or whose node is
/// gone, is unreachable.
#[derive(Default)]
pub struct InProcess {
    nodes: RwLock<HashMap<String, Weak<Node>>>,
}

impl InProcess {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `node` reachable at `url` (replacing whatever was there: a restarted node).
    pub fn register(&self, url: &str, node: &Arc<Node>) {
        self.nodes.write().unwrap_or_else(|p| p.into_inner()).insert(url.to_string(), Arc::downgrade(node));
    }

    /// Makes `url` unreachable (a node that went down).
    pub fn unregister(&self, url: &str) {
        self.nodes.write().unwrap_or_else(|p| p.into_inner()).remove(url);
    }

    async fn deliver(&self, url: &str, envelope: &Envelope) -> Result<Reply, NodeError> {
        let node = self.nodes.read().unwrap_or_else(|p| p.into_inner()).get(url).and_then(Weak::upgrade);
        let node = node.ok_or_else(|| NodeError::Unreachable(format!("peer {url} unreachable")))?;
        if envelope.body.len() > MAX_MESSAGE_BYTES {
            return Err(NodeError::from_status(413, "body too large".into()));
        }
        let (from, message) = match open(node.domain(), envelope.body.as_bytes(), Some(&envelope.signature)) {
            Ok(m) => m,
            Err(OpenError::BadSignature) => return Err(NodeError::Unauthorized(OpenError::BadSignature.to_string())),
            Err(e @ OpenError::Malformed(_)) => return Err(NodeError::BadRequest(e.to_string())),
        };
        // What crosses the wire is the status and the message, nothing more.
        node.handle(from, message).await.map_err(|e| NodeError::from_status(e.status(), e.to_string()))
    }
}

impl Transport for InProcess {
    fn send_once<'a>(&'a self, url: &'a str, envelope: &'a Envelope) -> BoxFuture<'a, Result<Reply, NodeError>> {
        Box::pin(self.deliver(url, envelope))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy_primitives::{Address, Bytes};
    use avocado_codec::Domain;
    use k256::ecdsa::SigningKey;

    use super::*;
    use crate::message::Terms;
    use crate::node::{Bounds, NodeConfig, Outcome, Policy};
    use crate::store::MemStore;

    fn node(i: u8, auto_accept: bool, transport: &Arc<InProcess>) -> Arc<Node> {
        let config = NodeConfig {
            key: SigningKey::from_slice(&[i + 1; 32]).unwrap(),
            domain: Domain::new(412_346, Address::repeat_byte(0x99)),
            peer_url: format!("inproc://{i}"),
            policy: Policy { min_challenge_duration: 60, auto_accept },
            peer_timeout: Duration::from_secs(1),
            escrow: None,
            watch: Default::default(),
            bounds: Bounds::default(),
        };
        let node = Node::with_transport(config, Arc::new(MemStore::new()), None, transport.clone());
        transport.register(&format!("inproc://{i}"), &node);
        node
    }

    /// Three nodes in one process, no sockets: a channel and updates are fully signed through
    /// the real shell and core; a refusal crosses as a refusal, and a node that is gone is
    /// unreachable.
    #[tokio::test]
    async fn nodes_in_one_process_sign_through_the_in_process_transport() {
        let transport = Arc::new(InProcess::new());
        let nodes: Vec<Arc<Node>> = (0..3).map(|i| node(i, true, &transport)).collect();
        let terms = Terms {
            participants: nodes.iter().map(|n| n.address()).collect(),
            nonce: 1,
            challenge_duration: 3_600,
            executive: Address::ZERO,
        };
        let peers: Vec<String> = (0..3).map(|i| format!("inproc://{i}")).collect();
        let wait = Duration::from_secs(5);
        let (id, opened) = nodes[0].propose_channel(terms, peers, Bytes::from_static(b"v0"), wait).await.unwrap();
        assert!(matches!(opened, Outcome::Signed(s) if s.state.version == 0 && s.signatures.len() == 3));
        for v in 1..=3u64 {
            let by = &nodes[v as usize % 3];
            let outcome = by.propose_update(id, Bytes::from(vec![v as u8]), false, wait).await.unwrap();
            let Outcome::Signed(s) = outcome else { panic!("v{v} not signed: {outcome:?}") };
            assert_eq!(s.state.version, v);
            assert_eq!(by.store().latest(id).unwrap().unwrap(), s);
        }
        // Too much data: refused by the proposer's own rules before anything is sent.
        let big = Bytes::from(vec![0; avocado_codec::limits::MAX_DATA_LEN + 1]);
        assert_eq!(nodes[1].propose_update(id, big, false, wait).await.unwrap_err().status(), 422);
        // A peer that is gone: the proposal fails as unreachable, and its version is skipped.
        transport.unregister("inproc://2");
        let err = nodes[0].propose_update(id, Bytes::from_static(b"x"), false, wait).await.unwrap_err();
        assert!(matches!(err, NodeError::Unreachable(_)), "{err}");
    }
}
