//! The Stylus life of a deployed program, read and maintained through Arbitrum's precompiles:
//! whether it is activated at the chain's Stylus version, how long before it expires, whether it
//! is cached, and the two actions that keep it usable — a keepalive (`ArbWasm.codehashKeepalive`)
//! and a bid in the chain's cache manager.
//!
//! Why it matters: a Stylus program stops running `expiryDays` (365) after its activation or last
//! keepalive, and after an ArbOS upgrade raises the Stylus version until it is activated again. A
//! judge that cannot be called during a dispute loses the dispute, so operators need to see this
//! before it happens. The reads follow Nitro's `precompiles/ArbWasm.go` and `ArbWasmCache.go`;
//! the bid goes to the last address `ArbWasmCache.allCacheManagers()` lists, as cargo-stylus does.

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{address, keccak256, Address, Bytes, B256, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{sol, SolCall, SolError, SolInterface};
use anyhow::{bail, Context, Result};
use stylus_deploy::{ArbWasm, ARB_WASM};

/// The ArbWasmCache precompile.
pub const ARB_WASM_CACHE: Address = address!("0000000000000000000000000000000000000072");

sol! {
    /// The reads and writes of ArbWasmCache used here.
    interface ArbWasmCache {
        function allCacheManagers() external view returns (address[] memory managers);
        function codehashIsCached(bytes32 codehash) external view returns (bool);
    }

    /// The cache manager's bid (nitro-contracts' `CacheManager.sol`).
    interface CacheManager {
        function placeBid(address program) external payable;
        function getMinBid(address program) external view returns (uint192 min);

        error AsmTooLarge(uint256 asm, uint256 queueSize, uint256 cacheSize);
        error AlreadyCached(bytes32 codehash);
        error BidTooSmall(uint192 bid, uint192 min);
        error BidsArePaused();
    }
}

/// What the chain says about one program.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramStatus {
    /// The program's address.
    pub address: Address,
    /// Its code hash (what activation and the cache are keyed by).
    pub codehash: B256,
    /// The chain's Stylus version.
    pub chain_stylus_version: u16,
    /// The version the program was activated at, when it is active.
    pub stylus_version: Option<u16>,
    /// Whether it can run now.
    pub activated: bool,
    /// Activated at another Stylus version than the chain's: it must be activated again.
    pub needs_upgrade: bool,
    /// Its expiry has passed: it must be activated again.
    pub expired: bool,
    /// Seconds before it expires, when active.
    pub time_left_secs: Option<u64>,
    /// Whether it is in the chain's program cache.
    pub cached: bool,
}

/// A mined maintenance transaction.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Maintained {
    /// The transaction.
    pub tx: B256,
    /// Its gas.
    pub gas_used: u64,
    /// Wei paid (data fee for a keepalive, the bid for the cache).
    pub paid: U256,
}

fn url<T>(rpc_url: &str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    rpc_url.parse().with_context(|| format!("bad RPC URL {rpc_url}"))
}

/// Revert data of a failed `eth_call`, if the node returned any.
fn revert_data(e: &alloy_provider::transport::TransportError) -> Option<Bytes> {
    e.as_error_resp().and_then(|p| p.as_revert_data())
}

/// Reads `program`'s Stylus status.
///
/// # Errors
/// The node cannot be reached, or `program` has no code.
pub async fn status(rpc_url: &str, program: Address) -> Result<ProgramStatus> {
    let provider = ProviderBuilder::new().connect_http(url(rpc_url)?);
    let code = provider.get_code_at(program).await.with_context(|| format!("cannot reach {rpc_url}"))?;
    if code.is_empty() {
        bail!("no contract at {program}");
    }
    let codehash = keccak256(&code);
    let call = |to: Address, data: Vec<u8>| {
        let provider = &provider;
        async move { provider.call(TransactionRequest::default().with_to(to).with_input(data)).await }
    };
    let out = call(ARB_WASM, ArbWasm::stylusVersionCall {}.abi_encode()).await.context("ArbWasm.stylusVersion")?;
    let chain_stylus_version = ArbWasm::stylusVersionCall::abi_decode_returns(&out)?;
    let mut s = ProgramStatus {
        address: program,
        codehash,
        chain_stylus_version,
        stylus_version: None,
        activated: false,
        needs_upgrade: false,
        expired: false,
        time_left_secs: None,
        cached: false,
    };
    match call(ARB_WASM, ArbWasm::programTimeLeftCall { program }.abi_encode()).await {
        Ok(out) => {
            s.activated = true;
            s.stylus_version = Some(chain_stylus_version);
            s.time_left_secs = Some(ArbWasm::programTimeLeftCall::abi_decode_returns(&out)?);
        }
        Err(e) => match revert_data(&e).and_then(|d| ArbWasm::ArbWasmErrors::abi_decode(&d).ok()) {
            Some(ArbWasm::ArbWasmErrors::ProgramNeedsUpgrade(u)) => {
                s.needs_upgrade = u.version != 0;
                s.stylus_version = (u.version != 0).then_some(u.version);
            }
            Some(ArbWasm::ArbWasmErrors::ProgramExpired(_)) => s.expired = true,
            Some(ArbWasm::ArbWasmErrors::ProgramNotActivated(_)) => {}
            _ => return Err(anyhow::Error::new(e).context("ArbWasm.programTimeLeft")),
        },
    }
    let out = call(ARB_WASM_CACHE, ArbWasmCache::codehashIsCachedCall { codehash }.abi_encode())
        .await
        .context("ArbWasmCache.codehashIsCached")?;
    s.cached = ArbWasmCache::codehashIsCachedCall::abi_decode_returns(&out)?;
    Ok(s)
}

