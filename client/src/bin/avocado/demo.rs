//! `avocado demo`: the whole product on one machine with no set-up. The embedded devnet runs
//! the real judge program; Alice, Bob and Carol each run `avocado node` as a separate process;
//! everything between them goes over loopback HTTP and JSON-RPC, exactly as on a real chain.

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::{keccak256, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use anyhow::{bail, Context, Result};
use avocado_client::app_client::{AppClient, Proposed};
use avocado_client::chain::{AlloyChain, ChainClient, TxReceipt};
use avocado_client::message::SignedJson;
use avocado_client::node::Event;
use avocado_client::process::{NodeProcess, NodeSpec};
use avocado_client::signed::SignedState;
use avocado_codec::{phase, signer, ChannelParams, Domain, IAvocadoJudge as I};
use avocado_devnet::chain::{ChainConfig, DEV_ACCOUNT};
use clap::Args;
use serde_json::json;

use crate::parse_duration;

#[derive(Args, Clone, Debug)]
pub struct DemoArgs {
    /// The judge's deployable code (`scripts/build-judge.sh` writes it).
    #[arg(long, default_value = "target/judge/judge.bin")]
    judge_code: PathBuf,
    /// Off-chain updates to exchange.
    #[arg(long, default_value_t = 12)]
    updates: u64,
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
        self.0.push((step.to_string(), gas));
    }
}

