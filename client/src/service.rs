//! Wires a node together and runs it: store, chain adapter, peer API, app API, outbox,
//! watchtower. The one place where the components meet.
//!
//! A node's data folder (mode 0700: it holds what the node signed and its API token) holds:
//! - `node.redb` — the store (mode 0600);
//! - `app.token` — the app API's bearer token (mode 0600, created once);
//! - `node.json` — where the running node listens (`appUrl`, `peerUrl`) and its address, written
//!   once both listeners are bound, so tools find a node started on port 0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use anyhow::{bail, Context, Result};
use avocado_codec::Domain;
use serde::{Deserialize, Serialize};

use crate::chain::{AlloyChain, ChainClient};
use crate::node::watch::WatchConfig;
use crate::node::{app, peer, Bounds, Node, NodeConfig, Policy};
use crate::serve::{self, ServeLimits};
use crate::store::RedbStore;

/// How to run a node.
pub struct NodeOptions {
    /// Data folder.
    pub data_dir: PathBuf,
    /// The participant key (it also pays for the node's transactions).
    pub signer: PrivateKeySigner,
    /// JSON-RPC endpoint; none runs the node off chain (no watchtower).
    pub rpc_url: Option<String>,
    /// The judge's address.
    pub judge: Address,
    /// Chain id when running without RPC.
    pub chain_id: Option<u64>,
    /// Peer API listen address.
    pub peer_listen: SocketAddr,
    /// The peer URL to announce (default: from the bound address).
    pub peer_url: Option<String>,
    /// App API listen address (loopback).
    pub app_listen: SocketAddr,
    /// What the node agrees to.
    pub policy: Policy,
    /// Watchtower poll interval.
    pub watch_every: Duration,
    /// How the watchtower reads the chain (confirmation depth, block subscription).
    pub watch: WatchConfig,
    /// How long proposals retry an unreachable peer.
    pub peer_timeout: Duration,
    /// The payment escrow, if this node runs payment channels.
    pub escrow: Option<Address>,
    /// The peer listener's caps and timeouts (the total cap is lowered to half the descriptor
    /// limit when above it).
    pub peer_limits: ServeLimits,
    /// What the node takes from strangers and queues for peers.
    pub bounds: Bounds,
}

/// `node.json`: where a running node listens.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// The app API.
    pub app_url: String,
    /// The peer API.
    pub peer_url: String,
    /// The participant address.
    pub address: Address,
}

/// Reads (or creates) the app API token in `dir`.
pub fn app_token(dir: &Path) -> Result<String> {
    let path = dir.join("app.token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        return Ok(t.trim().to_string());
    }
    let token = alloy_primitives::hex::encode(rand::random::<[u8; 32]>());
    write_private(&path, token.as_bytes())?;
    Ok(token)
}

/// Sets `path`'s permission bits (Unix; elsewhere nothing to do).
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Reads `node.json` from a data folder.
pub fn read_info(dir: &Path) -> Result<NodeInfo> {
    let path = dir.join("node.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("no running node found: cannot read {} (start one with `avocado node`)", path.display())
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
}

/// Starts a node and serves until `shutdown` resolves.
pub async fn run(opts: NodeOptions, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    if !opts.app_listen.ip().is_loopback() {
        bail!("the app API listens on loopback only, not {}", opts.app_listen);
    }
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("cannot create data folder {}", opts.data_dir.display()))?;
    // What the node signed, its token and its keys' use are nobody else's business.
    set_mode(&opts.data_dir, 0o700)?;
    let fd_limit = serve::raise_fd_limit().context("cannot read the open-files limit")?;
    let (peer_limits, lowered) = serve::fit_caps(opts.peer_limits.clone(), fd_limit)?;
    if lowered {
        tracing::warn!(
            fd_limit,
            asked = opts.peer_limits.max_connections,
            cap = peer_limits.max_connections,
            "peer connection cap lowered to half the open-files limit"
        );
    }
    tracing::info!(
        fd_limit,
        max_peer_connections = peer_limits.max_connections,
        max_peer_connections_per_ip = peer_limits.max_per_ip,
        "open-files limit"
    );
    let store_path = opts.data_dir.join("node.redb");
    let store = RedbStore::open(&store_path)
        .with_context(|| format!("cannot open the store in {} (is another node using it?)", opts.data_dir.display()))?;
    set_mode(&store_path, 0o600)?;
    let key = opts.signer.credential().clone();
    let (chain, chain_id): (Option<Arc<dyn ChainClient>>, u64) = match &opts.rpc_url {
        Some(url) => {
            let c = AlloyChain::connect(url, opts.judge, opts.signer.clone()).await?;
            let id = c.chain_id();
            (Some(Arc::new(c)), id)
        }
        None => (None, opts.chain_id.context("without --rpc-url, give --chain-id")?),
    };
    let peer_listener = tokio::net::TcpListener::bind(opts.peer_listen)
        .await
        .with_context(|| format!("cannot listen for peers on {}", opts.peer_listen))?;
    let app_listener = tokio::net::TcpListener::bind(opts.app_listen)
        .await
        .with_context(|| format!("cannot listen for apps on {}", opts.app_listen))?;
    let peer_addr = peer_listener.local_addr()?;
    let app_addr = app_listener.local_addr()?;
    let peer_url = opts.peer_url.clone().unwrap_or_else(|| format!("http://{peer_addr}"));
    let config = NodeConfig {
        key,
        domain: Domain::new(chain_id, opts.judge),
        peer_url: peer_url.clone(),
        policy: opts.policy.clone(),
        peer_timeout: opts.peer_timeout,
        escrow: opts.escrow,
        watch: opts.watch.clone(),
        bounds: opts.bounds.clone(),
    };
    let node = Node::new(config, Arc::new(store), chain);
    let token = app_token(&opts.data_dir)?;
    let info = NodeInfo { app_url: format!("http://{app_addr}"), peer_url, address: node.address() };
    write_private(&opts.data_dir.join("node.json"), &serde_json::to_vec_pretty(&info)?)?;
    tracing::info!(address = %node.address(), peer = %info.peer_url, app = %info.app_url, "node running");

    // Expired proposals go before anything else looks at the channels.
    match node.sweep_proposals().await {
        Ok(n) if n > 0 => tracing::info!(deleted = n, "expired channel proposals deleted at start"),
        Ok(_) => {}
        Err(e) => tracing::warn!("sweeping expired proposals failed: {e}"),
    }
    tokio::spawn(node.clone().run_sweeper());
    tokio::spawn(node.clone().run_outbox());
    if node.chain().is_some() {
        tokio::spawn(node.clone().run_watchtower(opts.watch_every));
    }
    let syncing = node.clone();
    tokio::spawn(async move { syncing.sync_all().await });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let peer_server = {
        let mut rx = stop_rx.clone();
        serve::serve("peer", peer_listener, peer::router(node.clone()), peer_limits, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    };
    let app_server = {
        let mut rx = stop_rx;
        serve::serve("app", app_listener, app::router(node.clone(), token), ServeLimits::app(), async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    tokio::join!(peer_server, app_server);
    Ok(())
}
