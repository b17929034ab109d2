//! End to end: the watchtower of a real `avocado node` process answers a stale challenge when
//! its JSON-RPC endpoint misbehaves — logs that lag the head and come out of order, or no logs at
//! all. The endpoint is a proxy in this test, on loopback, in front of the devnet; the
//! cheating participant and the test talk to the devnet directly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{keccak256, Bytes};
use avocado_client::node::Event;
use avocado_client::signed::SignedState;
use avocado_client::store::ChannelStatus;
use avocado_codec::phase;
use avocado_tests::nodes::{Net, NetOptions, TestChain};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

fn data(i: u64) -> Bytes {
    Bytes::from(format!("state {i}").into_bytes())
}

/// What the proxy does to `eth_getLogs`.
#[derive(Clone, Copy, Debug)]
enum Logs {
    /// Serves logs only up to `head − n` (while the head itself is reported truthfully), each
    /// answer in reverse order.
    LagAndReverse(u64),
    /// Answers `[]`, always.
    Drop,
}

struct ProxyState {
    upstream: String,
    mode: Logs,
    http: reqwest::Client,
    get_logs: AtomicU64,
}

/// A JSON-RPC endpoint on loopback forwarding to `upstream`, except for `eth_getLogs`.
struct Proxy {
    url: String,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

fn block_number(v: &Value, latest: u64) -> u64 {
    match v.as_str() {
        None | Some("latest" | "safe" | "finalized" | "pending") => latest,
        Some("earliest") => 0,
        Some(hex) => u64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("a block number"),
    }
}

impl ProxyState {
    async fn forward(&self, call: &Value) -> Value {
        let resp = self.http.post(&self.upstream).json(call).send().await.expect("the devnet answers");
        resp.json().await.expect("JSON from the devnet")
    }

    async fn one(&self, mut call: Value) -> Value {
        if call["method"] != "eth_getLogs" {
            return self.forward(&call).await;
        }
        self.get_logs.fetch_add(1, Ordering::Relaxed);
        match self.mode {
            Logs::Drop => json!({ "jsonrpc": "2.0", "id": call["id"], "result": [] }),
            Logs::LagAndReverse(lag) => {
                let head = self.forward(&json!({ "jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber" })).await;
                let head = block_number(&head["result"], 0);
                let served = head.saturating_sub(lag);
                let filter = &mut call["params"][0];
                let from = block_number(&filter["fromBlock"], head);
                let to = block_number(&filter["toBlock"], head).min(served);
                if from > to {
                    return json!({ "jsonrpc": "2.0", "id": call["id"], "result": [] });
                }
                filter["toBlock"] = json!(format!("{to:#x}"));
                let mut resp = self.forward(&call).await;
                if let Some(logs) = resp["result"].as_array_mut() {
                    logs.reverse();
                }
                resp
            }
        }
    }
}

async fn serve(State(p): State<Arc<ProxyState>>, Json(body): Json<Value>) -> Json<Value> {
    Json(match body {
        Value::Array(calls) => {
            let mut out = Vec::with_capacity(calls.len());
            for c in calls {
                out.push(p.one(c).await);
            }
            Value::Array(out)
        }
        call => p.one(call).await,
    })
}

impl Proxy {
    async fn start(upstream: &str, mode: Logs) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProxyState {
            upstream: upstream.to_string(),
            mode,
            http: reqwest::Client::new(),
            get_logs: AtomicU64::new(0),
        });
        let app = Router::new().route("/", post(serve)).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, state, task }
    }

    fn get_logs_calls(&self) -> u64 {
        self.state.get_logs.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Seals an empty block every 250 ms, as a live chain does (the devnet otherwise seals one per
/// transaction only); stops after ten minutes, or when dropped.
struct Miner(Option<tokio::task::JoinHandle<()>>);

impl Miner {
    fn start(chain: &TestChain) -> Self {
        if !chain.can_travel() {
            return Self(None);
        }
        let rpc = chain.rpc.clone();
        Self(Some(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for _ in 0..2_400 {
                let _ = http.post(&rpc).json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "evm_mine" })).send().await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })))
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

/// A channel at v10 between two nodes (node 0 behind `proxy`), node 1 gone, and node 1's
/// stale challenge with v3 posted. Returns the channel, the challenge's block, the events node 0
/// emitted from before the challenge on, and the time the challenge was mined.
async fn stale_challenge(
    net: &mut Net,
    challenge_duration: u64,
) -> (alloy_primitives::B256, u64, Arc<Mutex<Vec<Event>>>, Instant) {
    let (id, _) = net.open(7, challenge_duration, b"genesis").await;
    for i in 1..=10u64 {
        net.api((i % 2) as usize).update(id, data(i), false, WAIT).await.unwrap().signed().unwrap();
    }
    net.wait_for_version(0, id, 10).await;
    let stale: SignedState = (&net.api(1).state(id, 3).await.unwrap()).try_into().unwrap();
    let params = net.params(1, id).await;
    // Node 0's events, from before the challenge.
    let events = Arc::new(Mutex::new(Vec::new()));
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    {
        let api = net.api(0).clone();
        let events = events.clone();
        tokio::spawn(async move {
            let _ = api
                .follow_events_from(
                    move || {
                        let _ = subscribed_tx.send(());
                    },
                    |e| {
                        events.lock().unwrap().push(e);
                        true
                    },
                )
                .await;
        });
    }
    tokio::time::timeout(WAIT, subscribed).await.expect("node 0's event stream").unwrap();
    // Participant 1's watchtower is out of the way (it would answer its own cheat).
    net.nodes[1].kill();
    let receipt = net.chain.challenge_with(&net.keys[1], params, &stale).await.unwrap();
    let st = net.chain.status(id).await;
    assert_eq!((st.phase, st.version), (phase::CHALLENGE, 3));
    (id, receipt.block, events, Instant::now())
}

