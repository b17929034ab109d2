//! `avocado demo`: the whole product on one machine with no set-up. The embedded devnet runs
//! the real judge program; Alice, Bob and Carol each run `avocado node` as a separate process;
//! everything between them goes over loopback HTTP and JSON-RPC, exactly as on a real chain.

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::utils::format_ether;
use alloy_primitives::{keccak256, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use anyhow::{bail, Context, Result};
use avocado_cli::process::{NodeProcess, NodeSpec};
use avocado_client::app_client::AppClient;
use avocado_client::chain::{AlloyChain, ChainClient, TxReceipt};
use avocado_client::node::Event;
use avocado_client::signed::SignedState;
use avocado_codec::payment::decode_accounts;
use avocado_codec::{phase, signer, ChannelParams, Domain, IAvocadoJudge as I};
use avocado_devnet::chain::{ChainConfig, DEV_ACCOUNT};
use clap::Args;
use serde_json::json;

use crate::parse_duration;

#[derive(Args, Clone, Debug)]
pub(crate) struct DemoArgs {
    /// The judge's deployable code (`scripts/build-contracts.sh` writes it).
    #[arg(long, default_value = "target/judge/judge.bin")]
    judge_code: PathBuf,
    /// The payment escrow's deployable code.
    #[arg(long, default_value = "target/escrow/escrow.bin")]
    escrow_code: PathBuf,
    /// Payments to make off chain.
    #[arg(long, default_value_t = 30)]
    payments: u64,
    /// The channel's dispute window.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    challenge: Duration,
    /// Keep the nodes' data folders here instead of a temporary folder.
    #[arg(long)]
    keep: Option<PathBuf>,
}

const CHAIN_ID: u64 = 412_346;
const NAMES: [&str; 3] = ["Alice", "Bob", "Carol"];

struct Costs(Vec<(String, u64)>);

impl Costs {
    fn add(&mut self, step: &str, gas: u64) {
        if !self.0.iter().any(|(s, _)| s == step) {
            self.0.push((step.to_string(), gas));
        }
    }
}

pub(crate) async fn run(args: DemoArgs) -> Result<()> {
    let read = |p: &PathBuf| {
        std::fs::read(p)
            .with_context(|| format!("cannot read {} (build it with scripts/build-contracts.sh)", p.display()))
    };
    let code = read(&args.judge_code)?;
    let escrow_code = read(&args.escrow_code)?;
    let signers: Vec<PrivateKeySigner> = NAMES
        .iter()
        .map(|n| PrivateKeySigner::from_bytes(&keccak256(format!("avocado demo key {n}"))).expect("a valid key"))
        .collect();
    let ether = U256::from(10u64).pow(U256::from(18u64));
    let mut config = ChainConfig { chain_id: CHAIN_ID, ..Default::default() };
    config.funded.extend(signers.iter().map(|s| (s.address(), ether * U256::from(10u64))));
    let devnet = avocado_devnet::rpc::start(config, "127.0.0.1:0".parse()?).await?;
    let rpc = devnet.url();
    println!("Avocado demo — embedded devnet at {rpc} (chain id {CHAIN_ID}), the real judge and escrow programs, three nodes");

    let deployer = avocado_client::keys::parse_private_key(avocado_devnet::cli::DEV_KEY)?;
    debug_assert_eq!(deployer.address(), DEV_ACCOUNT);
    let d = avocado_client::deploy::deploy_program(&rpc, deployer.clone(), &code).await?;
    let e = avocado_client::deploy::deploy_program(&rpc, deployer, &escrow_code).await?;
    let mut costs = Costs(Vec::new());
    println!();
    for (name, d) in [("judge", &d), ("escrow", &e)] {
        println!(
            "{name:<6}: {} bytes deployed at {} ({} gas), activated through ArbWasm at Stylus version {} ({} gas)",
            d.code_bytes, d.address, d.deploy_gas, d.stylus_version, d.activate_gas
        );
        costs.add(&format!("deploy {name}"), d.deploy_gas);
        costs.add(&format!("activate {name}"), d.activate_gas);
    }

    let folder = match &args.keep {
        Some(p) => p.clone(),
        None => std::env::temp_dir().join(format!("avocado-demo-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&folder);
    let exe = std::env::current_exe().context("cannot find the avocado executable")?;
    let mut nodes = Vec::new();
    for (name, s) in NAMES.iter().zip(&signers) {
        let spec = NodeSpec {
            exe: exe.clone(),
            data_dir: folder.join(name.to_lowercase()),
            private_key: alloy_primitives::hex::encode(s.to_bytes()),
            rpc_url: Some(rpc.clone()),
            judge: d.address,
            extra: vec![
                "--auto-accept".into(),
                "--min-challenge".into(),
                format!("{}s", args.challenge.as_secs()),
                "--watch-every".into(),
                "200ms".into(),
                // The embedded devnet seals one block per transaction and never reorganises.
                "--confirmations".into(),
                "0".into(),
                "--escrow".into(),
                e.address.to_string(),
            ],
            peer_port: 0,
            app_port: 0,
            nofile_limit: None,
        };
        let node = NodeProcess::spawn(spec).await.with_context(|| format!("cannot start {name}'s node"))?;
        println!("{name:<5} node (own process) {} — peer API {}", node.address, node.peer_url);
        nodes.push(node);
    }
    let result = story(&args, &nodes, &signers, &rpc, d.address, &mut costs).await;
    for n in &mut nodes {
        n.kill();
    }
    devnet.stop().await;
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&folder);
    }
    result?;
    println!(
        "\nGas per step (whole transactions on the devnet: programs metered at Nitro's ink prices, plus the L1 \
         gas Nitro charges for each transaction's compressed bytes at the devnet's L1 price, --l1-base-fee):"
    );
    for (step, gas) in &costs.0 {
        println!("  {step:<32} {gas:>9}");
    }
    Ok(())
}

fn eth(v: U256) -> String {
    format!("{:.6} ETH", format_ether(v).parse::<f64>().unwrap_or(0.0))
}

fn balances_of(b: &[u8]) -> Vec<U256> {
    decode_accounts(b, 3).unwrap_or_default().iter().map(|a| a.balance).collect()
}

fn show_balances(b: &[U256]) -> String {
    NAMES.iter().zip(b).map(|(n, v)| format!("{n} {}", eth(*v))).collect::<Vec<_>>().join(", ")
}

fn gas_of(v: &serde_json::Value) -> u64 {
    v["gasUsed"].as_u64().unwrap_or_default()
}

async fn story(
    args: &DemoArgs,
    nodes: &[NodeProcess],
    signers: &[PrivateKeySigner],
    rpc: &str,
    judge: alloy_primitives::Address,
    costs: &mut Costs,
) -> Result<()> {
    let api: Vec<&AppClient> = nodes.iter().map(|n| &n.api).collect();
    let carol = AlloyChain::connect(rpc, judge, signers[2].clone()).await?;
    let mut wallets = Vec::new();
    for n in nodes {
        wallets.push(carol.balance(n.address).await?);
    }
    println!("\nOn chain before: {}", show_balances(&wallets));

    let milli = |m: u64| U256::from(m) * U256::from(10u64).pow(U256::from(15u64));
    println!(
        "\n1. Alice opens a payment channel with Bob and Carol ({} s dispute window) and deposits 1 ETH",
        args.challenge.as_secs()
    );
    let request = json!({
        "participants": [nodes[1].address, nodes[2].address],
        "peers": [nodes[1].peer_url, nodes[2].peer_url],
        "challengeDuration": args.challenge.as_secs(),
        "nonce": 1,
        "deposit": milli(1000),
    });
    let opened = api[0].post("/v1/pay", request).await?;
    let id: B256 = serde_json::from_value(opened["channelId"].clone())?;
    costs.add("open (v0: zero balances)", gas_of(&opened["open"]));
    costs.add("deposit (escrow)", gas_of(&opened["deposit"]));
    println!(
        "   channel {id}: opened on chain ({} gas), 1 ETH deposited ({} gas), counted in v{}",
        gas_of(&opened["open"]),
        gas_of(&opened["deposit"]),
        opened["version"]
    );
    for (i, amount) in [(1usize, 1000u64), (2, 500)] {
        let d = api[i].post(&format!("/v1/pay/{id}/deposit"), json!({ "amount": milli(amount) })).await?;
        println!(
            "   {} deposits {} ({} gas), counted in v{}",
            NAMES[i],
            eth(milli(amount)),
            gas_of(&d["deposit"]),
            d["version"]
        );
    }

    println!("\n2. {} payments back and forth, each a state signed by all three nodes over HTTP", args.payments);
    let mut history = Vec::new();
    for i in 0..args.payments {
        let (from, to) = ((i % 3) as usize, ((i * 7 + 1) % 3) as usize);
        let to = if to == from { (from + 1) % 3 } else { to };
        let amount = milli(10 + (i * 37) % 90);
        let r =
            api[from].post(&format!("/v1/pay/{id}/send"), json!({ "amount": amount, "to": nodes[to].address })).await?;
        let v = r["version"].as_u64().unwrap_or_default();
        if i < 6 || i + 3 >= args.payments {
            println!("   v{v:<3} {:<5} pays {:<5} {}", NAMES[from], NAMES[to], eth(amount));
        } else if i == 6 {
            println!("   …");
        }
        history.push(v);
    }
    // The last state reaches the others a moment later (a busy channel's next proposal carries
    // it; an idle one gets it on its own): wait until all three hold the same.
    let mut latest = api[0].channel(id).await?.latest.context("no state")?;
    for _ in 0..200 {
        let mut views = Vec::new();
        for a in &api {
            views.push(a.channel(id).await?.latest.context("no state")?);
        }
        latest = views.iter().max_by_key(|s| s.state.version).expect("three").clone();
        if views.iter().all(|s| s.state.version == latest.state.version) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("   every node holds v{} on disk", latest.state.version);
    let final_balances = balances_of(&latest.state.data);
    println!("   v{}: {}", latest.state.version, show_balances(&final_balances));

    // Carol's richest moment among the signed states.
    let mut best = (0u64, U256::ZERO);
    for v in 3..latest.state.version {
        let s = api[2].state(id, v).await?;
        let b = balances_of(&s.state.data);
        if b.len() == 3 && b[2] > best.1 {
            best = (v, b[2]);
        }
    }
    let stale: SignedState = (&api[2].state(id, best.0).await?).try_into()?;
    println!(
        "\n3. Carol goes behind her own node's back: she challenges with the stale v{} where she held {} (now {})",
        best.0,
        eth(best.1),
        eth(final_balances[2])
    );
    // Follow every node's events from before the challenge (each stream subscribed first).
    let mut watchers = Vec::new();
    let mut ready = Vec::new();
    for (name, a) in NAMES.iter().zip(&api) {
        let (a, name) = ((*a).clone(), *name);
        let (subscribed, is_subscribed) = tokio::sync::oneshot::channel();
        ready.push(is_subscribed);
        watchers.push(tokio::spawn(async move {
            let mut answer = None;
            let _ = tokio::time::timeout(
                Duration::from_secs(60),
                a.follow_events_from(
                    || {
                        let _ = subscribed.send(());
                    },
                    |e| match e {
                        Event::Answered { stale_version, version, receipt, .. } => {
                            answer = Some((name, stale_version, version, receipt));
                            false
                        }
                        Event::Chain { ref what, .. } if what == "checkpointed" => false,
                        _ => true,
                    },
                ),
            )
            .await;
            answer
        }));
    }
    for r in ready {
        let _ = r.await;
    }
    let view = api[2].channel(id).await?;
    let params: ChannelParams = (&view.record.terms).into();
    let domain = Domain::new(CHAIN_ID, judge);
    let c = avocado_codec::Challenge { channelId: id, version: best.0 };
    let challenger = signer::sign(signers[2].credential(), &domain.challenge_digest(&c));
    let call = I::challengeCall {
        params,
        state: stale.state.clone(),
        sigs: stale.sigs(),
        challengerSig: challenger.to_compact().to_vec().into(),
    };
    let r: TxReceipt = carol.send(call.abi_encode()).await?;
    costs.add("challenge (stale, Carol)", r.gas_used);
    let st = carol.status(id).await?;
    println!(
        "   judge: challenge at v{}, final at {} unless answered ({} gas)",
        st.version, st.finalizes_at, r.gas_used
    );

    println!(
        "\n4. The watchtowers see ChallengeStarted v{} < v{} and answer with checkpoint",
        best.0, latest.state.version
    );
    let mut answered = false;
    for w in watchers {
        if let Ok(Some((name, stale_version, version, receipt))) = w.await {
            println!(
                "   {name}'s watchtower answered v{stale_version} with v{version} (block {}, {} gas)",
                receipt.block, receipt.gas_used
            );
            if !answered {
                costs.add("checkpoint (watchtower)", receipt.gas_used);
            }
            answered = true;
        }
    }
    let st = carol.status(id).await?;
    println!("   judge: {} at v{} — Carol's stale state is gone", phase_name(st.phase), st.version);
    if !answered || st.version != latest.state.version {
        bail!("no watchtower answered: the judge holds v{}", st.version);
    }

    println!("\n5. Bob closes cooperatively: all sign a final state, his node concludes it and the escrow settles");
    let closed = api[1].post(&format!("/v1/pay/{id}/close"), json!({})).await?;
    costs.add("conclude (final state)", gas_of(&closed["conclude"]));
    costs.add("settle (escrow)", gas_of(&closed["settle"]));
    let st = carol.status(id).await?;
    let fin = api[1].channel(id).await?.latest.context("no final state")?;
    println!(
        "   judge: {} at v{} ({} gas); dataHash {} keccak256(final balances); escrow settled ({} gas)",
        phase_name(st.phase),
        st.version,
        gas_of(&closed["conclude"]),
        if st.data_hash == keccak256(&fin.state.data) { "=" } else { "!=" },
        gas_of(&closed["settle"])
    );
    if st.phase != phase::FINAL || st.data_hash != keccak256(&fin.state.data) || st.version != fin.state.version {
        bail!("the channel did not end with the final state");
    }

    println!("\n6. Everyone withdraws");
    let mut fees = vec![U256::ZERO; 3];
    for (i, a) in api.iter().enumerate() {
        let w = a.post("/v1/pay/withdraw", json!({})).await?;
        let amount: U256 = serde_json::from_value(w["amount"].clone())?;
        costs.add("withdraw", gas_of(&w["withdraw"]));
        println!("   {:<5} withdrew {} ({} gas)", NAMES[i], eth(amount), gas_of(&w["withdraw"]));
        fees[i] = amount;
    }
    let mut after = Vec::new();
    for n in nodes {
        after.push(carol.balance(n.address).await?);
    }
    println!("\nOn chain after:  {}", show_balances(&after));
    let deposits = [milli(1000), milli(1000), milli(500)];
    for i in 0..3 {
        let net = fees[i]
            .checked_sub(deposits[i])
            .map(|g| format!("+{}", eth(g)))
            .unwrap_or_else(|| format!("-{}", eth(deposits[i] - fees[i])));
        println!(
            "   {:<5} channel result {net} (deposited {}, withdrew {}); gas paid separately",
            NAMES[i],
            eth(deposits[i]),
            eth(fees[i])
        );
    }
    if fees.iter().copied().sum::<U256>() != deposits.iter().copied().sum::<U256>() || fees != final_balances {
        bail!("the withdrawals do not match the final balances");
    }
    println!("   withdrawals = final balances, and add up to the deposits to the wei");
    Ok(())
}

fn phase_name(p: u8) -> &'static str {
    match p {
        phase::NONE => "None",
        phase::OPEN => "Open",
        phase::CHALLENGE => "Challenge",
        phase::FINAL => "Final",
        _ => "?",
    }
}
