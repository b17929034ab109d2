//! The node behind the JSON-RPC server: the chain plus what a node remembers about it — blocks,
//! transactions, receipts, logs — in the shapes alloy's RPC types give them, so what the server
//! sends is exactly what alloy, cast and cargo-stylus parse.

use std::collections::HashMap;

use alloy_consensus::{
    transaction::SignerRecoverable, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction as _, TxEnvelope,
    TxType, EMPTY_OMMER_ROOT_HASH,
};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, Bloom, Bytes, Log as PrimLog, B256, U256};
use alloy_rpc_types_eth::{
    state::StateOverride, Block, BlockId, BlockNumberOrTag, BlockTransactions, Filter, Header as RpcHeader, Log,
    Transaction, TransactionReceipt, TransactionRequest,
};
use alloy_serde::WithOtherFields;
use revm::{context::TxEnv, context_interface::result::ExecutionResult, primitives::TxKind};

use crate::chain::{
    l1_pricing,
    node_interface::{self, Estimate, NodeInterfaceError, NODE_INTERFACE},
    Chain, ChainConfig, Executed, BASE_FEE,
};

/// The L2 gas cap of `eth_call` and `eth_estimateGas` (L1 gas comes on top, as in Nitro's
/// `ToMessage`, which raises the RPC gas cap by the call's posting gas).
pub const RPC_GAS_CAP: u64 = 30_000_000;

/// A JSON-RPC error: code, message, optional data.
#[derive(Debug, Clone)]
pub struct RpcError {
    /// JSON-RPC error code.
    pub code: i32,
    /// Message (worded like geth's where clients match on it).
    pub message: String,
    /// Revert data, hex.
    pub data: Option<Bytes>,
}

impl RpcError {
    /// A `-32000` server error.
    pub fn server(message: impl Into<String>) -> Self {
        Self { code: -32000, message: message.into(), data: None }
    }
    /// A `-32602` invalid params error.
    pub fn params(message: impl Into<String>) -> Self {
        Self { code: -32602, message: message.into(), data: None }
    }
    /// Code 3, "execution reverted", with the revert data (what cast and cargo-stylus decode).
    pub fn reverted(data: Bytes) -> Self {
        use alloy_sol_types::SolError;
        let message = match alloy_sol_types::Revert::abi_decode(&data) {
            Ok(r) if !r.reason.is_empty() => format!("execution reverted: {}", r.reason),
            _ => "execution reverted".to_string(),
        };
        Self { code: 3, message, data: Some(data) }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TxRecord {
    envelope: TxEnvelope,
    from: Address,
    block: u64,
    receipt: TransactionReceipt,
    /// Nitro's `gasUsedForL1`.
    #[serde(default)]
    gas_used_for_l1: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct BlockRecord {
    header: Header,
    hash: B256,
    txs: Vec<B256>,
}

/// The chain and its history.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// The state machine.
    pub chain: Chain,
    blocks: Vec<BlockRecord>,
    by_hash: HashMap<B256, u64>,
    txs: HashMap<B256, TxRecord>,
    #[serde(skip)]
    snapshots: Vec<(Chain, usize)>,
    /// The state after each of the last [`RECENT_STATES`] blocks, oldest first, for calls at a
    /// past block (a non-archive node keeps as many; older ones are refused as it refuses them).
    #[serde(skip)]
    recent: std::collections::VecDeque<(u64, Chain)>,
}

/// How many past blocks' states `eth_call` can run against (geth's non-archive default).
pub const RECENT_STATES: usize = 128;

impl Node {
    /// A node at genesis.
    pub fn new(config: &ChainConfig) -> Self {
        let chain = Chain::new(config);
        let header = Header {
            number: 0,
            timestamp: chain.timestamp,
            gas_limit: crate::chain::BLOCK_GAS_LIMIT,
            base_fee_per_gas: Some(BASE_FEE),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            ..Default::default()
        };
        let hash = header.hash_slow();
        let mut node = Self {
            chain,
            blocks: Vec::new(),
            by_hash: HashMap::new(),
            txs: HashMap::new(),
            snapshots: Vec::new(),
            recent: Default::default(),
        };
        node.by_hash.insert(hash, 0);
        node.blocks.push(BlockRecord { header, hash, txs: Vec::new() });
        node
    }

    /// Writes the whole node (state, blocks, transactions, receipts) to `path` as JSON.
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp)?;
        serde_json::to_writer(std::io::BufWriter::new(&file), self).map_err(std::io::Error::other)?;
        file.sync_all()?;
        std::fs::rename(tmp, path)
    }

