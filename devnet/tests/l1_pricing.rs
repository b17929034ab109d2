//! L1 pricing as Nitro's (`arbos/l1pricing/l1pricing.go`, `arbos/tx_processor.go`
//! `GasChargingHook`/`GetPosterGas`, `execution/nodeinterface/node_interface.go`), checked over
//! JSON-RPC with an unmodified alloy provider. With the defaults — 50 gwei per unit
//! (`DefaultInitialL1BaseFee`), base fee 0.1 gwei — one compressed byte is 16 units =
//! 800 gwei = 8,000 gas.

use std::io::Write;
use std::net::SocketAddr;

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{address, Address, Bytes, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{sol, SolCall};
use avocado_devnet::{
    chain::{l1_pricing, Chain, ChainConfig, DEV_ACCOUNT},
    rpc,
};
use revm::primitives::TxKind;

const DEV_KEY: &str = "b6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";
const NODE_INTERFACE: Address = address!("00000000000000000000000000000000000000c8");
const TO: Address = address!("0000000000000000000000000000000000001234");

sol! {
    interface NodeInterface {
        function gasEstimateL1Component(address to, bool contractCreation, bytes calldata data)
            external payable returns (uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate);
        function gasEstimateComponents(address to, bool contractCreation, bytes calldata data)
            external payable returns (uint64 gasEstimate, uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate);
    }
}

/// Brotli at Nitro's poster settings (quality 1, window 22: ArbOS ≥ 20, `arbcompress`),
/// computed here independently of the devnet.
fn brotli_len(bytes: &[u8]) -> u64 {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
        w.write_all(bytes).unwrap();
    }
    out.len() as u64
}

