//! The JSON-RPC server driven by an unmodified alloy provider, over loopback: transfers,
//! contract creation and calls, state overrides, reverts, nonce errors, dev methods, logs and a
//! WebSocket subscription.

use std::net::SocketAddr;

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{address, Address, Bytes, U256};
use alloy_provider::{Provider, ProviderBuilder, WsConnect};
use alloy_rpc_types_eth::{state::AccountOverride, BlockNumberOrTag, Filter, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use avocado_devnet::{chain::ChainConfig, rpc};
use futures::StreamExt;

const DEV_KEY: &str = "b6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";
const DEV: Address = address!("3f1Eae7D46d88F08fc2F8ed27FCb2AB183EB2d0E");

/// EVM init code deploying `runtime`.
fn deploy_code(runtime: &[u8]) -> Bytes {
    // PUSH1 len PUSH1 12 PUSH1 0 CODECOPY PUSH1 len PUSH1 0 RETURN ‖ runtime
    let mut init =
        vec![0x60, runtime.len() as u8, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, runtime.len() as u8, 0x60, 0x00, 0xf3];
    init.extend_from_slice(runtime);
    init.into()
}

async fn devnet() -> rpc::DevnetHandle {
    rpc::start(ChainConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("devnet starts")
}

fn contract_runtime() -> Vec<u8> {
    // A small contract assembled by hand:
    //   if calldatasize == 1: revert(0xdead)
    //   log1(calldata, topic 0xaa..aa); sstore(0, 42); return(42 as 32 bytes)
    let mut c = vec![0x36, 0x60, 0x01, 0x14, 0x61, 0x00, 0x00, 0x57]; // jumpi target patched below
    c.extend_from_slice(&[0x36, 0x60, 0x00, 0x60, 0x00, 0x37]); // calldatacopy(0,0,size)
    c.push(0x7f);
    c.extend_from_slice(&[0xaa; 32]); // topic
    c.extend_from_slice(&[0x36, 0x60, 0x00, 0xa1]); // log1(0, size, topic)
    c.extend_from_slice(&[0x60, 0x2a, 0x60, 0x00, 0x55]); // sstore(0, 42)
    c.extend_from_slice(&[0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]); // return 42
    let dest = c.len();
    c.extend_from_slice(&[0x5b, 0x61, 0xde, 0xad, 0x60, 0x00, 0x52, 0x60, 0x02, 0x60, 0x1e, 0xfd]); // revert(0xdead)
    c[5] = (dest >> 8) as u8;
    c[6] = dest as u8;
    c
}

#[tokio::test]
async fn alloy_provider_end_to_end() {
    let node = devnet().await;
    let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(node.url().parse().unwrap());
    assert_eq!(provider.get_chain_id().await.unwrap(), 412_346);

    // A 1559 transfer.
    let to = address!("0000000000000000000000000000000000001234");
    let r = provider
        .send_transaction(TransactionRequest::default().with_to(to).with_value(U256::from(1_000)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    assert_eq!(provider.get_balance(to).await.unwrap(), U256::from(1_000));
    assert_eq!(provider.get_transaction_count(DEV).await.unwrap(), 1);

    // Deploy and call a contract; its log is found by eth_getLogs.
    let r = provider
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_code(&contract_runtime())))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let contract = r.contract_address.expect("contract address in the receipt");
    assert_eq!(provider.get_code_at(contract).await.unwrap().as_ref(), contract_runtime().as_slice());
    let call = TransactionRequest::default().with_to(contract).with_input(Bytes::from_static(b"hello"));
    let out = provider.call(call.clone()).await.unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(42));
    let r = provider.send_transaction(call).await.unwrap().get_receipt().await.unwrap();
    assert!(r.status());
    assert_eq!(provider.get_storage_at(contract, U256::ZERO).await.unwrap(), U256::from(42));
    let logs = provider.get_logs(&Filter::new().address(contract).from_block(0)).await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].inner.data.data.as_ref(), b"hello");
    assert_eq!(logs[0].transaction_hash, Some(r.transaction_hash));

    // A revert is a code-3 error carrying the revert data.
    let err = provider
        .call(TransactionRequest::default().with_to(contract).with_input(Bytes::from_static(&[1])))
        .await
        .unwrap_err();
    let payload = err.as_error_resp().expect("a JSON-RPC error");
    assert_eq!(payload.code, 3);
    assert!(payload.data.as_ref().unwrap().get().contains("dead"), "{payload:?}");

    // State override: the same call against other code.
    let empty = address!("0000000000000000000000000000000000005678");
    let overrides: alloy_rpc_types_eth::state::StateOverride =
        [(empty, AccountOverride { code: Some(contract_runtime().into()), ..Default::default() })]
            .into_iter()
            .collect();
    let out = provider
        .call(TransactionRequest::default().with_to(empty).with_input(Bytes::from_static(b"xy")))
        .overrides(overrides)
        .await
        .unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(42));

    // Time travel.
    let before = provider.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap().header.timestamp;
    let _: serde_json::Value = provider.raw_request("evm_increaseTime".into(), (3600,)).await.unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    let after = provider.get_block_by_number(BlockNumberOrTag::Latest).await.unwrap().unwrap().header.timestamp;
    assert!(after >= before + 3600, "{before} -> {after}");
    node.stop().await;
}