/// Waits until the judge holds v10 of `id`; returns how long it took from `since`.
async fn wait_answered(net: &Net, id: alloy_primitives::B256, since: Instant, within: Duration) -> Duration {
    while since.elapsed() < within {
        let st = net.chain.status(id).await;
        if st.version == 10 {
            assert_eq!(st.phase, phase::CHALLENGE, "answered before the deadline");
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node 0 did not answer the stale challenge within {within:?}");
}

/// The dispute ends with the latest state once its deadline passes.
async fn ends_with_latest(net: &Net, id: alloy_primitives::B256, challenge_duration: u64) {
    if !net.chain.can_travel() {
        return;
    }
    net.chain.travel(challenge_duration + 1).await;
    net.wait_until(0, id, "final", |v| v.record.status == ChannelStatus::Closed).await;
    let st = net.chain.status(id).await;
    assert_eq!((st.phase, st.version), (phase::FINAL, 10));
    assert_eq!(st.data_hash, keccak256(data(10)));
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_challenge_is_answered_through_lagging_reordered_logs() {
    let chain = TestChain::start().await;
    let proxy = Proxy::start(&chain.rpc, Logs::LagAndReverse(2)).await;
    let _miner = Miner::start(&chain);
    // The node's default confirmation depth (2) covers the endpoint's lag. A window of 600 s
    // puts the status re-read a minute apart: the answer below comes from the logs.
    let opts = NetOptions { confirmations: None, ..Default::default() };
    let mut net = Net::start_on(chain, "wt-lag", 2, opts, |i| (i == 0).then(|| proxy.url.clone())).await;
    let (id, block, events, since) = stale_challenge(&mut net, 600).await;
    let took = wait_answered(&net, id, since, WAIT).await;
    assert!(took < Duration::from_secs(20), "answered in {took:?}");
    net.wait_until(0, id, "answer recorded", |v| v.record.chain.version == 10).await;
    let seen = events.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Chain { what, block: b, .. } if what == "challengeStarted" && *b == block)),
        "the dispute was read from the logs of block {block}: {seen:?}"
    );
    assert!(seen.iter().any(|e| matches!(e, Event::Answered { stale_version: 3, version: 10, .. })), "{seen:?}");
    assert!(proxy.get_logs_calls() > 0);
    ends_with_latest(&net, id, 600).await;
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_block_on_the_websocket_starts_a_pass_before_the_next_poll() {
    let chain = TestChain::start().await;
    if !chain.can_travel() {
        return; // blocks are sealed here every 250 ms; another chain may not announce any
    }
    let proxy = Proxy::start(&chain.rpc, Logs::LagAndReverse(2)).await;
    let _miner = Miner::start(&chain);
    // Polls a minute apart, dispute window 600 s (status re-read a minute apart): only a pass
    // started by the block subscription can answer within seconds.
    let ws = avocado_client::node::watch::ws_url_of(&chain.rpc).unwrap();
    let opts = NetOptions {
        confirmations: None,
        watch_every: Duration::from_secs(60),
        extra: vec!["--ws-url".into(), ws],
        ..Default::default()
    };
    let mut net = Net::start_on(chain, "wt-ws", 2, opts, |i| (i == 0).then(|| proxy.url.clone())).await;
    let (id, block, events, since) = stale_challenge(&mut net, 600).await;
    let took = wait_answered(&net, id, since, WAIT).await;
    assert!(took < Duration::from_secs(15), "answered in {took:?}");
    let seen = events.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Chain { what, block: b, .. } if what == "challengeStarted" && *b == block)),
        "the dispute was read from the logs of block {block}: {seen:?}"
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_challenge_is_answered_by_the_status_reread_when_logs_never_come() {
    let chain = TestChain::start().await;
    let proxy = Proxy::start(&chain.rpc, Logs::Drop).await;
    let _miner = Miner::start(&chain);
    let opts = NetOptions { confirmations: None, ..Default::default() };
    let mut net = Net::start_on(chain, "wt-drop", 2, opts, |i| (i == 0).then(|| proxy.url.clone())).await;
    // A 40 s window: the judge's status is read every 5 s.
    let (id, _, events, since) = stale_challenge(&mut net, 40).await;
    let took = wait_answered(&net, id, since, WAIT).await;
    assert!(took < Duration::from_secs(15), "answered in {took:?}");
    assert!(proxy.get_logs_calls() > 0, "the node asked for logs and got none");
    net.wait_until(0, id, "answer recorded", |v| v.record.chain.version == 10).await;
    // Node 0 is the only watchtower left, so the answer is its own. It reports it as `answered`
    // — or, when a loaded machine made a pass give up waiting for the receipt after the
    // transaction was sent, the next pass reads v10 from the judge and reports that.
    let seen = events.lock().unwrap().clone();
    assert!(
        seen.iter().any(|e| matches!(e, Event::Answered { stale_version: 3, version: 10, .. })
            || matches!(e, Event::Chain { version: 10, .. })),
        "{seen:?}"
    );
    ends_with_latest(&net, id, 40).await;
    net.stop().await;
}
