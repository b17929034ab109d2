//! `avocado`: the command-line tool of Avocado.

use std::path::PathBuf;

use alloy_primitives::{keccak256, Address, LogData};
use alloy_primitives::{TxKind, U256};
use alloy_sol_types::{SolCall, SolEvent, SolInterface};
use anyhow::{bail, Context, Result};
use std::sync::Arc;

use avocado_client::{
    party::{Party, SignedState},
    store::RedbStore,
};
use avocado_codec::{phase, signer, ChannelParams, Domain, IAvocadoJudge as I, State};
use avocado_devnet::{
    chain::{arbos, Chain as DevChain, ChainConfig, DEV_ACCOUNT},
    stylus,
};
use clap::{Parser, Subcommand};
use k256::ecdsa::SigningKey;

#[derive(Parser)]
#[command(name = "avocado", version, about = "Generalized state channels on Arbitrum Stylus")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a 3-party channel against the real judge program on the embedded chain: open,
    /// updates, a stale challenge answered by a watchtower, cooperative close.
    Demo {
        /// The judge's deployable code (`scripts/build-judge.sh` writes it).
        #[arg(long, default_value = "target/judge/judge.bin")]
        judge_code: PathBuf,
        /// Off-chain updates to exchange.
        #[arg(long, default_value_t = 10)]
        updates: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { judge_code, updates } => demo(&judge_code, updates),
    };
    if let Err(e) = result {
        eprintln!("avocado: {e:#}");
        std::process::exit(1);
    }
}

const CHAIN_ID: u64 = 412_346;
const CHALLENGE_SECONDS: u64 = 3_600;

/// The embedded devnet with the judge deployed, and a record of what each step cost.
struct Chain {
    chain: DevChain,
    judge: Address,
    costs: Vec<(String, usize, u64, usize)>,
}

impl Chain {
    fn send(&mut self, step: &str, from: Address, calldata: Vec<u8>) -> Result<Vec<LogData>> {
        let r = self.chain.send(from, TxKind::Call(self.judge), calldata.clone(), U256::ZERO)?;
        if !r.is_success() {
            let out = r.output();
            let why = I::IAvocadoJudgeErrors::abi_decode(&out)
                .map(|e| format!("{e:?}"))
                .unwrap_or_else(|_| format!("{:?}", r.result));
            bail!("{step}: the judge refused: {why}");
        }
        let slots = r.storage_changes.iter().filter(|(a, _, _)| *a == self.judge).count();
        self.costs.push((step.to_string(), calldata.len(), r.gas_used(), slots));
        println!(
            "    on chain: {step}: {} calldata bytes, {} gas, {} storage slots written",
            calldata.len(),
            r.gas_used(),
            slots
        );
        Ok(r.logs().iter().map(|l| l.data.clone()).collect())
    }

    fn view(&mut self, data: Vec<u8>) -> Result<Vec<u8>> {
        let r = self.chain.view(Address::ZERO, self.judge, data)?;
        if !r.is_success() {
            bail!("the judge refused a read: {:?}", r.result);
        }
        Ok(r.output().to_vec())
    }