#[tokio::test]
async fn nonce_too_low_is_refused_like_geth() {
    let node = devnet().await;
    let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(node.url().parse().unwrap());
    let tx = TransactionRequest::default().with_to(DEV).with_value(U256::from(1)).with_nonce(0);
    provider.send_transaction(tx.clone()).await.unwrap().get_receipt().await.unwrap();
    let err = provider.send_transaction(tx.with_value(U256::from(2))).await.unwrap_err();
    assert!(err.to_string().contains("nonce too low"), "{err}");
    node.stop().await;
}

#[tokio::test]
async fn websocket_new_heads() {
    let node = devnet().await;
    let ws = ProviderBuilder::new().connect_ws(WsConnect::new(node.ws_url())).await.unwrap();
    let mut heads = ws.subscribe_blocks().await.unwrap().into_stream();
    let _: serde_json::Value = ws.raw_request("evm_mine".into(), ()).await.unwrap();
    let head = tokio::time::timeout(std::time::Duration::from_secs(5), heads.next()).await.unwrap().unwrap();
    assert_eq!(head.number, 1);
    node.stop().await;
}

#[tokio::test]
async fn websocket_logs_subscription() {
    let node = devnet().await;
    let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let ws = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_ws(WsConnect::new(node.ws_url()))
        .await
        .unwrap();
    let r = ws
        .send_transaction(TransactionRequest::default().with_deploy_code(deploy_code(&contract_runtime())))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let contract = r.contract_address.unwrap();
    let mut logs = ws.subscribe_logs(&Filter::new().address(contract)).await.unwrap().into_stream();
    let call = TransactionRequest::default().with_to(contract).with_input(Bytes::from_static(b"ws log"));
    ws.send_transaction(call).await.unwrap().get_receipt().await.unwrap();
    let log = tokio::time::timeout(std::time::Duration::from_secs(5), logs.next()).await.unwrap().unwrap();
    assert_eq!(log.inner.data.data.as_ref(), b"ws log");
    assert_eq!(log.address(), contract);
    node.stop().await;
}

/// `eth_call` at a past block runs against that block's state, as a node keeping recent state
/// does; a block older than the states kept is refused, and one above the head too.
#[tokio::test]
async fn calls_at_past_blocks_see_those_blocks_state() {
    let d = devnet().await;
    let provider = ProviderBuilder::new().connect_http(d.url().parse().unwrap());
    // SELFBALANCE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: answers its own balance.
    let at = address!("00000000000000000000000000000000000000b1");
    let _: serde_json::Value = provider
        .raw_request(
            "anvil_setCode".into(),
            (at, Bytes::from(vec![0x47, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3])),
        )
        .await
        .unwrap();
    let set = |v: u64| {
        let p = provider.clone();
        async move {
            let _: serde_json::Value = p.raw_request("anvil_setBalance".into(), (at, U256::from(v))).await.unwrap();
            let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
            p.get_block_number().await.unwrap()
        }
    };
    let first = set(7).await;
    let second = set(9).await;
    let call = TransactionRequest::default().to(at);
    let balance_at = |out: Bytes| U256::from_be_slice(&out);
    assert_eq!(balance_at(provider.call(call.clone()).await.unwrap()), U256::from(9));
    assert_eq!(balance_at(provider.call(call.clone()).block(first.into()).await.unwrap()), U256::from(7));
    assert_eq!(balance_at(provider.call(call.clone()).block(second.into()).await.unwrap()), U256::from(9));
    let above = provider.call(call.clone()).block((second + 5).into()).await.unwrap_err();
    assert!(above.to_string().contains("header not found"), "{above}");
    for _ in 0..avocado_devnet::rpc::node::RECENT_STATES {
        let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    }
    let forgotten = provider.call(call).block(first.into()).await.unwrap_err();
    assert!(forgotten.to_string().contains("missing trie node"), "{forgotten}");
    d.stop().await;
}
