//! JSON-RPC over HTTP and WebSocket on one port, with the methods and error shapes that alloy,
//! foundry's cast and cargo-stylus rely on, and anvil's dev methods under their names.

pub mod node;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use alloy_rpc_types_eth::{state::StateOverride, BlockId, BlockNumberOrTag, FeeHistory, Filter, TransactionRequest};
use jsonrpsee::{
    server::{RpcModule, Server, ServerHandle},
    types::{ErrorObjectOwned, Params},
    PendingSubscriptionSink, SubscriptionMessage,
};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::chain::{ChainConfig, BASE_FEE};
use node::{Node, RpcError};

/// What the devnet announces to subscribers when a block is sealed.
#[derive(Clone, Debug)]
struct NewBlock {
    number: u64,
}

/// Shared state of the server.
struct Shared {
    node: Mutex<Node>,
    blocks: broadcast::Sender<NewBlock>,
}

impl Shared {
    fn node(&self) -> MutexGuard<'_, Node> {
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running devnet.
pub struct DevnetHandle {
    addr: SocketAddr,
    handle: ServerHandle,
    shared: Arc<Shared>,
}

impl DevnetHandle {
    /// `http://…` URL of the server.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// `ws://…` URL of the server.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Writes the node's state to `path` (see [`Node::save`]).
    pub fn save_state(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.shared.node().save(path)
    }

    /// Mines an empty block and announces it.
    pub fn mine(&self) {
        let mut node = self.shared.node();
        node.mine();
        let _ = self.shared.blocks.send(NewBlock { number: node.block_number() });
    }

    /// Stops the server.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}

fn to_err(e: RpcError) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(e.code, e.message, e.data)
}

fn bad(e: impl std::fmt::Display) -> ErrorObjectOwned {
    to_err(RpcError::params(e.to_string()))
}

type R = Result<Value, ErrorObjectOwned>;

fn ok<T: serde::Serialize>(v: T) -> R {
    serde_json::to_value(v).map_err(|e| to_err(RpcError::server(e.to_string())))
}

/// The block a block id names, or an error if it is unknown.
fn resolve(node: &Node, id: Option<BlockId>) -> Result<u64, ErrorObjectOwned> {
    let latest = node.block_number();
    match id {
        None => Ok(latest),
        Some(BlockId::Number(BlockNumberOrTag::Number(n))) if n <= latest => Ok(n),
        Some(BlockId::Number(BlockNumberOrTag::Number(n))) => {
            Err(to_err(RpcError::server(format!("block {n} not found"))))
        }
        Some(BlockId::Number(BlockNumberOrTag::Earliest)) => Ok(0),
        Some(BlockId::Number(_)) => Ok(latest),
        Some(BlockId::Hash(h)) => {
            node.number_of(h.block_hash).ok_or_else(|| to_err(RpcError::server("block not found")))
        }
    }
}

/// Starts a devnet on `addr` (port 0 picks a free one).
pub async fn start(config: ChainConfig, addr: SocketAddr) -> std::io::Result<DevnetHandle> {
    start_with(Node::new(&config), addr).await
}

/// Starts a devnet serving `node` (e.g. one loaded from a state file).
pub async fn start_with(node: Node, addr: SocketAddr) -> std::io::Result<DevnetHandle> {
    let (blocks, _) = broadcast::channel(256);
    let shared = Arc::new(Shared { node: Mutex::new(node), blocks });
    let module = methods(shared.clone()).map_err(std::io::Error::other)?;
    // Every request is logged at debug level (`RUST_LOG=jsonrpsee=debug`).
    let rpc_middleware = jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new().rpc_logger(256);
    let server = Server::builder().set_rpc_middleware(rpc_middleware).build(addr).await?;
    let addr = server.local_addr()?;
    let handle = server.start(module);
    Ok(DevnetHandle { addr, handle, shared })
}

/// Stack for executing transactions. A call from a Stylus program into the EVM and back recurses
/// on the native stack (interpreter inside interpreter), deeper than a server's worker thread
/// allows (2 MiB under tokio): execution runs on a thread of its own with room for it.
const EXECUTION_STACK: usize = 256 << 20;

/// Runs `f` (a transaction or a call) on a thread with [`EXECUTION_STACK`] bytes of stack.
fn deep<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("devnet-exec".into())
            .stack_size(EXECUTION_STACK)
            .spawn_scoped(scope, f)
            .expect("an execution thread starts")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn methods(shared: Arc<Shared>) -> Result<RpcModule<Arc<Shared>>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(shared);
    let chain_id = |s: &Shared| s.node().chain.chain_id;

