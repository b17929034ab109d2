//! Benchmarks the devnet beside anvil, measured in one run on this machine:
//! boot time to the first RPC answer, plain transfers per second (both chains), judge
//! `checkpoint` transactions per second and gas per judge operation (devnet, 2-party).
//!
//! `scripts/bench-devnet.sh` builds what it needs and runs it; by hand:
//! `cargo run --release -p avocado-tests --example devnet_bench -- <avocado-devnet> <anvil> <judge.bin>`

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, Bytes, U256};
use alloy_provider::{DynProvider, Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use avocado_devnet::chain::arbos;
use avocado_tests::judge_scenarios::{Fixture, CHAIN_ID, JUDGE};

const DEV_KEY: &str = "b6b15c8cb491557369f3c7d2c287b053eb229daa9c22138887752191c9520659";
const ANVIL_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const TXS: usize = 1000;

struct Running {
    child: Child,
    url: String,
    boot: Duration,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn boot(program: &str, args: &[&str], port: u16) -> Running {
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let client = ProviderBuilder::new().connect_http(url.parse().unwrap());
    loop {
        if client.get_chain_id().await.is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{program} did not answer within 30 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Running { child, url, boot: started.elapsed() }
}

fn provider(url: &str, key: &str) -> (DynProvider, PrivateKeySigner) {
    let signer: PrivateKeySigner = key.parse().unwrap();
    let p =
        ProviderBuilder::new().wallet(EthereumWallet::from(signer.clone())).connect_http(url.parse().unwrap()).erased();
    (p, signer)
}

/// Signs `reqs` up front (nonces from the chain), then sends them one after another and waits
/// for the last receipt: transactions per second.
async fn throughput(p: &DynProvider, signer: &PrivateKeySigner, chain_id: u64, reqs: Vec<TransactionRequest>) -> f64 {
    let wallet = EthereumWallet::from(signer.clone());
    let mut nonce = p.get_transaction_count(signer.address()).await.unwrap();
    let mut raws = Vec::with_capacity(reqs.len());
    for r in reqs {
        let tx = r
            .with_from(signer.address())
            .with_nonce(nonce)
            .with_chain_id(chain_id)
            // Room for the devnet's L1 gas (8,000 a compressed byte at Nitro's initial L1 price).
            .with_gas_limit(30_000_000)
            .with_max_fee_per_gas(2_000_000_000)
            .with_max_priority_fee_per_gas(0);
        nonce += 1;
        let env = tx.build(&wallet).await.unwrap();
        raws.push(alloy_eips::eip2718::Encodable2718::encoded_2718(&env));
    }
    let n = raws.len();
    let started = Instant::now();
    let mut last = None;
    for raw in raws {
        last = Some(*p.send_raw_transaction(&raw).await.unwrap().tx_hash());
    }
    let hash = last.unwrap();
    loop {
        if let Some(r) = p.get_transaction_receipt(hash).await.unwrap() {
            assert!(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn transfers(n: usize) -> Vec<TransactionRequest> {
    (0..n)
        .map(|i| {
            TransactionRequest::default()
                .with_to(Address::with_last_byte((i % 200) as u8 + 1))
                .with_value(U256::from(1))
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: devnet_bench <avocado-devnet binary> <anvil binary> <judge.bin>");
        std::process::exit(2);
    }
    let judge_code = std::fs::read(&args[3]).expect("read judge.bin");

    let devnet = boot(&args[1], &["--port", "18650"], 18650).await;
    let anvil = boot(&args[2], &["--port", "18651", "--silent"], 18651).await;
    println!(
        "boot to first RPC answer: devnet {:.1} ms, anvil {:.1} ms (devnet/anvil {:.2})",
        devnet.boot.as_secs_f64() * 1e3,
        anvil.boot.as_secs_f64() * 1e3,
        devnet.boot.as_secs_f64() / anvil.boot.as_secs_f64()
    );

    let (dp, ds) = provider(&devnet.url, DEV_KEY);
    let (ap, a_s) = provider(&anvil.url, ANVIL_KEY);
    let d_tps = throughput(&dp, &ds, CHAIN_ID, transfers(TXS)).await;
    let a_tps = throughput(&ap, &a_s, 31_337, transfers(TXS)).await;
    println!(
        "plain transfers, {TXS} sequential raw txs: devnet {d_tps:.0} tx/s, anvil {a_tps:.0} tx/s (devnet/anvil {:.2})",
        d_tps / a_tps
    );

    // The judge on the devnet, activated through ArbWasm.
    let _: serde_json::Value = dp.raw_request("anvil_setCode".into(), (JUDGE, Bytes::from(judge_code))).await.unwrap();
    let act = TransactionRequest::default()
        .with_to(arbos::ARB_WASM)
        .with_input(arbos::ArbWasm::activateProgramCall { program: JUDGE }.abi_encode())
        .with_value(U256::from(10u64).pow(U256::from(17u64)));
    assert!(dp.send_transaction(act).await.unwrap().get_receipt().await.unwrap().status());

    // Gas per operation, 2-party, 64-byte state.
    let f = Fixture::new(2, 3600);
    let send = |data: Vec<u8>| {
        let dp = dp.clone();
        async move {
            let r = dp
                .send_transaction(TransactionRequest::default().with_to(JUDGE).with_input(data))
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(r.status());
            r.gas_used
        }
    };
    let s0 = f.state(0, &[1; 64], false);
    let s1 = f.state(1, &[2; 64], false);
    let s2 = f.state(2, &[3; 64], true);
    let gas = [
        ("open", send(f.open(&s0, &f.sign(&s0))).await),
        ("checkpoint", send(f.checkpoint(&s1, &f.sign(&s1))).await),
        ("challenge", send(f.challenge(&s1, &f.sign(&s1), &f.challenge_sig(&f.keys[0], 1))).await),
        ("conclude", send(f.conclude(&s2, &f.sign(&s2))).await),
    ];
    println!("gas per judge operation (2-party, 64-byte state, whole transaction incl. 21,000 base and calldata):");
    for (op, g) in gas {
        println!("  {op:<10} {g}");
    }

    // Checkpoint throughput on a fresh channel: every transaction a new fully signed version.
    let g = Fixture::with(avocado_codec::Domain::new(CHAIN_ID, JUDGE), vec![0, 1], 7, 3600);
    let reqs = (1..=TXS as u64)
        .map(|v| {
            let s = g.state(v, &[v as u8; 64], false);
            TransactionRequest::default().with_to(JUDGE).with_input(g.checkpoint(&s, &g.sign(&s)))
        })
        .collect();
    let c_tps = throughput(&dp, &ds, CHAIN_ID, reqs).await;
    println!("judge checkpoints, {TXS} sequential raw txs: devnet {c_tps:.0} tx/s (goal >= 500)");
}
