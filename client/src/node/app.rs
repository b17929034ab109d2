//! The app API: how local programs (and the `avocado` command) drive a node.
//!
//! HTTP + JSON on loopback only, every request carrying `Authorization: Bearer <token>` (the
//! token the node writes, readable by its owner only, into its data folder). Errors are a status
//! and `{"error": "..."}`. `GET /v1/events` is a server-sent event stream of everything the node
//! sees: proposals waiting for a decision, fully signed updates, rejections, the judge's events
//! and the watchtower's answers.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /v1/node` | the node's address, chain, judge, peer URL, and where the watchtower stands (`lag` in blocks) |
//! | `GET /v1/channels`, `GET /v1/channels/{id}` | channels and their latest fully signed state |
//! | `POST /v1/channels` | proposes a channel (and opens it on chain once signed) |
//! | `POST /v1/channels/{id}/accept`, `/reject` | decides a proposed channel |
//! | `POST /v1/channels/{id}/updates` | proposes the next state |
//! | `POST /v1/channels/{id}/updates/{version}/accept`, `/reject` | decides a proposed update |
//! | `GET /v1/channels/{id}/states/{version}` | a fully signed state from the history |
//! | `POST /v1/channels/{id}/checkpoint`, `/challenge`, `/conclude`, `/close` | chain operations |
//! | `GET /v1/channels/{id}/status` | the judge's status of the channel, read now |
//! | `GET /v1/events` | the event stream |
//!
//! The payment routes (`/v1/pay…`) are in [`super::pay_api`], merged here behind the same token.

#![allow(clippy::result_large_err)] // handlers return `Result<Response, Response>`

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256};
use axum::{
    extract::{rejection::JsonRejection, FromRequest, Path, Request, State},
    http::{header::AUTHORIZATION, StatusCode},
    middleware::{self, Next},
    response::{
        sse::{Event as SseEvent, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Json, Router,
};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio_stream::{wrappers::BroadcastStream, StreamExt};

use super::{peer::error_response, Node, NodeError, Outcome};
use crate::message::{SignedJson, Terms};
use crate::store::ChannelRecord;

/// A JSON body whose rejection is answered in the API's error format.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(error_response(&NodeError::BadRequest(rejection_text(&e)))),
        }
    }
}

fn rejection_text(e: &JsonRejection) -> String {
    format!("malformed request: {}", e.body_text())
}

pub(crate) fn channel_id(s: &str) -> Result<B256, NodeError> {
    s.parse().map_err(|_| NodeError::BadRequest(format!("{s} is not a channel id (32 bytes of hex)")))
}

/// Handlers answer a response either way; errors are already in the API's format.
type ApiResult = Result<Response, Response>;

fn err(e: NodeError) -> Response {
    error_response(&e)
}

/// A channel as the app API shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    /// What the node keeps about the channel.
    #[serde(flatten)]
    pub record: ChannelRecord,
    /// The latest fully signed state.
    pub latest: Option<SignedJson>,
}

/// `POST /v1/channels`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProposeChannelRequest {
    /// Participants in signing order (this node among them).
    pub participants: Vec<Address>,
    /// Each participant's peer API URL, in the same order.
    pub peers: Vec<String>,
    /// Channel nonce; random when absent.
    #[serde(default)]
    pub nonce: Option<u64>,
    /// Dispute window (seconds).
    pub challenge_duration: u64,
    /// The executive contract.
    #[serde(default)]
    pub executive: Option<Address>,
    /// Data of version 0.
    #[serde(default)]
    pub data: Bytes,
    /// Seconds to wait for every signature before answering 202.
    #[serde(default)]
    pub wait: Option<f64>,
    /// Post `open` once version 0 is fully signed (default: yes, when a chain is configured).
    #[serde(default)]
    pub open_on_chain: Option<bool>,
}

