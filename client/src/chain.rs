//! The chain adapter: what a node asks of the judge, behind one narrow trait.
//!
//! [`ChainClient`] is all the node knows of a chain; [`AlloyChain`] implements it with an alloy
//! provider over JSON-RPC, so the same node runs against the embedded devnet, a nitro devnode or
//! Arbitrum Sepolia. Calls are the judge's `sol!` bindings from the codec; gas is estimated by
//! the node the provider talks to, and a revert comes back as the judge's typed error.

use std::time::Duration;

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_provider::{DynProvider, Provider, ProviderBuilder};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent, SolInterface};
use avocado_codec::IAvocadoJudge as I;
use futures::future::BoxFuture;

/// Why a chain operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The judge refused the call with one of its errors.
    #[error("the judge refused: {0}")]
    Reverted(Revert),
    /// The transaction was mined but failed.
    #[error("transaction {0} failed on chain")]
    Failed(B256),
    /// The RPC endpoint failed or is unreachable.
    #[error("chain RPC: {0}")]
    Rpc(String),
}

/// A mined transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxReceipt {
    /// Transaction hash.
    pub tx: B256,
    /// Gas used by the whole transaction.
    pub gas_used: u64,
    /// Block it was mined in.
    pub block: u64,
    /// Price paid per gas (wei; u64 holds 18 ETH a gas, and JSON events carry it as a number).
    pub gas_price: u64,
}

impl TxReceipt {
    /// What the transaction cost its sender (wei).
    pub fn fee(&self) -> U256 {
        U256::from(self.gas_used) * U256::from(self.gas_price)
    }
}

/// The judge's answer to `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatusOnChain {
    /// Phase (`avocado_codec::phase`).
    pub phase: u8,
    /// Stored version.
    pub version: u64,
    /// Dispute deadline, 0 when none runs.
    pub finalizes_at: u64,
    /// `keccak256` of the stored state's data.
    pub data_hash: B256,
}

/// The chain's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block timestamp (seconds).
    pub timestamp: u64,
    /// Block hash: the watchtower compares it with what it read before to notice a reorg.
    pub hash: B256,
}

/// One event of the judge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JudgeEvent {
    /// `ChannelOpened`.
    Opened {
        /// The channel.
        channel: B256,
    },
    /// `StateCheckpointed`.
    Checkpointed {
        /// The channel.
        channel: B256,
        /// The version now stored.
        version: u64,
    },
    /// `ChallengeStarted`.
    ChallengeStarted {
        /// The channel.
        channel: B256,
        /// Who started it.
        challenger: Address,
        /// The version stored.
        version: u64,
        /// Deadline.
        finalizes_at: u64,
    },
    /// `ChannelConcluded`.
    Concluded {
        /// The channel.
        channel: B256,
        /// The final version.
        version: u64,
    },
}

impl JudgeEvent {
    /// The channel this event is about.
    pub fn channel(&self) -> B256 {
        match self {
            Self::Opened { channel }
            | Self::Checkpointed { channel, .. }
            | Self::ChallengeStarted { channel, .. }
            | Self::Concluded { channel, .. } => *channel,
        }
    }
}