    /// Reads a node written by [`Node::save`].
    pub fn load(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(std::io::Error::other)
    }

    /// Number of the latest block.
    pub fn block_number(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    fn seal(&mut self, txs: Vec<B256>, gas_used: u64, bloom: Bloom) -> (u64, B256) {
        let parent = self.blocks.last().expect("genesis exists");
        let header = Header {
            parent_hash: parent.hash,
            number: self.chain.block_number,
            timestamp: self.chain.timestamp,
            gas_limit: crate::chain::BLOCK_GAS_LIMIT,
            gas_used,
            base_fee_per_gas: Some(BASE_FEE),
            logs_bloom: bloom,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            ..Default::default()
        };
        let hash = header.hash_slow();
        let number = header.number;
        self.by_hash.insert(hash, number);
        self.blocks.push(BlockRecord { header, hash, txs });
        if self.recent.len() == RECENT_STATES {
            self.recent.pop_front();
        }
        self.recent.push_back((number, self.chain.clone()));
        (number, hash)
    }

    /// Mines an empty block (`evm_mine`).
    pub fn mine(&mut self) {
        self.chain.block_number += 1;
        self.chain.timestamp = self.chain.next_timestamp();
        self.chain.time_offset = 0;
        self.chain.pinned_timestamp = None;
        self.seal(Vec::new(), 0, Bloom::ZERO);
    }

    /// `eth_sendRawTransaction`: decode, recover, validate like geth, execute, mine.
    pub fn send_raw(&mut self, raw: &[u8]) -> Result<B256, RpcError> {
        let envelope = TxEnvelope::decode_2718(&mut &raw[..])
            .map_err(|e| RpcError::server(format!("invalid transaction: {e}")))?;
        let from =
            envelope.recover_signer().map_err(|_| RpcError::server("invalid sender: signature does not recover"))?;
        let hash = *envelope.tx_hash();
        if self.txs.contains_key(&hash) {
            return Err(RpcError::server("already known"));
        }
        if let Some(id) = envelope.chain_id() {
            if id != self.chain.chain_id {
                return Err(RpcError::server(format!("invalid chain id {id}, expected {}", self.chain.chain_id)));
            }
        }
        let nonce = self.chain.nonce(from);
        if envelope.nonce() < nonce {
            return Err(RpcError::server(format!("nonce too low: next nonce {nonce}, tx nonce {}", envelope.nonce())));
        }
        if envelope.nonce() > nonce {
            return Err(RpcError::server(format!("nonce too high: next nonce {nonce}, tx nonce {}", envelope.nonce())));
        }
        if envelope.max_fee_per_gas() < BASE_FEE as u128 {
            return Err(RpcError::server(format!(
                "max fee per gas less than block base fee: maxFeePerGas: {}, baseFee: {BASE_FEE}",
                envelope.max_fee_per_gas()
            )));
        }
        let cost = U256::from(envelope.gas_limit()) * U256::from(envelope.max_fee_per_gas()) + envelope.value();
        let balance = self.chain.balance(from);
        if balance < cost {
            return Err(RpcError::server(format!(
                "insufficient funds for gas * price + value: address {from} have {balance} want {cost}"
            )));
        }
        let tx = tx_env(&envelope, from);
        let executed = self.chain.transact_raw(tx, raw).map_err(|e| RpcError::server(e.to_string()))?;
        self.pinned_once();
        let gas_used = executed.gas_used();
        let receipt_logs: Vec<PrimLog> = executed.logs().to_vec();
        let bloom = alloy_primitives::logs_bloom(receipt_logs.iter());
        let (number, block_hash) = self.seal(vec![hash], gas_used, bloom);
        let receipt = self.receipt(&envelope, from, hash, number, block_hash, &executed);
        let gas_used_for_l1 = executed.gas_used_for_l1;
        self.txs.insert(hash, TxRecord { envelope, from, block: number, receipt, gas_used_for_l1 });
        Ok(hash)
    }

    /// `evm_setNextBlockTimestamp` pins only the next block.
    fn pinned_once(&mut self) {
        self.chain.pinned_timestamp = None;
    }

    fn receipt(
        &self,
        envelope: &TxEnvelope,
        from: Address,
        hash: B256,
        number: u64,
        block_hash: B256,
        executed: &Executed,
    ) -> TransactionReceipt {
        let logs: Vec<Log> = executed
            .logs()
            .iter()
            .enumerate()
            .map(|(i, l)| Log {
                inner: l.clone(),
                block_hash: Some(block_hash),
                block_number: Some(number),
                block_timestamp: Some(self.chain.timestamp),
                transaction_hash: Some(hash),
                transaction_index: Some(0),
                log_index: Some(i as u64),
                removed: false,
            })
            .collect();
        let receipt = Receipt { status: executed.is_success().into(), cumulative_gas_used: executed.gas_used(), logs };
        let with_bloom = ReceiptWithBloom::from(receipt);
        let inner = match envelope.tx_type() {
            TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
            TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
            TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
            TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
            TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
        };
        TransactionReceipt {
            inner,
            transaction_hash: hash,
            transaction_index: Some(0),
            block_hash: Some(block_hash),
            block_number: Some(number),
            gas_used: executed.gas_used(),
            effective_gas_price: envelope.effective_gas_price(Some(BASE_FEE)),
            blob_gas_used: None,
            blob_gas_price: None,
            from,
            to: envelope.to(),
            contract_address: executed.contract_address,
        }
    }

    /// A receipt by transaction hash, with Nitro's `gasUsedForL1` (the part of `gasUsed` that
    /// paid for L1 data) and `l1BlockNumber` (the devnet has no L1: 0).
    pub fn receipt_by_hash(&self, hash: B256) -> Option<WithOtherFields<TransactionReceipt>> {
        self.txs.get(&hash).map(|t| {
            let mut r = WithOtherFields::new(t.receipt.clone());
            r.other.insert("gasUsedForL1".into(), format!("{:#x}", t.gas_used_for_l1).into());
            r.other.insert("l1BlockNumber".into(), "0x0".into());
            r
        })
    }

    /// A transaction by hash, as the RPC returns it.
    pub fn transaction_by_hash(&self, hash: B256) -> Option<Transaction> {
        let t = self.txs.get(&hash)?;
        Some(self.rpc_tx(t))
    }

    fn rpc_tx(&self, t: &TxRecord) -> Transaction {
        let block = &self.blocks[t.block as usize];
        Transaction {
            inner: alloy_consensus::transaction::Recovered::new_unchecked(t.envelope.clone(), t.from),
            block_hash: Some(block.hash),
            block_number: Some(t.block),
            transaction_index: Some(0),
            effective_gas_price: Some(t.envelope.effective_gas_price(Some(BASE_FEE))),
        }
    }

    /// A block by number, with hashes or full transactions.
    pub fn block(&self, number: u64, full: bool) -> Option<Block> {
        let b = self.blocks.get(number as usize)?;
        let transactions = if full {
            BlockTransactions::Full(b.txs.iter().filter_map(|h| self.txs.get(h)).map(|t| self.rpc_tx(t)).collect())
        } else {
            BlockTransactions::Hashes(b.txs.clone())
        };
        Some(Block {
            header: RpcHeader { hash: b.hash, inner: b.header.clone(), total_difficulty: Some(U256::ZERO), size: None },
            uncles: Vec::new(),
            transactions,
            withdrawals: None,
        })
    }

    /// A block number from its hash.
    pub fn number_of(&self, hash: B256) -> Option<u64> {
        self.by_hash.get(&hash).copied()
    }

    /// `eth_call`: `req` against the latest state (with `overrides` applied to a copy), nothing
    /// committed.
    pub fn call(&mut self, req: &TransactionRequest, overrides: Option<&StateOverride>) -> Result<Bytes, RpcError> {
        self.call_at(req, None, overrides)
    }

    /// `eth_call` at `block` (the latest when `None`): the state after that block, if it is among
    /// the last [`RECENT_STATES`]; an older one is refused like a non-archive node refuses it.
    pub fn call_at(
        &mut self,
        req: &TransactionRequest,
        block: Option<BlockId>,
        overrides: Option<&StateOverride>,
    ) -> Result<Bytes, RpcError> {
        let latest = self.block_number();
        let number = match block {
            None | Some(BlockId::Number(BlockNumberOrTag::Latest | BlockNumberOrTag::Pending)) => latest,
            Some(BlockId::Number(BlockNumberOrTag::Number(n))) => n,
            Some(BlockId::Number(BlockNumberOrTag::Earliest)) => 0,
            Some(BlockId::Number(_)) => latest,
            Some(BlockId::Hash(h)) => self
                .number_of(h.block_hash)
                .ok_or_else(|| RpcError::server(format!("header for hash {} not found", h.block_hash)))?,
        };
        if number > latest {
            return Err(RpcError::server(format!("header not found: block {number} is above the head {latest}")));
        }
        let past = if number == latest {
            None
        } else {
            let state = self.recent.iter().find(|(n, _)| *n == number).map(|(_, c)| c.clone());
            Some(state.ok_or_else(|| {
                RpcError::server(format!(
                    "missing trie node: the state of block {number} is not kept (the last {RECENT_STATES} are)"
                ))
            })?)
        };
        match (past, overrides) {
            (Some(mut chain), o) => {
                if let Some(o) = o {
                    apply_overrides(&mut chain, o);
                }
                call_on(&mut chain, req)
            }
            (None, Some(o)) => {
                let mut chain = self.chain.clone();
                apply_overrides(&mut chain, o);
                call_on(&mut chain, req)
            }
            (None, None) => call_on(&mut self.chain, req),
        }
    }

    /// `eth_estimateGas`: the smallest gas limit that succeeds (binary search), or the revert;
    /// L1 gas included, as Nitro's estimate includes it.
    pub fn estimate_gas(&mut self, req: &TransactionRequest) -> Result<u64, RpcError> {
        let mut req = req.clone();
        req.gas = Some(RPC_GAS_CAP);
        let tx = request_env(&req, &self.chain);
        req.gas = None;
        match node_interface::estimate_gas(&mut self.chain, tx, &request_message(&req), RPC_GAS_CAP) {
            Estimate::Gas(g) => Ok(g),
            Estimate::Reverted(data) => Err(RpcError::reverted(data)),
            Estimate::Failed(e) => Err(RpcError::server(e)),
        }
    }

    /// `eth_getLogs`.
    pub fn logs(&self, filter: &Filter) -> Vec<Log> {
        let latest = self.block_number();
        let from = filter.get_from_block().unwrap_or(latest).min(latest);
        let to = filter.get_to_block().unwrap_or(latest).min(latest);
        let mut out = Vec::new();
        for number in from..=to {
            let Some(block) = self.blocks.get(number as usize) else { continue };
            if let Some(h) = filter.get_block_hash() {
                if h != block.hash {
                    continue;
                }
            }
            for hash in &block.txs {
                if let Some(t) = self.txs.get(hash) {
                    for log in t.receipt.inner.logs() {
                        if filter.matches(&log.inner) {
                            out.push(log.clone());
                        }
                    }
                }
            }
        }
        out
    }

    /// `evm_snapshot`.
    pub fn snapshot(&mut self) -> u64 {
        self.snapshots.push((self.chain.clone(), self.blocks.len()));
        self.snapshots.len() as u64 - 1
    }

    /// `evm_revert`: back to snapshot `id` (which is used up, with every later one).
    pub fn revert(&mut self, id: u64) -> bool {
        if id as usize >= self.snapshots.len() {
            return false;
        }
        let (chain, blocks) = self.snapshots.drain(id as usize..).next().expect("checked above");
        for b in self.blocks.drain(blocks..) {
            self.by_hash.remove(&b.hash);
            for h in b.txs {
                self.txs.remove(&h);
            }
        }
        self.chain = chain;
        true
    }
}

fn apply_overrides(chain: &mut Chain, overrides: &StateOverride) {
    for (addr, o) in overrides.iter() {
        if let Some(b) = o.balance {
            chain.set_balance(*addr, b);
        }
        if let Some(n) = o.nonce {
            chain.set_nonce(*addr, n);
        }
        if let Some(code) = &o.code {
            chain.set_code(*addr, code.clone());
        }
        if let Some(state) = &o.state {
            chain.clear_storage(*addr);
            for (k, v) in state {
                chain.set_storage(*addr, (*k).into(), (*v).into());
            }
        }
        if let Some(diff) = &o.state_diff {
            for (k, v) in diff {
                chain.set_storage(*addr, (*k).into(), (*v).into());
            }
        }
    }
}

/// `eth_call` on `chain`: NodeInterface answered at `0xc8`; anything else run with its L1 gas
/// charged as Nitro charges a call's (without a gas limit, the cap plus the L1 gas).
fn call_on(chain: &mut Chain, req: &TransactionRequest) -> Result<Bytes, RpcError> {
    let msg = request_message(req);
    if req.to == Some(TxKind::Call(NODE_INTERFACE)) {
        let call = node_interface::Call {
            from: req.from.unwrap_or_default(),
            nonce: msg.nonce,
            gas: msg.gas,
            max_fee_per_gas: msg.max_fee_per_gas,
            max_priority_fee_per_gas: msg.max_priority_fee_per_gas,
            value: msg.value,
            input: msg.data.clone(),
        };
        return node_interface::answer(chain, &call, RPC_GAS_CAP).map_err(|e| match e {
            NodeInterfaceError::Reverted(data) => RpcError::reverted(data),
            e => RpcError::server(e.to_string()),
        });
    }
    // Nitro prices the stand-in with the gas limit the call runs with: the cap when none is given.
    let gas = req.gas.unwrap_or(RPC_GAS_CAP);
    let poster_gas = chain.stand_in_poster_gas(&l1_pricing::Message { gas, ..msg }, false);
    let mut tx = request_env(req, chain);
    if req.gas.is_none() {
        tx.gas_limit = RPC_GAS_CAP.saturating_add(poster_gas);
    }
    let executed = chain.call_with_poster_gas(tx, poster_gas).map_err(|e| RpcError::server(e.to_string()))?;
    match executed.result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => Err(RpcError::reverted(output)),
        ExecutionResult::Halt { reason, .. } => Err(RpcError::server(format!("execution halted: {reason:?}"))),
    }
}

