//! The chain boundary's second implementation: a [`ChainClient`] over the devnet library in this
//! process, with no socket and no JSON-RPC in between.
//!
//! The client library knows nothing of the devnet (it must not depend on it), so this lives with
//! the tests. It drives the devnet's node ([`avocado_devnet::rpc::node::Node`]: the revm chain of
//! [`avocado_devnet::chain::Chain`] plus the history a node keeps — blocks and their hashes,
//! receipts, logs, the states after the last [`RECENT_STATES`](avocado_devnet::rpc::node::RECENT_STATES) blocks) rather than the bare
//! `Chain`, because the bare chain remembers no block hash, no log and no past state: the
//! watchtower could not follow the judge's events over it, nor notice a reorg, nor read a deposit
//! at its confirmation depth.
//!
//! Every transaction is a real EIP-1559 transaction signed with the node's own key (nonce from the
//! chain, gas estimated by the devnet as `eth_estimateGas` would, at the base fee), executed and
//! mined by the devnet exactly as one arriving over `eth_sendRawTransaction`: the node's address
//! pays the gas, the judge sees it as `msg.sender`. Events are read with the devnet's
//! `eth_getLogs` and decoded by the client's own [`order_and_decode`], as [`AlloyChain`] decodes
//! them. Reads at a past block ([`ChainClient::read_at`]) answer against the state after that
//! block when it is among the last [`RECENT_STATES`](avocado_devnet::rpc::node::RECENT_STATES), and fail as a non-archive node fails
//! otherwise.
//!
//! Several nodes share one chain through [`SharedDevnet`] (a mutex around the devnet's node, held
//! only while the devnet executes, never across an `await`).
//!
//! [`AlloyChain`]: avocado_client::chain::AlloyChain

use std::sync::{Arc, Mutex, MutexGuard};