/// Extends `program`'s life by `expiryDays` from now, paying the data fee ArbWasm asks for.
///
/// # Errors
/// Too soon (ArbWasm accepts a keepalive only `keepaliveDays` after the last), the program is not
/// active, the account cannot pay, or the node cannot be reached — each said in one line.
pub async fn keepalive(rpc_url: &str, signer: PrivateKeySigner, program: Address) -> Result<Maintained> {
    let from = signer.address();
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url(rpc_url)?);
    let code = provider.get_code_at(program).await.with_context(|| format!("cannot reach {rpc_url}"))?;
    let codehash = keccak256(&code);
    let data = ArbWasm::codehashKeepaliveCall { codehash }.abi_encode();
    // With no value ArbWasm answers the fee it wants (or why it refuses).
    let probe = TransactionRequest::default().with_from(from).with_to(ARB_WASM).with_input(data.clone());
    let fee = match provider.call(probe).await {
        Ok(_) => U256::ZERO,
        Err(e) => match revert_data(&e).and_then(|d| ArbWasm::ArbWasmErrors::abi_decode(&d).ok()) {
            Some(ArbWasm::ArbWasmErrors::ProgramInsufficientValue(v)) => v.want,
            Some(ArbWasm::ArbWasmErrors::ProgramKeepaliveTooSoon(v)) => bail!(
                "too soon for a keepalive: the program was activated or kept alive {} days ago",
                v.ageInSeconds / 86_400
            ),
            Some(ArbWasm::ArbWasmErrors::ProgramNeedsUpgrade(v)) => bail!(
                "the program is at Stylus version {} and the chain at {}: activate it again",
                v.version,
                v.stylusVersion
            ),
            Some(ArbWasm::ArbWasmErrors::ProgramExpired(_)) => bail!("the program has expired: activate it again"),
            Some(ArbWasm::ArbWasmErrors::ProgramNotActivated(_)) => bail!("{program} is not an activated program"),
            _ => return Err(anyhow::Error::new(e).context("ArbWasm.codehashKeepalive")),
        },
    };
    // A margin against a moving price; ArbWasm refunds what is above the fee.
    let value = fee + fee / U256::from(5);
    let tx = TransactionRequest::default().with_to(ARB_WASM).with_input(data).with_value(value);
    let receipt = provider
        .send_transaction(tx)
        .await
        .context("cannot send the keepalive")?
        .get_receipt()
        .await
        .context("the keepalive was not mined")?;
    if !receipt.status() {
        bail!("the keepalive transaction {} failed", receipt.transaction_hash);
    }
    Ok(Maintained { tx: receipt.transaction_hash, gas_used: receipt.gas_used, paid: fee })
}

/// Bids `bid` wei in the chain's cache manager to cache `program`.
///
/// # Errors
/// The chain has no cache manager, the bid is refused (too small, already cached, too large,
/// bidding paused, program not active), or the node cannot be reached.
pub async fn cache_bid(rpc_url: &str, signer: PrivateKeySigner, program: Address, bid: U256) -> Result<Maintained> {
    let from = signer.address();
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url(rpc_url)?);
    let out = provider
        .call(
            TransactionRequest::default()
                .with_to(ARB_WASM_CACHE)
                .with_input(ArbWasmCache::allCacheManagersCall {}.abi_encode()),
        )
        .await
        .with_context(|| format!("cannot read the cache managers from {rpc_url}"))?;
    let Some(manager) = ArbWasmCache::allCacheManagersCall::abi_decode_returns(&out)?.last().copied() else {
        bail!("this chain has no cache manager");
    };
    let tx = TransactionRequest::default()
        .with_from(from)
        .with_to(manager)
        .with_input(CacheManager::placeBidCall { program }.abi_encode())
        .with_value(bid);
    if let Err(e) = provider.call(tx.clone()).await {
        let data = revert_data(&e).unwrap_or_default();
        if let Ok(err) = CacheManager::CacheManagerErrors::abi_decode(&data) {
            use CacheManager::CacheManagerErrors as C;
            bail!(match err {
                C::AlreadyCached(_) => "the program is already cached".to_string(),
                C::BidTooSmall(b) => format!("bid too small: the lowest bid to beat is {} (with decay)", b.min),
                C::AsmTooLarge(_) => "the program is too large for the cache".to_string(),
                C::BidsArePaused(_) => "the cache manager does not take bids now".to_string(),
            });
        }
        if ArbWasm::ProgramNotActivated::abi_decode(&data).is_ok() {
            bail!("{program} is not an activated program");
        }
        return Err(anyhow::Error::new(e).context("CacheManager.placeBid"));
    }
    let receipt = provider
        .send_transaction(tx)
        .await
        .context("cannot send the bid")?
        .get_receipt()
        .await
        .context("the bid was not mined")?;
    if !receipt.status() {
        bail!("the bid transaction {} failed", receipt.transaction_hash);
    }
    Ok(Maintained { tx: receipt.transaction_hash, gas_used: receipt.gas_used, paid: bid })
}
