//! The judge scenario suite over JSON-RPC: the devnet's server on loopback, driven by an
//! unmodified alloy provider with a local wallet, the judge's real program activated through
//! ArbWasm. Reads are `eth_call`s; writes are signed transactions whose receipts carry the events.

use std::net::SocketAddr;

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Bytes, LogData, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use avocado_devnet::{
    chain::{arbos, ChainConfig},
    rpc::{self, DevnetHandle},
};
use avocado_tests::judge_scenarios::{JudgeHarness, Outcome, CHAIN_ID, GENESIS_TIME, JUDGE};
use avocado_tests::stylus_judge::judge_bin;

const DEV_KEY: &str = "b6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";

type P = alloy_provider::DynProvider;

struct RpcJudge {
    rt: tokio::runtime::Runtime,
    node: Option<DevnetHandle>,
    provider: P,
    time: u64,
}

impl RpcJudge {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let config = ChainConfig { chain_id: CHAIN_ID, genesis_timestamp: GENESIS_TIME - 10, ..Default::default() };
        let node = rt.block_on(rpc::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
        let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
        let provider: P = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(node.url().parse().unwrap())
            .erased();
        let h = Self { rt, node: Some(node), provider, time: GENESIS_TIME };
        h.rt.block_on(async {
            let _: serde_json::Value = h
                .provider
                .raw_request("anvil_setCode".into(), (JUDGE, Bytes::copy_from_slice(judge_bin())))
                .await
                .unwrap();
        });
        let activate = TransactionRequest::default()
            .with_to(arbos::ARB_WASM)
            .with_input(arbos::ArbWasm::activateProgramCall { program: JUDGE }.abi_encode())
            .with_value(U256::from(10u64).pow(U256::from(17u64)));
        let r =
            h.rt.block_on(async { h.provider.send_transaction(activate).await.unwrap().get_receipt().await.unwrap() });
        assert!(r.status(), "activation failed");
        h
    }

    async fn pin_time(provider: &P, t: u64) {
        let _: serde_json::Value = provider.raw_request("evm_setNextBlockTimestamp".into(), (t,)).await.unwrap();
    }
}

impl Drop for RpcJudge {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            self.rt.block_on(node.stop());
        }
    }
}

impl JudgeHarness for RpcJudge {
    fn set_time(&mut self, timestamp: u64) {
        self.time = timestamp;
    }
    fn time(&self) -> u64 {
        self.time
    }
    fn send(&mut self, calldata: Vec<u8>) -> Outcome {
        let (provider, time) = (&self.provider, self.time);
        self.rt.block_on(async move {
            let req = TransactionRequest::default().with_to(JUDGE).with_input(calldata);
            RpcJudge::pin_time(provider, time).await;
            // What a client sees first: the call's result or its revert data (code 3).
            if let Err(e) = provider.call(req.clone()).await {
                let payload = e.as_error_resp().expect("a JSON-RPC error response");
                assert_eq!(payload.code, 3, "{payload:?}");
                let data: Bytes = serde_json::from_str(payload.data.as_ref().expect("revert data").get()).unwrap();
                return Outcome { result: Err(data.to_vec()), logs: vec![], slots_written: None, gas_used: None };
            }
            let output = provider.call(req.clone()).await.unwrap();
            // 30M of L2 gas plus room for the L1 gas of the largest calldata (the devnet charges
            // Nitro's 8,000 gas per compressed byte at its initial L1 price).
            let gas = 30_000_000 + 500_000_000;
            let receipt =
                provider.send_transaction(req.with_gas_limit(gas)).await.unwrap().get_receipt().await.unwrap();
            assert!(receipt.status(), "the transaction reverted after its call succeeded");
            let logs = receipt.inner.logs().iter().map(|l| l.inner.data.clone()).collect::<Vec<LogData>>();
            Outcome { result: Ok(output.to_vec()), logs, slots_written: None, gas_used: Some(receipt.gas_used) }
        })
    }
    fn view(&mut self, calldata: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        let (provider, time) = (&self.provider, self.time);
        self.rt.block_on(async move {
            RpcJudge::pin_time(provider, time).await;
            match provider.call(TransactionRequest::default().with_to(JUDGE).with_input(calldata)).await {
                Ok(out) => Ok(out.to_vec()),
                Err(e) => {
                    let payload = e.as_error_resp().expect("a JSON-RPC error response");
                    let data: Bytes =
                        serde_json::from_str(payload.data.as_ref().map(|d| d.get()).unwrap_or("\"0x\"")).unwrap();
                    Err(data.to_vec())
                }
            }
        })
    }
}

avocado_tests::judge_scenario_tests!(RpcJudge::new());