    fn status(&mut self, id: alloy_primitives::B256) -> Result<I::statusReturn> {
        let out = self.view(I::statusCall { channelId: id }.abi_encode())?;
        Ok(I::statusCall::abi_decode_returns(&out)?)
    }
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

fn balances(b: &[u64; 3]) -> Vec<u8> {
    format!("alice={} bob={} carol={}", b[0], b[1], b[2]).into_bytes()
}

/// Every party signs `state`; everyone accepts the fully signed result.
fn sign_round(parties: &mut [Party], state: &State) -> Result<SignedState> {
    let mut signatures = Vec::new();
    for p in parties.iter_mut() {
        signatures.push(p.countersign(state).with_context(|| format!("{} refused to sign", p.name))?);
    }
    let full = SignedState { state: state.clone(), signatures };
    for p in parties.iter_mut() {
        p.accept(full.clone()).with_context(|| format!("{} refused the signed state", p.name))?;
    }
    Ok(full)
}

fn demo(judge_code: &PathBuf, updates: u64) -> Result<()> {
    let code = std::fs::read(judge_code)
        .with_context(|| format!("cannot read {} (build it with scripts/build-judge.sh)", judge_code.display()))?;
    let wasm = stylus::unpack(&code)?;
    let names = ["Alice", "Bob", "Carol"];
    let keys: Vec<SigningKey> = names
        .iter()
        .map(|n| SigningKey::from_slice(keccak256(format!("avocado demo key {n}")).as_slice()).expect("a valid key"))
        .collect();
    let ether = U256::from(10u64).pow(U256::from(18u64));
    let mut config = ChainConfig { chain_id: CHAIN_ID, genesis_timestamp: 1_760_000_000, ..Default::default() };
    config.funded.extend(keys.iter().map(|k| (signer::address_of(k.verifying_key()), ether)));
    let mut dev = DevChain::new(&config);
    println!("Avocado demo — the real judge program on the embedded devnet (chain id {CHAIN_ID})");
    let deployed = dev.send(DEV_ACCOUNT, TxKind::Create, stylus::init_code(&code), U256::ZERO)?;
    let judge = deployed.contract_address.context("the judge's deployment failed")?;
    let activated = dev.send(
        DEV_ACCOUNT,
        TxKind::Call(arbos::ARB_WASM),
        arbos::ArbWasm::activateProgramCall { program: judge }.abi_encode(),
        ether / U256::from(10),
    )?;
    if !activated.is_success() {
        bail!("ArbWasm refused to activate the judge: {:?}", activated.result);
    }
    let act = arbos::ArbWasm::activateProgramCall::abi_decode_returns(&activated.output())?;
    println!(
        "  judge: {} bytes deployable ({} bytes of WASM) deployed at {judge} ({} gas),\n         activated through ArbWasm at Stylus version {} ({} gas, data fee {} wei)",
        code.len(),
        wasm.len(),
        deployed.gas_used(),
        act.version,
        activated.gas_used(),
        act.dataFee
    );
    let mut chain = Chain { chain: dev, judge, costs: Vec::new() };

    let params = ChannelParams {
        participants: keys.iter().map(|k| signer::address_of(k.verifying_key())).collect(),
        nonce: 1,
        challengeDuration: CHALLENGE_SECONDS,
        executive: Address::ZERO,
    };
    let domain = Domain::new(CHAIN_ID, judge);
    // Each party keeps its own durable store, in a fresh folder for this run.
    let stores = std::env::temp_dir().join(format!("avocado-demo-{}", std::process::id()));
    std::fs::create_dir_all(&stores).with_context(|| format!("cannot create {}", stores.display()))?;
    let mut parties = Vec::new();
    for (n, k) in names.iter().zip(keys) {
        let store = RedbStore::open(&stores.join(format!("{}.redb", n.to_lowercase())))?;
        parties.push(Party::new(n, k, domain, params.clone(), Arc::new(store))?);
    }
    let result = run_channel(&mut chain, &mut parties, &params, updates);
    let _ = std::fs::remove_dir_all(&stores);
    result
}

fn run_channel(chain: &mut Chain, parties: &mut [Party], params: &ChannelParams, updates: u64) -> Result<()> {
    for p in parties.iter() {
        println!("  {:<5} {}", p.name, p.address());
    }
    let id = parties[0].channel_id;
    println!("\n1. Alice, Bob and Carol agree on a channel {id}");
    let mut bal = [100u64, 100, 100];
    let s0 = parties[0].propose(&balances(&bal), false);
    let genesis = sign_round(parties, &s0)?;
    println!("   v0 signed by all three: {:?}", String::from_utf8_lossy(&genesis.state.data));
    let call = I::openCall { params: params.clone(), state: genesis.state.clone(), sigs: genesis.sigs() };
    chain.send("open", parties[0].address(), call.abi_encode())?;

    println!("\n2. {updates} updates off chain, each signed by everyone (no transactions)");
    let mut history = vec![genesis];
    for i in 0..updates {
        let (from, to) = ((i % 3) as usize, ((i + 1) % 3) as usize);
        let amount = 1 + i % 7;
        bal[from] -= amount;
        bal[to] += amount;
        let proposer = i as usize % 3;
        let next = parties[proposer].propose(&balances(&bal), false);
        let full = sign_round(parties, &next)?;
        println!(
            "   v{:<2} proposed by {:<5} {:?}",
            full.state.version,
            parties[proposer].name,
            String::from_utf8_lossy(&full.state.data)
        );
        history.push(full);
    }
    let latest = history.last().expect("at least the genesis").clone();

    let stale = history[history.len() / 2].clone();
    println!("\n3. Carol tries to close with the stale v{} (she was richer then)", stale.state.version);
    let call = I::challengeCall {
        params: params.clone(),
        state: stale.state.clone(),
        sigs: stale.sigs(),
        challengerSig: parties[2].challenge_signature(stale.state.version),
    };
    let logs = chain.send("challenge (stale)", parties[2].address(), call.abi_encode())?;
    let started = I::ChallengeStarted::decode_log_data(&logs[0])?;
    println!(
        "   ChallengeStarted: version {} by {}, final at {} unless answered",
        started.version, started.challenger, started.finalizesAt
    );

    println!(
        "\n4. Alice's watchtower sees the event: v{} < her v{}; it answers before the deadline",
        started.version, latest.state.version
    );
    chain.chain.time_offset = CHALLENGE_SECONDS / 2;
    let call = I::checkpointCall { params: params.clone(), state: latest.state.clone(), sigs: latest.sigs() };
    chain.send("checkpoint (watchtower)", parties[0].address(), call.abi_encode())?;
    let st = chain.status(id)?;
    println!("   status: {} at v{}, deadline {}", phase_name(st.phase), st.version, st.finalizesAt);
    if st.version != latest.state.version {
        bail!("the judge holds v{}, expected v{}", st.version, latest.state.version);
    }

    println!("\n5. Everyone signs a final state; anyone relays it: the channel is final at once");
    let fin = parties[1].propose(&balances(&bal), true);
    let fin = sign_round(parties, &fin)?;
    let call = I::concludeCall { params: params.clone(), state: fin.state.clone(), sigs: fin.sigs() };
    chain.send("conclude", parties[1].address(), call.abi_encode())?;
    let st = chain.status(id)?;
    let out = chain.view(I::finalStateCall { channelId: id }.abi_encode())?;
    let fs = I::finalStateCall::abi_decode_returns(&out)?;
    println!(
        "   status: {} at v{}; finalState dataHash {} {}",
        phase_name(st.phase),
        fs.version,
        fs.dataHash,
        if fs.dataHash == keccak256(&fin.state.data) { "= keccak256(final data)" } else { "MISMATCH" }
    );
    println!("   final balances: {}", String::from_utf8_lossy(&fin.state.data));

    println!("\nCosts (whole transactions; the judge metered with Nitro's operator and hostio ink prices):");
    println!("   {:<26} {:>9} {:>9} {:>6}", "step", "calldata", "gas", "slots");
    for (step, bytes, gas, slots) in &chain.costs {
        println!("   {step:<26} {bytes:>9} {gas:>9} {slots:>6}");
    }
    if fs.dataHash != keccak256(&fin.state.data) || st.phase != phase::FINAL {
        bail!("the channel did not end with the final state");
    }
    Ok(())
}
