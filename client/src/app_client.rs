//! A client of a node's app API, for the `avocado` command and for programs written in Rust.

use std::path::Path;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::message::SignedJson;
use crate::node::app::ChannelView;
use crate::node::Event;
use crate::service::read_info;

/// Why an app API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The node answered an error status.
    #[error("{message} (HTTP {status})")]
    Status {
        /// HTTP status.
        status: u16,
        /// The node's message.
        message: String,
    },
    /// The node could not be reached.
    #[error("cannot reach the node at {0}: {1}")]
    Unreachable(String, String),
    /// The answer did not parse.
    #[error("unexpected answer from the node: {0}")]
    Unexpected(String),
}

/// A proposal's result as the API reports it.
#[derive(Clone, Debug)]
pub enum Proposed {
    /// Fully signed.
    Signed {
        /// The channel.
        channel_id: B256,
        /// The state and its signatures.
        signed: SignedJson,
        /// The whole answer (e.g. with the `open` receipt).
        raw: Value,
    },
    /// Waiting for other participants' decisions.
    Pending {
        /// The channel.
        channel_id: B256,
        /// The proposed version.
        version: u64,
    },
}

impl Proposed {
    /// The fully signed state, or an error saying it is still pending.
    pub fn signed(self) -> Result<SignedJson, ApiError> {
        match self {
            Self::Signed { signed, .. } => Ok(signed),
            Self::Pending { version, .. } => {
                Err(ApiError::Unexpected(format!("version {version} is still waiting for signatures")))
            }
        }
    }

    /// The channel.
    pub fn channel_id(&self) -> B256 {
        match self {
            Self::Signed { channel_id, .. } | Self::Pending { channel_id, .. } => *channel_id,
        }
    }
}

/// A node's app API.
#[derive(Clone)]
pub struct AppClient {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl AppClient {
    /// A client of the API at `url` with `token`.
    pub fn new(url: &str, token: &str) -> Self {
        // Pooled connections are dropped before the node closes them as idle (its app listener's
        // header timeout, 30 s).
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("an HTTP client builds");
        Self { url: url.trim_end_matches('/').to_string(), token: token.to_string(), http }
    }

    /// A client of the node running with data folder `dir` (reads `node.json` and `app.token`).
    pub fn from_data_dir(dir: &Path) -> anyhow::Result<Self> {
        let info = read_info(dir)?;
        let token = std::fs::read_to_string(dir.join("app.token"))
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.join("app.token").display()))?;
        Ok(Self::new(&info.app_url, token.trim()))
    }

    /// The API's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, T), ApiError> {
        let mut req = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| ApiError::Unreachable(self.url.clone(), e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| ApiError::Unreachable(self.url.clone(), e.to_string()))?;
        if status >= 300 {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(|m| m.as_str()).map(str::to_string))
                .unwrap_or(text);
            return Err(ApiError::Status { status, message });
        }
        let value = serde_json::from_str(&text).map_err(|e| ApiError::Unexpected(format!("{e}: {text}")))?;
        Ok((status, value))
    }

    /// `GET` returning JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        Ok(self.call(reqwest::Method::GET, path, None).await?.1)
    }

    /// `POST` with a JSON body, returning JSON.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value, ApiError> {
        Ok(self.call(reqwest::Method::POST, path, Some(body)).await?.1)
    }

    fn proposed(value: Value) -> Result<Proposed, ApiError> {
        let channel_id = serde_json::from_value(value["channelId"].clone())
            .map_err(|e| ApiError::Unexpected(format!("no channel id: {e}")))?;
        if value["status"] == "pending" {
            let version = value["version"].as_u64().unwrap_or_default();
            return Ok(Proposed::Pending { channel_id, version });
        }
        let signed =
            serde_json::from_value(value["signed"].clone()).map_err(|e| ApiError::Unexpected(e.to_string()))?;
        Ok(Proposed::Signed { channel_id, signed, raw: value })
    }

    /// The node's identity: address, chain id, judge, peer URL.
    pub async fn info(&self) -> Result<Value, ApiError> {
        self.get("/v1/node").await
    }

    /// Proposes a channel (see `POST /v1/channels`).
    pub async fn propose_channel(&self, request: Value) -> Result<Proposed, ApiError> {
        Self::proposed(self.post("/v1/channels", request).await?)
    }

    /// Proposes the next state.
    pub async fn update(&self, id: B256, data: Bytes, is_final: bool, wait: Duration) -> Result<Proposed, ApiError> {
        let body = json!({ "data": data, "isFinal": is_final, "wait": wait.as_secs_f64() });
        Self::proposed(self.post(&format!("/v1/channels/{id}/updates"), body).await?)
    }

    /// One channel.
    pub async fn channel(&self, id: B256) -> Result<ChannelView, ApiError> {
        self.get(&format!("/v1/channels/{id}")).await
    }

    /// All channels.
    pub async fn channels(&self) -> Result<Vec<ChannelView>, ApiError> {
        self.get("/v1/channels").await
    }

    /// A fully signed state from the node's history.
    pub async fn state(&self, id: B256, version: u64) -> Result<SignedJson, ApiError> {
        self.get(&format!("/v1/channels/{id}/states/{version}")).await
    }

    /// The node's participant address.
    pub async fn address(&self) -> Result<Address, ApiError> {
        serde_json::from_value(self.info().await?["address"].clone()).map_err(|e| ApiError::Unexpected(e.to_string()))
    }

    /// Follows the event stream, calling `on_event` for each event until it returns `false`.
    pub async fn follow_events(&self, on_event: impl FnMut(Event) -> bool) -> Result<(), ApiError> {
        self.follow_events_from(|| {}, on_event).await
    }

    /// Like [`AppClient::follow_events`], calling `subscribed` once the node has subscribed this
    /// stream: every event from then on is delivered.
    pub async fn follow_events_from(
        &self,
        subscribed: impl FnOnce(),
        mut on_event: impl FnMut(Event) -> bool,
    ) -> Result<(), ApiError> {
        let resp = self
            .http
            .get(format!("{}/v1/events", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ApiError::Unreachable(self.url.clone(), e.to_string()))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return Err(ApiError::Status { status, message: resp.text().await.unwrap_or_default() });
        }
        subscribed();
        let mut stream = resp.bytes_stream();
        let mut buf = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::Unreachable(self.url.clone(), e.to_string()))?;
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                for line in frame.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        if let Ok(event) = serde_json::from_str::<Event>(data.trim()) {
                            if !on_event(event) {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
