//! The peer API: node ↔ node over HTTP.
//!
//! One route, `POST /peer/v1/message`: the body is a JSON [`Message`], the
//! `avocado-signature` header its sender's signature (see [`crate::message`]). Bodies over
//! [`MAX_MESSAGE_BYTES`] are refused before they are read. Answers are a JSON [`Reply`], or an
//! error status with `{"error": "..."}`.
//!
//! The client side retries with backoff while a peer is unreachable (connection refused, 5xx),
//! never when the peer answered a refusal: a refusal does not improve by asking again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::{
    body::Bytes as Body,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};

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

/// Sends messages to other nodes.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
}

impl Default for PeerClient {
    fn default() -> Self {
        Self::new()
    }
}

fn refusal(status: u16, message: String) -> NodeError {
    match status {
        400 => NodeError::BadRequest(message),
        401 => NodeError::Unauthorized(message),
        403 => NodeError::Forbidden(message),
        404 => NodeError::NotFound(message),
        409 => NodeError::Conflict(message),
        422 => NodeError::Invalid(message),
        429 => NodeError::Busy(message),
        _ => NodeError::Unreachable(message),
    }
}

impl PeerClient {
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

    /// One attempt. Refusals come back as the matching [`NodeError`]; a peer that cannot be
    /// reached, or fails, as [`NodeError::Unreachable`].
    pub async fn send_once(&self, url: &str, envelope: &Envelope) -> Result<Reply, NodeError> {
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
        Err(refusal(status, message))
    }

    /// Sends, retrying with backoff while the peer is unreachable, for up to `timeout`.
    pub async fn send(&self, url: &str, envelope: &Envelope, timeout: Duration) -> Result<Reply, NodeError> {
        let deadline = Instant::now() + timeout;
        let mut backoff = Duration::from_millis(25);
        loop {
            match self.send_once(url, envelope).await {
                Err(NodeError::Unreachable(m)) if Instant::now() + backoff < deadline => {
                    tracing::debug!(%url, "retrying: {m}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Delivers in the background, retrying for up to `timeout`.
    pub fn spawn_delivery(&self, url: String, envelope: Envelope, timeout: Duration) {
        let client = self.clone();
        tokio::spawn(async move {
            if let Err(e) = client.send(&url, &envelope, timeout).await {
                tracing::debug!(%url, "delivery abandoned: {e}");
            }
        });
    }
}