    m.register_method("eth_chainId", move |_, s, _| ok(U64::from(chain_id(s))))?;
    m.register_method("net_version", move |_, s, _| ok(chain_id(s).to_string()))?;
    m.register_method("web3_clientVersion", |_, _, _| ok(concat!("avocado-devnet/v", env!("CARGO_PKG_VERSION"))))?;
    m.register_method("eth_blockNumber", |_, s, _| ok(U64::from(s.node().block_number())))?;
    m.register_method("eth_syncing", |_, _, _| ok(false))?;
    m.register_method("eth_accounts", |_, _, _| ok(Vec::<Address>::new()))?;
    m.register_method("eth_gasPrice", |_, _, _| ok(U256::from(BASE_FEE)))?;
    m.register_method("eth_maxPriorityFeePerGas", |_, _, _| ok(U256::ZERO))?;
    m.register_method("eth_feeHistory", |p: Params, s, _| -> R {
        let mut seq = p.sequence();
        let count: U64 = seq.next().map_err(bad)?;
        let _newest: BlockNumberOrTag = seq.next().map_err(bad)?;
        let percentiles: Option<Vec<f64>> = seq.optional_next().map_err(bad)?;
        let latest = s.node().block_number();
        let n = count.to::<u64>().clamp(1, 1024).min(latest + 1);
        let rewards = percentiles.map(|ps| vec![vec![0u128; ps.len()]; n as usize]);
        ok(FeeHistory {
            oldest_block: latest + 1 - n,
            base_fee_per_gas: vec![BASE_FEE as u128; n as usize + 1],
            gas_used_ratio: vec![0.0; n as usize],
            base_fee_per_blob_gas: vec![0; n as usize + 1],
            blob_gas_used_ratio: vec![0.0; n as usize],
            reward: rewards,
        })
    })?;
    m.register_method("eth_getBalance", |p: Params, s, _| -> R {
        let (addr, _block): (Address, Option<BlockId>) = p.parse().map_err(bad)?;
        ok(s.node().chain.balance(addr))
    })?;
    m.register_method("eth_getTransactionCount", |p: Params, s, _| -> R {
        let (addr, _block): (Address, Option<BlockId>) = p.parse().map_err(bad)?;
        ok(U64::from(s.node().chain.nonce(addr)))
    })?;
    m.register_method("eth_getCode", |p: Params, s, _| -> R {
        let (addr, _block): (Address, Option<BlockId>) = p.parse().map_err(bad)?;
        ok(s.node().chain.code(addr))
    })?;
    m.register_method("eth_getStorageAt", |p: Params, s, _| -> R {
        let (addr, key, _block): (Address, U256, Option<BlockId>) = p.parse().map_err(bad)?;
        ok(B256::from(s.node().chain.storage(addr, key)))
    })?;
    m.register_method("eth_call", |p: Params, s, _| -> R {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next().map_err(bad)?;
        let block: Option<BlockId> = seq.optional_next().map_err(bad)?;
        let overrides: Option<StateOverride> = seq.optional_next().map_err(bad)?;
        deep(|| s.node().call_at(&req, block, overrides.as_ref())).map_err(to_err).and_then(ok)
    })?;
    m.register_method("eth_estimateGas", |p: Params, s, _| -> R {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next().map_err(bad)?;
        deep(|| s.node().estimate_gas(&req)).map(U64::from).map_err(to_err).and_then(ok)
    })?;
    m.register_method("eth_sendRawTransaction", |p: Params, s, _| -> R {
        let (raw,): (Bytes,) = p.parse().map_err(bad)?;
        let mut node = s.node();
        let n: &mut Node = &mut node;
        let hash = deep(|| n.send_raw(&raw)).map_err(to_err)?;
        let _ = s.blocks.send(NewBlock { number: node.block_number() });
        ok(hash)
    })?;
    m.register_method("eth_getTransactionReceipt", |p: Params, s, _| -> R {
        let (hash,): (B256,) = p.parse().map_err(bad)?;
        ok(s.node().receipt_by_hash(hash))
    })?;
    m.register_method("eth_getTransactionByHash", |p: Params, s, _| -> R {
        let (hash,): (B256,) = p.parse().map_err(bad)?;
        ok(s.node().transaction_by_hash(hash))
    })?;
    m.register_method("eth_getBlockByNumber", |p: Params, s, _| -> R {
        let (id, full): (BlockNumberOrTag, Option<bool>) = p.parse().map_err(bad)?;
        let node = s.node();
        let n = resolve(&node, Some(BlockId::Number(id)));
        match n {
            Ok(n) => ok(node.block(n, full.unwrap_or(false))),
            Err(_) => ok(Value::Null),
        }
    })?;
    m.register_method("eth_getBlockByHash", |p: Params, s, _| -> R {
        let (hash, full): (B256, Option<bool>) = p.parse().map_err(bad)?;
        let node = s.node();
        match node.number_of(hash) {
            Some(n) => ok(node.block(n, full.unwrap_or(false))),
            None => ok(Value::Null),
        }
    })?;
    m.register_method("eth_getLogs", |p: Params, s, _| -> R {
        let (filter,): (Filter,) = p.parse().map_err(bad)?;
        ok(s.node().logs(&filter))
    })?;