/// What a node needs from a chain.
pub trait ChainClient: Send + Sync {
    /// The chain id (part of every signature's domain).
    fn chain_id(&self) -> u64;
    /// The judge's address.
    fn judge(&self) -> Address;
    /// Sends `calldata` to the judge from this node's account and waits for the receipt.
    fn send(&self, calldata: Vec<u8>) -> BoxFuture<'_, Result<TxReceipt, ChainError>> {
        self.transact(self.judge(), calldata, U256::ZERO)
    }
    /// Sends `calldata` with `value` wei to `to` (an executive contract) and waits for the receipt.
    fn transact(&self, to: Address, calldata: Vec<u8>, value: U256) -> BoxFuture<'_, Result<TxReceipt, ChainError>>;
    /// Calls `to` without a transaction.
    fn read(&self, to: Address, calldata: Vec<u8>) -> BoxFuture<'_, Result<Bytes, ChainError>>;
    /// Calls `to` without a transaction, against the state after block `block` (what a node
    /// relies on only once it is confirmed). Chains that cannot say answer as [`Self::read`].
    fn read_at(&self, to: Address, calldata: Vec<u8>, block: u64) -> BoxFuture<'_, Result<Bytes, ChainError>> {
        let _ = block;
        self.read(to, calldata)
    }
    /// The ETH balance of `who`.
    fn balance(&self, who: Address) -> BoxFuture<'_, Result<U256, ChainError>>;
    /// The judge's `status` of a channel.
    fn status(&self, channel: B256) -> BoxFuture<'_, Result<ChannelStatusOnChain, ChainError>>;
    /// The latest block.
    fn head(&self) -> BoxFuture<'_, Result<Head, ChainError>>;
    /// The hash of block `number`, or `None` when the endpoint does not know that block (it is
    /// above its head, or was dropped by a reorg). The watchtower keeps the hash of the last
    /// block it read and compares it on the next pass: a mismatch is a reorg.
    fn block_hash(&self, number: u64) -> BoxFuture<'_, Result<Option<B256>, ChainError>>;
    /// The judge's events in blocks `from..=to`, with their block numbers, in chain order
    /// (block, then position in the block) whatever order the endpoint answered in.
    ///
    /// An error, never a partial answer, when any of the judge's logs cannot be decoded: the
    /// watchtower advances past a range only when it read every event in it.
    fn events(&self, from: u64, to: u64) -> BoxFuture<'_, Result<Vec<(u64, JudgeEvent)>, ChainError>>;
}

/// A contract's refusal, decoded: the judge's or the escrow's typed Solidity error when the
/// revert data is one of theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    /// One of the judge's errors (`StaleVersion`, `InvalidSignature`, `ChannelFinal`, …).
    Judge(I::IAvocadoJudgeErrors),
    /// One of the payment escrow's errors.
    Escrow(avocado_codec::payment::IAvocadoEscrow::IAvocadoEscrowErrors),
    /// Revert data neither contract's (empty when the call reverted without a reason).
    Data(Bytes),
    /// The endpoint said the call reverted but gave no data, only this message.
    Message(String),
}

impl Revert {
    /// Decodes revert data.
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(e) = I::IAvocadoJudgeErrors::abi_decode(data) {
            return Self::Judge(e);
        }
        if let Ok(e) = avocado_codec::payment::IAvocadoEscrow::IAvocadoEscrowErrors::abi_decode(data) {
            return Self::Escrow(e);
        }
        Self::Data(Bytes::copy_from_slice(data))
    }
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Judge(e) => write!(f, "{}", format!("{e:?}").replace("IAvocadoJudgeErrors::", "")),
            Self::Escrow(e) => write!(f, "{}", format!("{e:?}").replace("IAvocadoEscrowErrors::", "")),
            Self::Data(d) if d.is_empty() => write!(f, "reverted without a reason"),
            Self::Data(d) => write!(f, "reverted with data {}", alloy_primitives::hex::encode_prefixed(d)),
            Self::Message(m) => write!(f, "{m}"),
        }
    }
}

/// Decodes the judge's (or the escrow's) revert data into a readable error, or describes it raw.
pub fn describe_revert(data: &[u8]) -> String {
    Revert::decode(data).to_string()
}

/// Follows the chain's new blocks over a WebSocket subscription (`eth_subscribe` `newHeads`) and
/// calls `on_head` with each block's number until it returns `false` (then `Ok`).
///
/// Meant only as a wake-up: a subscription can drop or skip blocks without notice, so what it
/// says is never relied upon; the caller still reads the chain by polling. Returns an error when
/// the endpoint cannot be reached, refuses the subscription, or closes it.
pub async fn follow_new_heads(ws_url: &str, mut on_head: impl FnMut(u64) -> bool) -> Result<(), ChainError> {
    use alloy_provider::WsConnect;
    let provider = ProviderBuilder::new()
        .connect_ws(WsConnect::new(ws_url))
        .await
        .map_err(|e| ChainError::Rpc(format!("{ws_url}: {e}")))?;
    let mut sub = provider.subscribe_blocks().await.map_err(|e| ChainError::Rpc(format!("{ws_url}: {e}")))?;
    loop {
        match sub.recv().await {
            Ok(header) => {
                if !on_head(header.number) {
                    return Ok(());
                }
            }
            // Missed announcements do not matter: the next pass reads everything anyway.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                if !on_head(0) {
                    return Ok(());
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                return Err(ChainError::Rpc(format!("{ws_url}: the block subscription closed")));
            }
        }
    }
}