async fn devnet() -> rpc::DevnetHandle {
    rpc::start(ChainConfig::default(), SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("devnet starts")
}

/// A signed transfer's L1 gas is its signed bytes' brotli size × 8,000 (16 units a byte at
/// 50 gwei, bought at 0.1 gwei: `getPosterUnitsWithoutCache`, `GetPosterGas`); it is inside the
/// receipt's `gasUsed` (21,000 + L1), reported as `gasUsedForL1`, and paid at the gas price.
#[tokio::test]
async fn a_transaction_pays_its_compressed_size_on_l1() {
    let node = devnet().await;
    let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let provider =
        ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(node.url().parse().unwrap());
    let before = provider.get_balance(DEV_ACCOUNT).await.unwrap();
    let data = Bytes::from(vec![7u8; 100]);
    let req = TransactionRequest::default().with_to(TO).with_value(U256::from(5)).with_input(data);
    let receipt = provider.send_transaction(req).await.unwrap().get_receipt().await.unwrap();
    let tx = provider.get_transaction_by_hash(receipt.transaction_hash).await.unwrap().unwrap();
    let raw = alloy_eips::eip2718::Encodable2718::encoded_2718(&tx.inner);
    let l1 = brotli_len(&raw) * 8_000;
    let json: serde_json::Value =
        provider.raw_request("eth_getTransactionReceipt".into(), (receipt.transaction_hash,)).await.unwrap();
    let reported = u64::from_str_radix(json["gasUsedForL1"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(reported, l1);
    // 21,000 + 100 non-zero bytes · 16 = 22,600 on L2.
    assert_eq!(receipt.gas_used, 22_600 + l1);
    let paid = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    assert_eq!(provider.get_balance(DEV_ACCOUNT).await.unwrap(), before - paid - U256::from(5));
    // A gas limit covering the L2 gas but not the L1 gas is refused like Nitro refuses it.
    let short = TransactionRequest::default().with_to(TO).with_gas_limit(21_000).with_max_fee_per_gas(1_000_000_000);
    let e = provider.send_transaction(short.with_max_priority_fee_per_gas(0)).await.unwrap_err();
    assert!(e.to_string().contains("intrinsic gas too low"), "{e}");
    node.stop().await;
}

/// `NodeInterface.gasEstimateL1Component` prices a stand-in transaction (`makeFakeTxForMessage`:
/// placeholder nonce, fees, gas and signature) padded by 16 bytes' units and 1 %
/// (`PosterDataCost`), then by 10 % (`GasEstimationL1PricePadding`), at the base fee. For a
/// call to 0x…1234 with empty data the stand-in is 122 bytes — type 1 + list header 2 + chain id
/// 1 + nonce 9 + tip 5 + fee cap 5 + gas 5 + to 21 + value 1 + data 1 + access list 1 + v 4 +
/// r 33 + s 33 — and 126 after brotli (random bytes do not compress): units =
/// ⌊(16·126 + 256) · 1.01⌋ = ⌊2,272 · 1.01⌋ = 2,294; wei = 2,294 · 50 gwei · 1.1 =
/// 126,170 gwei; gas = 126,170 gwei / 0.1 gwei = 1,261,700.
#[tokio::test]
async fn node_interface_answers_the_l1_component() {
    let node = devnet().await;
    let provider = ProviderBuilder::new().connect_http(node.url().parse().unwrap());
    let stand_in = l1_pricing::Message { to: Some(TO), ..Default::default() }.stand_in(false);
    assert_eq!((stand_in.len(), brotli_len(&stand_in)), (122, 126));
    let call = NodeInterface::gasEstimateL1ComponentCall { to: TO, contractCreation: false, data: Bytes::new() };
    let out = provider
        .call(TransactionRequest::default().with_to(NODE_INTERFACE).with_input(call.abi_encode()))
        .await
        .unwrap();
    let r = NodeInterface::gasEstimateL1ComponentCall::abi_decode_returns(&out).unwrap();
    assert_eq!(r.gasEstimateForL1, 1_261_700);
    assert_eq!(r.baseFee, U256::from(100_000_000u64));
    assert_eq!(r.l1BaseFeeEstimate, U256::from(50_000_000_000u64));

    // `gasEstimateComponents`: the estimate is `eth_estimateGas`'s (L1 included) and its L1
    // part is `GetPosterGas` in gas estimation — the stand-in with the placeholder gas limit,
    // the same padding, at max(7/8 · base fee, min base fee) = 0.1 gwei: here the same 1,261,700.
    let call = NodeInterface::gasEstimateComponentsCall { to: TO, contractCreation: false, data: Bytes::new() };
    let out = provider
        .call(TransactionRequest::default().from(DEV_ACCOUNT).with_to(NODE_INTERFACE).with_input(call.abi_encode()))
        .await
        .unwrap();
    let r = NodeInterface::gasEstimateComponentsCall::abi_decode_returns(&out).unwrap();
    assert_eq!(r.gasEstimateForL1, 1_261_700);
    let estimate = provider.estimate_gas(TransactionRequest::default().from(DEV_ACCOUNT).with_to(TO)).await.unwrap();
    assert_eq!(r.gasEstimate, estimate);
    assert_eq!(estimate, 21_000 + 1_261_700);
    // Estimating the virtual contract itself is refused, as Nitro refuses it.
    let call =
        NodeInterface::gasEstimateComponentsCall { to: NODE_INTERFACE, contractCreation: false, data: Bytes::new() };
    let e = provider
        .call(TransactionRequest::default().with_to(NODE_INTERFACE).with_input(call.abi_encode()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot estimate virtual contract"), "{e}");
    node.stop().await;
}

/// The L1 price is a chain parameter (`--l1-base-fee`): at 0, transactions pay no L1 gas; at
/// 1 gwei a compressed byte costs 16 · 1 gwei / 0.1 gwei = 160 gas.
#[test]
fn the_l1_price_is_configurable() {
    for (price, per_byte) in [(0u64, 0u64), (1_000_000_000, 160)] {
        let mut chain = Chain::new(&ChainConfig { l1_base_fee: U256::from(price), ..Default::default() });
        let tx = revm::context::TxEnv::builder()
            .caller(DEV_ACCOUNT)
            .kind(TxKind::Call(TO))
            .gas_limit(1_000_000)
            .gas_price(100_000_000)
            .chain_id(Some(chain.chain_id))
            .build_fill();
        let bytes = avocado_devnet::chain::message(&tx).signed_like(chain.chain_id);
        let r = chain.transact(tx).unwrap();
        assert_eq!(r.gas_used_for_l1, brotli_len(&bytes) * per_byte);
        assert_eq!((r.gas_used(), r.l2_gas_used()), (21_000 + r.gas_used_for_l1, 21_000));
    }
}
