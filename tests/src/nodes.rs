//! A network of real `avocado node` processes over loopback, on a chain running the real judge.
//!
//! The chain is the embedded devnet (in this process, over JSON-RPC), or — when
//! `AVOCADO_TEST_RPC_URL` is set — any other node, e.g. a nitro devnode; the funding key is then
//! `AVOCADO_TEST_PRIVATE_KEY` (default: the nitro devnode's prefunded key). Participants get
//! fresh keys, funded from it.

use std::path::PathBuf;
use std::time::Duration;

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use avocado_cli::process::{NodeProcess, NodeSpec};
use avocado_client::app_client::{AppClient, Proposed};
use avocado_client::chain::{AlloyChain, ChainClient, ChannelStatusOnChain, TxReceipt};
use avocado_client::message::SignedJson;
use avocado_client::signed::SignedState;
use avocado_codec::{signer, ChannelParams, Domain, IAvocadoJudge as I};
use avocado_devnet::chain::ChainConfig;
use avocado_devnet::rpc::DevnetHandle;
use serde_json::json;

/// Transactions from the funding key, one at a time across the tests of one binary (they share
/// its nonce on an external chain).
static FUNDER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The `avocado` executable built beside this test.
pub fn avocado_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
    let path = dir.join("avocado");
    assert!(path.exists(), "{} is missing: cargo build -p avocado-cli --bin avocado", path.display());
    path
}

/// Whether the tests run against an external chain.
pub fn external_rpc() -> Option<String> {
    std::env::var("AVOCADO_TEST_RPC_URL").ok().filter(|s| !s.is_empty())
}

/// A chain with the judge deployed.
pub struct TestChain {
    /// JSON-RPC URL.
    pub rpc: String,
    /// The judge.
    pub judge: Address,
    /// Chain id.
    pub chain_id: u64,
    devnet: Option<DevnetHandle>,
    funder: PrivateKeySigner,
}

impl TestChain {
    /// The embedded devnet (or `AVOCADO_TEST_RPC_URL`) with the real judge deployed and activated.
    pub async fn start() -> Self {
        let code = crate::stylus_judge::judge_bin();
        let (rpc, devnet, funder) = match external_rpc() {
            Some(url) => {
                let key = std::env::var("AVOCADO_TEST_PRIVATE_KEY")
                    .unwrap_or_else(|_| avocado_devnet::cli::DEV_KEY.to_string());
                (url, None, avocado_client::keys::parse_private_key(&key).expect("AVOCADO_TEST_PRIVATE_KEY"))
            }
            None => {
                let handle = avocado_devnet::rpc::start(ChainConfig::default(), "127.0.0.1:0".parse().unwrap())
                    .await
                    .expect("the devnet starts");
                let funder = avocado_client::keys::parse_private_key(avocado_devnet::cli::DEV_KEY).unwrap();
                (handle.url(), Some(handle), funder)
            }
        };
        let deployed = {
            let _one_at_a_time = FUNDER.lock().await;
            avocado_client::deploy::deploy_program(&rpc, funder.clone(), code).await.expect("judge deploys")
        };
        let provider = ProviderBuilder::new().connect_http(rpc.parse().unwrap());
        let chain_id = provider.get_chain_id().await.unwrap();
        Self { rpc, judge: deployed.address, chain_id, devnet, funder }
    }