fn rpc_error(e: alloy_provider::transport::TransportError) -> ChainError {
    if let Some(payload) = e.as_error_resp() {
        if let Some(data) = payload.data.as_ref() {
            if let Ok(bytes) = serde_json::from_str::<Bytes>(data.get()) {
                return ChainError::Reverted(Revert::decode(&bytes));
            }
        }
        if payload.message.contains("revert") {
            return ChainError::Reverted(Revert::Message(payload.message.to_string()));
        }
    }
    ChainError::Rpc(e.to_string())
}

/// A [`ChainClient`] over JSON-RPC with alloy, paying gas from the node's own key.
pub struct AlloyChain {
    provider: DynProvider,
    judge: Address,
    chain_id: u64,
    from: Address,
    /// One transaction at a time: the account's nonces stay in order.
    sending: tokio::sync::Mutex<()>,
    poll: Duration,
}

impl AlloyChain {
    /// Connects to `rpc_url` and checks that code lives at `judge`.
    pub async fn connect(rpc_url: &str, judge: Address, signer: PrivateKeySigner) -> Result<Self, ChainError> {
        let url = rpc_url.parse().map_err(|e| ChainError::Rpc(format!("bad RPC URL {rpc_url}: {e}")))?;
        let from = signer.address();
        // Nonces are read from the node for every transaction (and sends are serialized below):
        // a cached nonce would drift after a send that failed before reaching the chain.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url)
            .erased();
        let chain_id = provider.get_chain_id().await.map_err(|e| ChainError::Rpc(format!("{rpc_url}: {e}")))?;
        let code = provider.get_code_at(judge).await.map_err(rpc_error)?;
        if code.is_empty() {
            return Err(ChainError::Rpc(format!("no contract at {judge} on chain {chain_id}: deploy the judge first")));
        }
        Ok(Self {
            provider,
            judge,
            chain_id,
            from,
            sending: tokio::sync::Mutex::new(()),
            poll: Duration::from_millis(25),
        })
    }