/// `POST /v1/channels/{id}/updates`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProposeUpdateRequest {
    /// New data.
    pub data: Bytes,
    /// Whether this state closes the channel.
    #[serde(default)]
    pub is_final: bool,
    /// Seconds to wait for every signature before answering 202.
    #[serde(default)]
    pub wait: Option<f64>,
}

/// `POST .../reject`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectRequest {
    /// Why (shown to the proposer).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST .../close`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloseRequest {
    /// Final data (default: the latest data).
    #[serde(default)]
    pub data: Option<Bytes>,
    /// Seconds to wait for the final state's signatures.
    #[serde(default)]
    pub wait: Option<f64>,
}

fn wait_of(w: Option<f64>) -> Duration {
    Duration::from_secs_f64(w.unwrap_or(30.0).clamp(0.0, 3600.0))
}

fn outcome(id: B256, o: Outcome) -> Response {
    match o {
        Outcome::Signed(full) => {
            Json(serde_json::json!({ "channelId": id, "status": "signed", "signed": SignedJson::from(&full) }))
                .into_response()
        }
        Outcome::Pending { version } => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "channelId": id, "status": "pending", "version": version })),
        )
            .into_response(),
    }
}

/// The app API's routes over `node`, guarded by `token`.
pub fn router(node: Arc<Node>, token: String) -> Router {
    let token = Arc::new(token);
    Router::new()
        .route("/v1/node", get(info))
        .route("/v1/channels", get(list).post(propose_channel))
        .route("/v1/channels/{id}", get(show))
        .route("/v1/channels/{id}/accept", post(accept_channel))
        .route("/v1/channels/{id}/reject", post(reject_channel))
        .route("/v1/channels/{id}/updates", post(propose_update))
        .route("/v1/channels/{id}/updates/{version}/accept", post(accept_update))
        .route("/v1/channels/{id}/updates/{version}/reject", post(reject_update))
        .route("/v1/channels/{id}/states/{version}", get(state_at))
        .route("/v1/channels/{id}/checkpoint", post(checkpoint))
        .route("/v1/channels/{id}/challenge", post(challenge))
        .route("/v1/channels/{id}/conclude", post(conclude))
        .route("/v1/channels/{id}/close", post(close))
        .route("/v1/channels/{id}/status", get(status))
        .route("/v1/events", get(events))
        .merge(super::pay_api::routes())
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let token = token.clone();
            async move { authorize(&token, req, next).await }
        }))
        .with_state(node)
}

async fn authorize(token: &str, req: Request, next: Next) -> Response {
    let given = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => next.run(req).await,
        Some(_) => err(NodeError::Unauthorized("wrong API token".into())),
        None => err(NodeError::Unauthorized("missing API token: send Authorization: Bearer <token>".into())),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn info(State(node): State<Arc<Node>>) -> Response {
    Json(serde_json::json!({
        "address": node.address(),
        "chainId": node.domain().chain_id,
        "judge": node.domain().judge,
        "peerUrl": node.peer_url(),
        "chain": node.chain().is_some(),
        // How far behind the head the watchtower reads the judge's logs (`lag`, in blocks).
        "watchtower": node.chain().is_some().then(|| node.watch_status()),
    }))
    .into_response()
}

fn view(node: &Node, record: ChannelRecord) -> Result<ChannelView, NodeError> {
    let latest = node.store().latest(record.id)?.as_ref().map(SignedJson::from);
    Ok(ChannelView { record, latest })
}

async fn list(State(node): State<Arc<Node>>) -> ApiResult {
    let records = node.store().channels().map_err(|e| err(e.into()))?;
    let views = records.into_iter().map(|r| view(&node, r)).collect::<Result<Vec<_>, _>>().map_err(err)?;
    Ok(Json(views).into_response())
}

async fn show(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    let record = node
        .store()
        .channel(id)
        .map_err(|e| err(e.into()))?
        .ok_or_else(|| err(NodeError::NotFound(format!("no channel {id}"))))?;
    Ok(Json(view(&node, record).map_err(err)?).into_response())
}

async fn propose_channel(State(node): State<Arc<Node>>, Body(req): Body<ProposeChannelRequest>) -> ApiResult {
    let terms = Terms {
        participants: req.participants,
        nonce: req.nonce.unwrap_or_else(rand::random),
        challenge_duration: req.challenge_duration,
        executive: req.executive.unwrap_or_default(),
    };
    let (id, o) = node.propose_channel(terms, req.peers, req.data, wait_of(req.wait)).await.map_err(err)?;
    let open_on_chain = req.open_on_chain.unwrap_or(true) && node.chain().is_some();
    if let (Outcome::Signed(full), true) = (&o, open_on_chain) {
        let receipt = node.open_on_chain(id).await.map_err(err)?;
        return Ok(Json(serde_json::json!({
            "channelId": id, "status": "signed", "signed": SignedJson::from(full), "open": receipt,
        }))
        .into_response());
    }
    Ok(outcome(id, o))
}

async fn accept_channel(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    node.decide_channel(id, true, String::new()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "status": "accepted" })).into_response())
}