    /// Deploys and activates `target/<name>/<name>.bin` (e.g. the escrow) from the funding key.
    pub async fn deploy(&self, name: &str) -> Address {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/{name}/{name}.bin"));
        let code = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}. Build the contracts: scripts/build-contracts.sh", path.display()));
        let _one_at_a_time = FUNDER.lock().await;
        avocado_client::deploy::deploy_program(&self.rpc, self.funder.clone(), &code).await.expect("deploys").address
    }

    /// Whether time can be moved (the embedded devnet).
    pub fn can_travel(&self) -> bool {
        self.devnet.is_some()
    }

    /// Moves the chain's clock forward and mines a block (embedded devnet only).
    pub async fn travel(&self, seconds: u64) {
        let provider = ProviderBuilder::new().connect_http(self.rpc.parse().unwrap());
        let _: serde_json::Value = provider.raw_request("evm_increaseTime".into(), (seconds,)).await.unwrap();
        let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    }

    /// Mines `blocks` empty blocks (embedded devnet only).
    pub async fn mine(&self, blocks: u64) {
        let provider = ProviderBuilder::new().connect_http(self.rpc.parse().unwrap());
        for _ in 0..blocks {
            let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
        }
    }

    /// A fresh funded key.
    pub async fn funded_key(&self, seed: &str) -> PrivateKeySigner {
        let key = PrivateKeySigner::from_bytes(&keccak256(format!("{seed} {}", std::process::id()))).unwrap();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(self.funder.clone()))
            .connect_http(self.rpc.parse().unwrap());
        let tx =
            TransactionRequest::default().with_to(key.address()).with_value(U256::from(10u64).pow(U256::from(18u64)));
        let _one_at_a_time = FUNDER.lock().await;
        let r = provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(r.status());
        key
    }

    /// The judge's domain.
    pub fn domain(&self) -> Domain {
        Domain::new(self.chain_id, self.judge)
    }

    /// A chain client paying from `key`.
    pub async fn client(&self, key: &PrivateKeySigner) -> AlloyChain {
        AlloyChain::connect(&self.rpc, self.judge, key.clone()).await.unwrap()
    }

    /// The judge's status of a channel.
    pub async fn status(&self, id: B256) -> ChannelStatusOnChain {
        self.client(&self.funder).await.status(id).await.unwrap()
    }

    /// Posts a dispute with `state` (possibly stale), signed by `key` as challenger.
    pub async fn challenge_with(
        &self,
        key: &PrivateKeySigner,
        params: ChannelParams,
        state: &SignedState,
    ) -> Result<TxReceipt, avocado_client::chain::ChainError> {
        let c = avocado_codec::Challenge { channelId: state.state.channelId, version: state.state.version };
        let challenger = signer::sign(key.credential(), &self.domain().challenge_digest(&c));
        let call = I::challengeCall {
            params,
            state: state.state.clone(),
            sigs: state.sigs(),
            challengerSig: challenger.to_compact().to_vec().into(),
        };
        self.client(key).await.send(call.abi_encode()).await
    }

    /// Stops the embedded devnet.
    pub async fn stop(self) {
        if let Some(d) = self.devnet {
            d.stop().await;
        }
    }
}

/// A test folder removed when dropped.
pub struct Folder(pub PathBuf);