    async fn send_inner(&self, to: Address, calldata: Vec<u8>, value: U256) -> Result<TxReceipt, ChainError> {
        let _one_at_a_time = self.sending.lock().await;
        let tx = TransactionRequest::default().with_from(self.from).with_to(to).with_input(calldata).with_value(value);
        let pending = self.provider.send_transaction(tx).await.map_err(rpc_error)?;
        let hash = *pending.tx_hash();
        let mut wait = self.poll;
        for _ in 0..2_000 {
            if let Some(r) = self.provider.get_transaction_receipt(hash).await.map_err(rpc_error)? {
                if !r.status() {
                    return Err(ChainError::Failed(hash));
                }
                return Ok(TxReceipt {
                    tx: hash,
                    gas_used: r.gas_used,
                    block: r.block_number.unwrap_or_default(),
                    gas_price: u64::try_from(r.effective_gas_price).unwrap_or(u64::MAX),
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
        Err(ChainError::Rpc(format!("transaction {hash} not mined after a long wait")))
    }
}

/// The topics of the judge's four events: the only logs the watchtower asks for (every
/// [`ChainClient`] filters the judge's logs by them).
pub const JUDGE_EVENTS: [B256; 4] = [
    I::ChannelOpened::SIGNATURE_HASH,
    I::StateCheckpointed::SIGNATURE_HASH,
    I::ChallengeStarted::SIGNATURE_HASH,
    I::ChannelConcluded::SIGNATURE_HASH,
];

/// Puts an `eth_getLogs` answer for `from..=to` in chain order and decodes every log, or says
/// why it cannot: a log without a position (pending), outside the range asked, or that does not
/// decode as one of the judge's events makes the whole answer unusable, so the caller reads the
/// range again rather than skip an event. Shared by every [`ChainClient`] whose endpoint answers
/// logs in `eth_getLogs`' shape, so that they all decode the judge's events alike.
pub fn order_and_decode(
    logs: &[alloy_rpc_types_eth::Log],
    from: u64,
    to: u64,
) -> Result<Vec<(u64, JudgeEvent)>, ChainError> {
    let mut out = Vec::with_capacity(logs.len());
    for log in logs {
        if log.removed {
            continue;
        }
        let (Some(block), Some(index)) = (log.block_number, log.log_index) else {
            return Err(ChainError::Rpc(format!(
                "eth_getLogs for blocks {from}..={to} returned a log without block number or index"
            )));
        };
        if block < from || block > to {
            return Err(ChainError::Rpc(format!(
                "eth_getLogs for blocks {from}..={to} returned a log of block {block}"
            )));
        }
        let event = decode_event(log).ok_or_else(|| {
            ChainError::Rpc(format!("a log of the judge in block {block} (index {index}) does not decode"))
        })?;
        out.push((block, index, event));
    }
    out.sort_by_key(|(block, index, _)| (*block, *index));
    Ok(out.into_iter().map(|(block, _, event)| (block, event)).collect())
}

fn decode_event(log: &alloy_rpc_types_eth::Log) -> Option<JudgeEvent> {
    let data = log.data();
    match data.topics().first().copied()? {
        t if t == I::ChannelOpened::SIGNATURE_HASH => {
            I::ChannelOpened::decode_log_data(data).ok().map(|e| JudgeEvent::Opened { channel: e.channelId })
        }
        t if t == I::StateCheckpointed::SIGNATURE_HASH => I::StateCheckpointed::decode_log_data(data)
            .ok()
            .map(|e| JudgeEvent::Checkpointed { channel: e.channelId, version: e.version }),
        t if t == I::ChallengeStarted::SIGNATURE_HASH => {
            I::ChallengeStarted::decode_log_data(data).ok().map(|e| JudgeEvent::ChallengeStarted {
                channel: e.channelId,
                challenger: e.challenger,
                version: e.version,
                finalizes_at: e.finalizesAt,
            })
        }
        t if t == I::ChannelConcluded::SIGNATURE_HASH => I::ChannelConcluded::decode_log_data(data)
            .ok()
            .map(|e| JudgeEvent::Concluded { channel: e.channelId, version: e.version }),
        _ => None,
    }
}

impl ChainClient for AlloyChain {
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
        Box::pin(async move {
            let tx = TransactionRequest::default().with_from(self.from).with_to(to).with_input(calldata);
            self.provider.call(tx).await.map_err(rpc_error)
        })
    }

    fn read_at(&self, to: Address, calldata: Vec<u8>, block: u64) -> BoxFuture<'_, Result<Bytes, ChainError>> {
        Box::pin(async move {
            let tx = TransactionRequest::default().with_from(self.from).with_to(to).with_input(calldata);
            self.provider.call(tx).block(block.into()).await.map_err(rpc_error)
        })
    }

    fn balance(&self, who: Address) -> BoxFuture<'_, Result<U256, ChainError>> {
        Box::pin(async move { self.provider.get_balance(who).await.map_err(rpc_error) })
    }

    fn status(&self, channel: B256) -> BoxFuture<'_, Result<ChannelStatusOnChain, ChainError>> {
        Box::pin(async move {
            let call = I::statusCall { channelId: channel };
            let tx = TransactionRequest::default().with_to(self.judge).with_input(call.abi_encode());
            let out = self.provider.call(tx).await.map_err(rpc_error)?;
            let s = I::statusCall::abi_decode_returns(&out).map_err(|e| ChainError::Rpc(e.to_string()))?;
            Ok(ChannelStatusOnChain {
                phase: s.phase,
                version: s.version,
                finalizes_at: s.finalizesAt,
                data_hash: s.dataHash,
            })
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Head, ChainError>> {
        Box::pin(async move {
            let block = self
                .provider
                .get_block_by_number(BlockNumberOrTag::Latest)
                .await
                .map_err(rpc_error)?
                .ok_or_else(|| ChainError::Rpc("the node has no latest block".into()))?;
            Ok(Head { number: block.header.number, timestamp: block.header.timestamp, hash: block.header.hash })
        })
    }

    fn block_hash(&self, number: u64) -> BoxFuture<'_, Result<Option<B256>, ChainError>> {
        Box::pin(async move {
            let block = self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).await.map_err(rpc_error)?;
            Ok(block.map(|b| b.header.hash))
        })
    }

    fn events(&self, from: u64, to: u64) -> BoxFuture<'_, Result<Vec<(u64, JudgeEvent)>, ChainError>> {
        Box::pin(async move {
            let filter =
                Filter::new().address(self.judge).event_signature(JUDGE_EVENTS.to_vec()).from_block(from).to_block(to);
            let logs = self.provider.get_logs(&filter).await.map_err(rpc_error)?;
            order_and_decode(&logs, from, to)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Log as PrimitiveLog, LogData};

    /// A revert comes back as the contract's typed error, and reads as before.
    #[test]
    fn reverts_decode_to_typed_errors() {
        use alloy_sol_types::SolError;
        let data = I::StateTooLarge { size: U256::from(20_000), limit: U256::from(16_384) }.abi_encode();
        let r = Revert::decode(&data);
        assert!(matches!(&r, Revert::Judge(I::IAvocadoJudgeErrors::StateTooLarge(e)) if e.size == U256::from(20_000)));
        assert_eq!(describe_revert(&data), r.to_string());
        assert!(r.to_string().starts_with("StateTooLarge"), "{r}");
        let data = avocado_codec::payment::IAvocadoEscrow::NothingToWithdraw {}.abi_encode();
        assert_eq!(Revert::decode(&data).to_string(), "NothingToWithdraw(NothingToWithdraw)");
        assert_eq!(Revert::decode(&[]).to_string(), "reverted without a reason");
        assert_eq!(Revert::decode(&[1, 2]), Revert::Data(Bytes::from_static(&[1, 2])));
        let e = ChainError::Reverted(Revert::decode(&data));
        assert_eq!(crate::error::NodeError::from(e).status(), 502);
    }

    fn log(block: Option<u64>, index: Option<u64>, data: LogData) -> alloy_rpc_types_eth::Log {
        alloy_rpc_types_eth::Log {
            inner: PrimitiveLog { address: Address::repeat_byte(0xa0), data },
            block_number: block,
            log_index: index,
            ..Default::default()
        }
    }

    fn checkpointed(channel: u8, version: u64) -> LogData {
        I::StateCheckpointed { channelId: B256::repeat_byte(channel), version, data: Bytes::new() }.encode_log_data()
    }

    /// Logs answered out of order come back in chain order; a log the watchtower cannot place or
    /// decode fails the whole range instead of being skipped.
    #[test]
    fn logs_are_ordered_and_never_skipped() {
        let logs = vec![
            log(Some(5), Some(0), checkpointed(2, 7)),
            log(Some(4), Some(3), checkpointed(1, 2)),
            log(Some(4), Some(1), checkpointed(1, 1)),
        ];
        let events = order_and_decode(&logs, 4, 5).unwrap();
        let versions: Vec<_> = events
            .iter()
            .map(|(b, e)| match e {
                JudgeEvent::Checkpointed { version, .. } => (*b, *version),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(versions, vec![(4, 1), (4, 2), (5, 7)]);

        let pending = vec![log(None, None, checkpointed(1, 1))];
        assert!(matches!(order_and_decode(&pending, 4, 5), Err(ChainError::Rpc(m)) if m.contains("without block")));
        let outside = vec![log(Some(9), Some(0), checkpointed(1, 1))];
        assert!(matches!(order_and_decode(&outside, 4, 5), Err(ChainError::Rpc(m)) if m.contains("block 9")));
        let mut garbled = checkpointed(1, 1);
        garbled = LogData::new_unchecked(garbled.topics().to_vec(), Bytes::from_static(b"\x01"));
        let garbled = vec![log(Some(4), Some(0), garbled)];
        assert!(matches!(order_and_decode(&garbled, 4, 5), Err(ChainError::Rpc(m)) if m.contains("does not decode")));
    }
}