async fn reject_channel(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Body(req): Body<RejectRequest>,
) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    node.decide_channel(id, false, req.reason.unwrap_or_else(|| "declined".into())).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "status": "rejected" })).into_response())
}

async fn propose_update(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Body(req): Body<ProposeUpdateRequest>,
) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    let o = node.propose_update(id, req.data, req.is_final, wait_of(req.wait)).await.map_err(err)?;
    Ok(outcome(id, o))
}

async fn accept_update(State(node): State<Arc<Node>>, Path((id, version)): Path<(String, u64)>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    node.decide_update(id, version, true, String::new()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "version": version, "status": "accepted" })).into_response())
}

async fn reject_update(
    State(node): State<Arc<Node>>,
    Path((id, version)): Path<(String, u64)>,
    Body(req): Body<RejectRequest>,
) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    node.decide_update(id, version, false, req.reason.unwrap_or_else(|| "declined".into())).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "version": version, "status": "rejected" })).into_response())
}

async fn state_at(State(node): State<Arc<Node>>, Path((id, version)): Path<(String, u64)>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    let s = node
        .store()
        .signed_state(id, version)
        .map_err(|e| err(e.into()))?
        .ok_or_else(|| err(NodeError::NotFound(format!("no fully signed version {version} of {id} here"))))?;
    Ok(Json(SignedJson::from(&s)).into_response())
}

fn chain_answer(id: B256, call: &str, r: Result<(u64, crate::chain::TxReceipt), NodeError>) -> ApiResult {
    let (version, receipt) = r.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "call": call, "version": version, "receipt": receipt }))
        .into_response())
}

async fn checkpoint(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    chain_answer(id, "checkpoint", node.checkpoint(id).await)
}

async fn challenge(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    chain_answer(id, "challenge", node.challenge(id).await)
}

async fn conclude(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    chain_answer(id, "conclude", node.conclude(id).await)
}

async fn close(State(node): State<Arc<Node>>, Path(id): Path<String>, Body(req): Body<CloseRequest>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    chain_answer(id, "conclude", node.close(id, req.data, wait_of(req.wait)).await)
}

async fn status(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    let chain = node.chain().ok_or_else(|| err(NodeError::NoChain))?;
    let s = chain.status(id).await.map_err(|e| err(e.into()))?;
    let head = chain.head().await.map_err(|e| err(e.into()))?;
    Ok(Json(serde_json::json!({ "channelId": id, "status": s, "now": head.timestamp, "block": head.number }))
        .into_response())
}

async fn events(State(node): State<Arc<Node>>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(node.subscribe()).filter_map(|e| {
        e.ok().map(|event| Ok(SseEvent::default().json_data(&event).unwrap_or_else(|_| SseEvent::default())))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