impl Folder {
    /// A fresh folder for `name`.
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("avocado-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Participants' nodes on one chain.
pub struct Net {
    /// The chain.
    pub chain: TestChain,
    /// One node per participant.
    pub nodes: Vec<NodeProcess>,
    /// Their keys.
    pub keys: Vec<PrivateKeySigner>,
    /// Their data folders' parent.
    pub folder: Folder,
    /// The payment escrow, when deployed.
    pub escrow: Option<Address>,
}

/// How the nodes run.
#[derive(Clone, Debug)]
pub struct NetOptions {
    /// Sign proposals as they arrive.
    pub auto_accept: bool,
    /// The nodes' minimum dispute window (seconds).
    pub min_challenge: u64,
    /// Deploy the payment escrow too, and start the nodes with it.
    pub escrow: bool,
    /// The watchtowers' confirmation depth (`--confirmations`); `None` keeps the node's default.
    /// 0 by default here: the devnet seals one block per transaction and never reorganises, so
    /// a deeper depth would only make the logs wait for unrelated transactions (the watchtower
    /// tests run the node's default with blocks produced meanwhile).
    pub confirmations: Option<u64>,
    /// The watchtowers' poll interval (`--watch-every`).
    pub watch_every: Duration,
    /// More flags for every node.
    pub extra: Vec<String>,
    /// Per node, further `avocado node` flags (nodes beyond the list get none).
    pub per_node: Vec<Vec<String>>,
    /// Per node, its open-files limit, soft and hard (nodes beyond the list inherit the test's).
    pub nofile_limit: Vec<Option<u64>>,
}

impl Default for NetOptions {
    fn default() -> Self {
        Self {
            auto_accept: true,
            min_challenge: 30,
            escrow: false,
            confirmations: Some(0),
            watch_every: Duration::from_millis(100),
            extra: Vec::new(),
            per_node: Vec::new(),
            nofile_limit: Vec::new(),
        }
    }
}

impl Net {
    /// Starts a chain and `n` nodes.
    pub async fn start(name: &str, n: usize, opts: NetOptions) -> Self {
        Self::start_on(TestChain::start().await, name, n, opts, |_| None).await
    }

    /// Starts `n` nodes on `chain`; participant `i` talks to the chain through `rpc_of(i)` when
    /// it gives a URL (e.g. a proxy that misbehaves), through the chain's own endpoint otherwise.
    pub async fn start_on(
        chain: TestChain,
        name: &str,
        n: usize,
        opts: NetOptions,
        rpc_of: impl Fn(usize) -> Option<String>,
    ) -> Self {
        let escrow = match opts.escrow {
            true => Some(chain.deploy("escrow").await),
            false => None,
        };
        let folder = Folder::new(name);
        let mut nodes = Vec::new();
        let mut keys = Vec::new();
        for i in 0..n {
            let key = chain.funded_key(&format!("{name} participant {i}")).await;
            let mut extra = vec![
                "--min-challenge".into(),
                format!("{}s", opts.min_challenge),
                "--watch-every".into(),
                format!("{}ms", opts.watch_every.as_millis()),
            ];
            extra.extend(opts.extra.iter().cloned());
            if opts.auto_accept {
                extra.push("--auto-accept".into());
            }
            if let Some(e) = escrow {
                extra.extend(["--escrow".into(), e.to_string()]);
            }
            if let Some(c) = opts.confirmations {
                extra.extend(["--confirmations".into(), c.to_string()]);
            }
            extra.extend(opts.per_node.get(i).cloned().unwrap_or_default());
            let spec = NodeSpec {
                exe: avocado_exe(),
                data_dir: folder.0.join(format!("p{i}")),
                private_key: alloy_primitives::hex::encode(key.to_bytes()),
                rpc_url: Some(rpc_of(i).unwrap_or_else(|| chain.rpc.clone())),
                judge: chain.judge,
                extra,
                peer_port: 0,
                app_port: 0,
                nofile_limit: opts.nofile_limit.get(i).copied().flatten(),
            };
            nodes.push(NodeProcess::spawn(spec).await.expect("the node starts"));
            keys.push(key);
        }
        Self { chain, nodes, keys, folder, escrow }
    }

    /// Participant `i`'s app API.
    pub fn api(&self, i: usize) -> &AppClient {
        &self.nodes[i].api
    }

    /// The request proposing a channel between all nodes.
    pub fn channel_request(&self, nonce: u64, challenge: u64, data: &[u8]) -> serde_json::Value {
        json!({
            "participants": self.nodes.iter().map(|n| n.address).collect::<Vec<_>>(),
            "peers": self.nodes.iter().map(|n| n.peer_url.clone()).collect::<Vec<_>>(),
            "nonce": nonce,
            "challengeDuration": challenge,
            "data": Bytes::copy_from_slice(data),
        })
    }

    /// Opens a channel proposed by node 0 and signed by everyone.
    pub async fn open(&self, nonce: u64, challenge: u64, data: &[u8]) -> (B256, SignedJson) {
        match self.api(0).propose_channel(self.channel_request(nonce, challenge, data)).await.unwrap() {
            Proposed::Signed { channel_id, signed, .. } => (channel_id, signed),
            other => panic!("the channel was not signed by all: {other:?}"),
        }
    }

    /// Node `i`'s channel terms.
    pub async fn params(&self, i: usize, id: B256) -> ChannelParams {
        (&self.api(i).channel(id).await.unwrap().record.terms).into()
    }

    /// Waits until node `i` holds version `v` (or newer) of `id`.
    pub async fn wait_for_version(&self, i: usize, id: B256, v: u64) -> SignedJson {
        for _ in 0..400 {
            if let Ok(view) = self.api(i).channel(id).await {
                if let Some(l) = view.latest.filter(|l| l.state.version >= v) {
                    return l;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("node {i} never held v{v} of {id}");
    }

    /// Waits until `check` holds on node `i`'s view of the channel.
    pub async fn wait_until(
        &self,
        i: usize,
        id: B256,
        what: &str,
        check: impl Fn(&avocado_client::node::app::ChannelView) -> bool,
    ) {
        for _ in 0..600 {
            if let Ok(view) = self.api(i).channel(id).await {
                if check(&view) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("node {i}: {what} never happened on {id}");
    }

    /// Stops everything.
    pub async fn stop(mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let Net { chain, .. } = self;
        chain.stop().await;
    }
}