fn balances(b: &[u64; 3]) -> Bytes {
    Bytes::from(format!("alice={} bob={} carol={}", b[0], b[1], b[2]).into_bytes())
}

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let code = std::fs::read(&args.judge_code)
        .with_context(|| format!("cannot read {} (build it with scripts/build-judge.sh)", args.judge_code.display()))?;
    let signers: Vec<PrivateKeySigner> = NAMES
        .iter()
        .map(|n| PrivateKeySigner::from_bytes(&keccak256(format!("avocado demo key {n}"))).expect("a valid key"))
        .collect();
    let ether = U256::from(10u64).pow(U256::from(18u64));
    let mut config = ChainConfig { chain_id: CHAIN_ID, ..Default::default() };
    config.funded.extend(signers.iter().map(|s| (s.address(), ether * U256::from(10u64))));
    let devnet = avocado_devnet::rpc::start(config, "127.0.0.1:0".parse()?).await?;
    let rpc = devnet.url();
    println!("Avocado demo — embedded devnet at {rpc} (chain id {CHAIN_ID}), the real judge program, three nodes");

    let deployer = avocado_client::keys::parse_private_key(avocado_devnet::cli::DEV_KEY)?;
    debug_assert_eq!(deployer.address(), DEV_ACCOUNT);
    let d = avocado_client::deploy::deploy_program(&rpc, deployer, &code).await?;
    println!(
        "\njudge: {} bytes deployed at {} ({} gas), activated through ArbWasm at Stylus version {} ({} gas)",
        d.code_bytes, d.address, d.deploy_gas, d.stylus_version, d.activate_gas
    );
    let mut costs = Costs(vec![("deploy judge".into(), d.deploy_gas), ("activate judge".into(), d.activate_gas)]);

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
            ],
            peer_port: 0,
            app_port: 0,
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
    println!("\nGas per step (whole transactions on the devnet, the judge metered at Nitro's ink prices):");
    for (step, gas) in &costs.0 {
        println!("  {step:<32} {gas:>9}");
    }
    Ok(())
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
    let mut bal = [100u64, 100, 100];
    println!(
        "\n1. Alice proposes a channel to Bob and Carol ({} s dispute window); their nodes sign v0",
        args.challenge.as_secs()
    );
    let request = json!({
        "participants": nodes.iter().map(|n| n.address).collect::<Vec<_>>(),
        "peers": nodes.iter().map(|n| n.peer_url.clone()).collect::<Vec<_>>(),
        "challengeDuration": args.challenge.as_secs(),
        "data": balances(&bal),
        "nonce": 1,
    });
    let opened = api[0].propose_channel(request).await?;
    let Proposed::Signed { channel_id: id, raw, signed } = opened else { bail!("the channel was not signed by all") };
    let open_gas = raw["open"]["gasUsed"].as_u64().unwrap_or_default();
    costs.add("open (v0, Alice's node)", open_gas);
    println!("   channel {id}\n   v0 {:?}; opened on chain ({open_gas} gas)", text(&signed.state.data));

    println!(
        "\n2. {} updates, each proposed by one node and signed by all three over HTTP (no transactions)",
        args.updates
    );
    let mut history: Vec<SignedJson> = vec![signed];
    for i in 0..args.updates {
        let (from, to) = ((i % 3) as usize, ((i + 1) % 3) as usize);
        let amount = 1 + i % 7;
        bal[from] -= amount;
        bal[to] += amount;
        let proposer = (i % 3) as usize;
        let full = api[proposer].update(id, balances(&bal), false, Duration::from_secs(30)).await?.signed()?;
        println!("   v{:<2} by {:<5} {:?}", full.state.version, NAMES[proposer], text(&full.state.data));
        history.push(full);
    }
    let latest = history.last().expect("v0 at least").clone();
    // The last state reaches the others a moment later (a busy channel's next proposal carries
    // it; an idle one gets it on its own).
    for (n, a) in NAMES.iter().zip(&api) {
        let mut held = None;
        for _ in 0..100 {
            held = a.channel(id).await?.latest.map(|s| s.state.version);
            if held == Some(latest.state.version) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if held != Some(latest.state.version) {
            bail!("{n}'s node holds {held:?}, expected v{}", latest.state.version);
        }
    }
    println!("   every node holds v{} on disk", latest.state.version);

    let stale_v = latest.state.version / 2;
    let stale: SignedState = (&api[2].state(id, stale_v).await?).try_into()?;
    println!(
        "\n3. Carol goes behind her own node's back: she posts the stale v{stale_v} {:?} as a challenge",
        text(&stale.state.data)
    );
    let mut watchers = Vec::new();
    for (name, a) in NAMES.iter().zip(&api) {
        let (a, name) = ((*a).clone(), *name);
        watchers.push(tokio::spawn(async move {
            let mut answer = None;
            let _ = tokio::time::timeout(
                Duration::from_secs(60),
                a.follow_events(|e| match e {
                    Event::Answered { stale_version, version, receipt, .. } => {
                        answer = Some((name, stale_version, version, receipt));
                        false
                    }
                    Event::Chain { ref what, version, .. } if what == "checkpointed" && version > 0 => false,
                    _ => true,
                }),
            )
            .await;
            answer
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let view = api[2].channel(id).await?;
    let params: ChannelParams = (&view.record.terms).into();
    let carol = AlloyChain::connect(rpc, judge, signers[2].clone()).await?;
    let domain = Domain::new(CHAIN_ID, judge);
    let c = avocado_codec::Challenge { channelId: id, version: stale_v };
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
        "\n4. The watchtowers see ChallengeStarted v{stale_v} < v{} and answer with checkpoint",
        latest.state.version
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

    println!("\n5. Bob closes cooperatively: all sign a final state, his node concludes it on chain");
    let closed = api[1].post(&format!("/v1/channels/{id}/close"), json!({ "wait": 30 })).await?;
    let gas = closed["receipt"]["gasUsed"].as_u64().unwrap_or_default();
    costs.add("conclude (final state, Bob)", gas);
    let st = carol.status(id).await?;
    let fin = api[1].channel(id).await?.latest.context("no final state")?;
    println!(
        "   judge: {} at v{} ({} gas); dataHash {} keccak256({:?})",
        phase_name(st.phase),
        st.version,
        gas,
        if st.data_hash == keccak256(&fin.state.data) { "=" } else { "!=" },
        text(&fin.state.data)
    );
    if st.phase != phase::FINAL || st.data_hash != keccak256(&fin.state.data) || st.version != fin.state.version {
        bail!("the channel did not end with the final state");
    }
    // The nodes see the conclusion too.
    for (n, a) in NAMES.iter().zip(&api) {
        let mut closed = false;
        for _ in 0..100 {
            if a.channel(id).await?.record.chain.phase == phase::FINAL {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("   {n}'s node: {}", if closed { "saw ChannelConcluded" } else { "has not seen the conclusion yet" });
    }
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