use alloy_network::{eip2718::Encodable2718, EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_rpc_types_eth::{BlockId, Filter, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use avocado_client::chain::{
    order_and_decode, ChainClient, ChainError, ChannelStatusOnChain, Head, JudgeEvent, Revert, TxReceipt, JUDGE_EVENTS,
};
use avocado_codec::IAvocadoJudge as I;
use avocado_devnet::{
    chain::{arbos, ChainConfig, BASE_FEE},
    rpc::node::{Node as DevnetNode, RpcError},
    stylus,
};
use futures::future::BoxFuture;
use k256::ecdsa::SigningKey;

use crate::judge_scenarios::{CHAIN_ID, GENESIS_TIME, JUDGE};

/// One devnet shared by every node of a test.
pub type SharedDevnet = Arc<Mutex<DevnetNode>>;

/// The activation fee sent with `ArbWasm.activateProgram` (the surplus is refunded).
const ACTIVATION_VALUE: u64 = 100_000_000_000_000_000;

/// A devnet at genesis on [`CHAIN_ID`], each of `funded` holding `balance` wei, with the judge's
/// deployable code `judge` (`EF F0 00 00` + brotli) placed at [`JUDGE`] and activated through
/// ArbWasm by a signed transaction from `activator` (one of `funded`).
pub async fn devnet_with_judge(
    judge: &[u8],
    funded: &[Address],
    balance: U256,
    activator: &SigningKey,
) -> Result<SharedDevnet, ChainError> {
    assert!(stylus::is_stylus(judge), "not Stylus code");
    let config = ChainConfig {
        chain_id: CHAIN_ID,
        genesis_timestamp: GENESIS_TIME,
        funded: funded.iter().map(|a| (*a, balance)).collect(),
        ..Default::default()
    };
    let mut node = DevnetNode::new(&config);
    // Placed as `anvil_setCode` places it: the committed vectors are signed for this address.
    node.chain.set_code(JUDGE, Bytes::copy_from_slice(judge));
    let devnet = Arc::new(Mutex::new(node));
    let by = DevnetChain::new(devnet.clone(), JUDGE, activator.clone());
    let activate = arbos::ArbWasm::activateProgramCall { program: JUDGE }.abi_encode();
    by.transact(arbos::ARB_WASM, activate, U256::from(ACTIVATION_VALUE)).await?;
    Ok(devnet)
}

/// A [`ChainClient`] for one node: its key signs and pays for what it sends.
pub struct DevnetChain {
    devnet: SharedDevnet,
    judge: Address,
    chain_id: u64,
    from: Address,
    wallet: EthereumWallet,
    /// One transaction at a time: the account's nonces stay in order.
    sending: tokio::sync::Mutex<()>,
}

/// The error an RPC endpoint would answer, as [`AlloyChain`](avocado_client::chain::AlloyChain)
/// turns it into a [`ChainError`]: revert data (code 3) decoded into the contract's typed error.
fn chain_error(e: RpcError) -> ChainError {
    match e.data {
        Some(data) if e.code == 3 => ChainError::Reverted(Revert::decode(&data)),
        _ if e.message.contains("revert") => ChainError::Reverted(Revert::Message(e.message)),
        _ => ChainError::Rpc(e.message),
    }
}

impl DevnetChain {
    /// The chain of the node whose participant key is `key`, talking to the judge at `judge`.
    pub fn new(devnet: SharedDevnet, judge: Address, key: SigningKey) -> Self {
        let signer = PrivateKeySigner::from_signing_key(key);
        let from = signer.address();
        let chain_id = devnet.lock().unwrap_or_else(|p| p.into_inner()).chain.chain_id;
        Self {
            devnet,
            judge,
            chain_id,
            from,
            wallet: EthereumWallet::from(signer),
            sending: tokio::sync::Mutex::new(()),
        }
    }

    /// The address that signs and pays.
    pub fn address(&self) -> Address {
        self.from
    }

    fn lock(&self) -> MutexGuard<'_, DevnetNode> {
        self.devnet.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send_inner(&self, to: Address, calldata: Vec<u8>, value: U256) -> Result<TxReceipt, ChainError> {
        let _one_at_a_time = self.sending.lock().await;
        let request =
            TransactionRequest::default().with_from(self.from).with_to(to).with_input(calldata).with_value(value);
        // What a wallet asks the endpoint before signing: the nonce and the gas (a revert here is
        // the contract's refusal, and nothing is sent).
        let (nonce, gas) = {
            let mut devnet = self.lock();
            let gas = devnet.estimate_gas(&request).map_err(chain_error)?;
            (devnet.chain.nonce(self.from), gas)
        };
        let envelope = request
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas)
            .with_max_fee_per_gas(u128::from(BASE_FEE))
            .with_max_priority_fee_per_gas(0)
            .build(&self.wallet)
            .await
            .map_err(|e| ChainError::Rpc(format!("signing: {e}")))?;
        let mut devnet = self.lock();
        let hash = devnet.send_raw(&envelope.encoded_2718()).map_err(chain_error)?;
        let receipt = devnet.receipt_by_hash(hash).ok_or_else(|| ChainError::Rpc(format!("no receipt for {hash}")))?;
        if !receipt.inner.status() {
            return Err(ChainError::Failed(hash));
        }
        Ok(TxReceipt {
            tx: hash,
            gas_used: receipt.inner.gas_used,
            block: receipt.inner.block_number.unwrap_or_default(),
            gas_price: u64::try_from(receipt.inner.effective_gas_price).unwrap_or(u64::MAX),
        })
    }

    fn call(&self, to: Address, calldata: Vec<u8>, block: Option<u64>) -> Result<Bytes, ChainError> {
        let request = TransactionRequest::default().with_from(self.from).with_to(to).with_input(calldata);
        self.lock().call_at(&request, block.map(BlockId::number), None).map_err(chain_error)
    }
}

fn ready<T: Send + 'static>(v: T) -> BoxFuture<'static, T> {
    Box::pin(async move { v })
}

impl ChainClient for DevnetChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn judge(&self) -> Address {
        self.judge
    }

    fn transact(&self, to: Address, calldata: Vec<u8>, value: U256) -> BoxFuture<'_, Result<TxReceipt, ChainError>> {
        Box::pin(self.send_inner(to, calldata, value))
    }

    fn read(&self, to: Address, calldata: Vec<u8>) -> BoxFuture<'_, Result<Bytes, ChainError>> {
        ready(self.call(to, calldata, None))
    }

    /// Against the state after block `block`, when the devnet still keeps it (the last
    /// [`RECENT_STATES`](avocado_devnet::rpc::node::RECENT_STATES) blocks); an older block fails as a non-archive node fails.
    fn read_at(&self, to: Address, calldata: Vec<u8>, block: u64) -> BoxFuture<'_, Result<Bytes, ChainError>> {
        ready(self.call(to, calldata, Some(block)))
    }

    fn balance(&self, who: Address) -> BoxFuture<'_, Result<U256, ChainError>> {
        ready(Ok(self.lock().chain.balance(who)))
    }

    fn status(&self, channel: B256) -> BoxFuture<'_, Result<ChannelStatusOnChain, ChainError>> {
        let out = self.call(self.judge, I::statusCall { channelId: channel }.abi_encode(), None);
        ready(out.and_then(|out| {
            let s = I::statusCall::abi_decode_returns(&out).map_err(|e| ChainError::Rpc(e.to_string()))?;
            Ok(ChannelStatusOnChain {
                phase: s.phase,
                version: s.version,
                finalizes_at: s.finalizesAt,
                data_hash: s.dataHash,
            })
        }))
    }

    fn head(&self) -> BoxFuture<'_, Result<Head, ChainError>> {
        let devnet = self.lock();
        let head = devnet
            .block(devnet.block_number(), false)
            .map(|b| Head { number: b.header.number, timestamp: b.header.timestamp, hash: b.header.hash })
            .ok_or_else(|| ChainError::Rpc("the devnet has no latest block".into()));
        ready(head)
    }

    fn block_hash(&self, number: u64) -> BoxFuture<'_, Result<Option<B256>, ChainError>> {
        ready(Ok(self.lock().block(number, false).map(|b| b.header.hash)))
    }

    fn events(&self, from: u64, to: u64) -> BoxFuture<'_, Result<Vec<(u64, JudgeEvent)>, ChainError>> {
        let filter =
            Filter::new().address(self.judge).event_signature(JUDGE_EVENTS.to_vec()).from_block(from).to_block(to);
        let logs = self.lock().logs(&filter);
        ready(order_and_decode(&logs, from, to))
    }
}
