//! The payment routes of the app API (`/v1/pay…`), beside the other routes ([`super::app`]):
//! each handler parses its request, calls the payment logic of [`crate::pay`], and answers in
//! the app API's format (a status and `{"error": "..."}` on failure).
//!
//! | method and path | does |
//! |---|---|
//! | `POST /v1/pay` | proposes a payment channel of the node's escrow, opens it on chain, deposits |
//! | `POST /v1/pay/withdraw` | withdraws this node's credit from the escrow |
//! | `GET /v1/pay/{id}` | balances, counted deposits, deposits on chain, settlement |
//! | `POST /v1/pay/{id}/deposit`, `/count`, `/send`, `/close` | deposit and count it, count deposits, pay, close and settle |

#![allow(clippy::result_large_err)] // handlers return `Result<Response, Response>`

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use axum::{
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};

use super::app::{channel_id, Body};
use super::{peer::error_response, Node, NodeError};
use crate::pay::PayOpen;

/// `POST /v1/pay`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayOpenRequest {
    /// The other participants, in order (this node is participant 0).
    pub participants: Vec<Address>,
    /// Their peer URLs.
    pub peers: Vec<String>,
    /// Dispute window (seconds).
    pub challenge_duration: u64,
    /// Channel nonce; random when absent.
    #[serde(default)]
    pub nonce: Option<u64>,
    /// What this node deposits (wei), counted in version 1.
    #[serde(default)]
    pub deposit: U256,
}

/// `POST /v1/pay/{id}/send` and `/deposit`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmountRequest {
    /// Wei.
    pub amount: U256,
    /// Payee (send only).
    #[serde(default)]
    pub to: Option<Address>,
}

/// Handlers answer a response either way; errors are already in the API's format.
type ApiResult = Result<Response, Response>;

fn wait() -> Duration {
    Duration::from_secs(30)
}

fn err(e: NodeError) -> Response {
    error_response(&e)
}

/// The payment routes of the app API (merged into [`super::app::router`], behind its token).
pub(crate) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/v1/pay", post(open))
        .route("/v1/pay/withdraw", post(withdraw))
        .route("/v1/pay/{id}", get(view))
        .route("/v1/pay/{id}/deposit", post(deposit))
        .route("/v1/pay/{id}/count", post(count))
        .route("/v1/pay/{id}/send", post(send))
        .route("/v1/pay/{id}/close", post(close))
}

async fn open(State(node): State<Arc<Node>>, Body(req): Body<PayOpenRequest>) -> ApiResult {
    let open = PayOpen {
        others: req.participants,
        peers: req.peers,
        challenge_duration: req.challenge_duration,
        nonce: req.nonce.unwrap_or_else(rand::random),
        deposit: req.deposit,
    };
    let opened = node.pay_open(open, wait()).await.map_err(err)?;
    let mut body = serde_json::json!({ "channelId": opened.channel_id, "open": opened.open });
    if let Some((receipt, version)) = opened.deposit {
        body["deposit"] = serde_json::json!(receipt);
        body["version"] = serde_json::json!(version);
    }
    Ok(Json(body).into_response())
}

async fn deposit(State(node): State<Arc<Node>>, Path(id): Path<String>, Body(req): Body<AmountRequest>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    let (receipt, version) = node.pay_deposit(id, req.amount, wait()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "deposit": receipt, "version": version })).into_response())
}

async fn count(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    let version = node.pay_count(id, wait()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "version": version })).into_response())
}

async fn send(State(node): State<Arc<Node>>, Path(id): Path<String>, Body(req): Body<AmountRequest>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    let version = node.pay_send(id, req.amount, req.to, wait()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "version": version })).into_response())
}

async fn view(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    Ok(Json(node.pay_view(id).await.map_err(err)?).into_response())
}

async fn close(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    let id = channel_id(&id).map_err(err)?;
    let (concluded, settled) = node.pay_close(id, wait()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "conclude": concluded, "settle": settled })).into_response())
}

async fn withdraw(State(node): State<Arc<Node>>) -> ApiResult {
    let (amount, receipt) = node.pay_withdraw().await.map_err(err)?;
    Ok(Json(serde_json::json!({ "amount": amount, "withdraw": receipt })).into_response())
}