    // Dev methods, under anvil's names.
    m.register_method("evm_mine", |_, s, _| -> R {
        let mut node = s.node();
        node.mine();
        let _ = s.blocks.send(NewBlock { number: node.block_number() });
        ok("0x0")
    })?;
    m.register_method("evm_increaseTime", |p: Params, s, _| -> R {
        let (secs,): (U256,) = p.parse().map_err(bad)?;
        let secs: u64 = secs.saturating_to();
        let mut node = s.node();
        node.chain.time_offset = node.chain.time_offset.saturating_add(secs);
        ok(U64::from(node.chain.time_offset))
    })?;
    m.register_method("evm_setNextBlockTimestamp", |p: Params, s, _| -> R {
        let (t,): (U256,) = p.parse().map_err(bad)?;
        let t: u64 = t.saturating_to();
        let mut node = s.node();
        if t < node.chain.timestamp {
            return Err(to_err(RpcError::server(format!(
                "timestamp {t} is lower than the latest block's {}",
                node.chain.timestamp
            ))));
        }
        node.chain.pinned_timestamp = Some(t);
        ok(Value::Null)
    })?;
    m.register_method("evm_snapshot", |_, s, _| ok(U64::from(s.node().snapshot())))?;
    m.register_method("evm_revert", |p: Params, s, _| -> R {
        let (id,): (U64,) = p.parse().map_err(bad)?;
        ok(s.node().revert(id.to()))
    })?;
    m.register_method("anvil_setBalance", |p: Params, s, _| -> R {
        let (addr, balance): (Address, U256) = p.parse().map_err(bad)?;
        s.node().chain.set_balance(addr, balance);
        ok(Value::Null)
    })?;
    // The chain's Stylus version, as an ArbOS upgrade changes it (programs activated at another
    // version then need activating again).
    m.register_method("devnet_setStylusVersion", |p: Params, s, _| -> R {
        let (v,): (U64,) = p.parse().map_err(bad)?;
        let v: u64 = v.to();
        if v == 0 || v > u16::MAX as u64 {
            return Err(to_err(RpcError::params(format!("Stylus version {v} is not in 1..=65535"))));
        }
        s.node().chain.set_stylus_version(v as u16);
        ok(Value::Null)
    })?;
    m.register_method("devnet_stylusVersion", |_, s, _| ok(U64::from(s.node().chain.stylus_version())))?;
    m.register_method("anvil_setCode", |p: Params, s, _| -> R {
        let (addr, code): (Address, Bytes) = p.parse().map_err(bad)?;
        s.node().chain.set_code(addr, code);
        ok(Value::Null)
    })?;

    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |p: Params<'static>, sink: PendingSubscriptionSink, s: Arc<Arc<Shared>>, _| async move {
            let mut seq = p.sequence();
            let kind: String = match seq.next() {
                Ok(k) => k,
                Err(e) => {
                    sink.reject(bad(e)).await;
                    return Ok(());
                }
            };
            let filter: Option<Filter> = seq.optional_next().unwrap_or(None);
            if kind != "newHeads" && kind != "logs" {
                sink.reject(bad(format!("unsupported subscription {kind}"))).await;
                return Ok(());
            }
            let mut rx = s.blocks.subscribe();
            let sink = sink.accept().await?;
            while let Ok(NewBlock { number }) = rx.recv().await {
                let items: Vec<Value> = {
                    let node = s.node();
                    if kind == "newHeads" {
                        node.block(number, false).map(|b| json!(b.header)).into_iter().collect()
                    } else {
                        let mut f = filter.clone().unwrap_or_default();
                        f = f.from_block(number).to_block(number);
                        node.logs(&f).into_iter().map(|l| json!(l)).collect()
                    }
                };
                for item in items {
                    let msg: SubscriptionMessage = serde_json::value::to_raw_value(&item)?.into();
                    if sink.send(msg).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(m)
}