/// The L1-relevant fields of a call request as Nitro's `ToMessage` fills them: zero for what is
/// missing (the stand-in then uses placeholders).
fn request_message(req: &TransactionRequest) -> l1_pricing::Message {
    l1_pricing::Message {
        nonce: req.nonce.unwrap_or(0),
        max_priority_fee_per_gas: req.max_priority_fee_per_gas.or(req.gas_price).unwrap_or(0),
        max_fee_per_gas: req.max_fee_per_gas.or(req.gas_price).unwrap_or(0),
        gas: req.gas.unwrap_or(0),
        to: req.to.and_then(|k| k.to().copied()),
        value: req.value.unwrap_or_default(),
        data: req.input.input().cloned().unwrap_or_default(),
        access_list: req.access_list.clone().unwrap_or_default(),
    }
}

/// The revm transaction of a signed transaction from `from`.
fn tx_env(tx: &TxEnvelope, from: Address) -> TxEnv {
    let mut b = TxEnv::builder()
        .tx_type(Some(tx.tx_type() as u8))
        .caller(from)
        .nonce(tx.nonce())
        .kind(tx.kind())
        .data(tx.input().clone())
        .value(tx.value())
        .gas_limit(tx.gas_limit())
        .chain_id(tx.chain_id());
    b = if tx.is_dynamic_fee() {
        b.gas_price(tx.max_fee_per_gas()).gas_priority_fee(tx.max_priority_fee_per_gas())
    } else {
        b.gas_price(tx.gas_price().unwrap_or_default())
    };
    if let Some(list) = tx.access_list() {
        b = b.access_list(list.clone());
    }
    b.build_fill()
}

/// The revm transaction of a call request (missing fields filled like geth's `eth_call`).
fn request_env(req: &TransactionRequest, chain: &Chain) -> TxEnv {
    let from = req.from.unwrap_or_default();
    TxEnv::builder()
        .caller(from)
        .nonce(req.nonce.unwrap_or_else(|| chain.nonce(from)))
        .kind(req.to.unwrap_or(TxKind::Create))
        .data(req.input.input().cloned().unwrap_or_default())
        .value(req.value.unwrap_or_default())
        .gas_limit(req.gas.unwrap_or(30_000_000))
        .gas_price(req.gas_price.or(req.max_fee_per_gas).unwrap_or(0))
        .chain_id(Some(chain.chain_id))
        .build_fill()
}
