//! The payment invariant, tried at random: *an honest participant can always obtain on chain at
//! least its balance in the latest state it accepted, plus every deposit of its own that no state
//! it accepted counted — whatever the others do.*
//!
//! Each run is one payment channel of 2 or 3 participants on the devnet (real judge and escrow
//! WASM), honest nodes running in this process (the stock `Node` with its redb store, peer API
//! over loopback, alloy chain adapter and watchtower) and one or two colluding dishonest
//! participants (the test's adversary: own keys and peer server). A seeded schedule of deposits,
//! counts, payments, refusals, withheld states, proposals that break the rules, final states,
//! offline periods, then an ending chosen by the adversary (a stale dispute, an old final state,
//! or a cooperative close) and settlement. After settlement every honest participant's credit in
//! the escrow must be at least its due in the latest state its own store holds, and the credits
//! must add up to the deposits to the wei. Every proposal that breaks the rules must have been
//! refused.
//!
//! `AVOCADO_INVARIANT_RUNS` (default 200) runs from `AVOCADO_INVARIANT_SEED` (default 1); a failure
//! prints its seed and trace, and `AVOCADO_INVARIANT_SEED=<seed> AVOCADO_INVARIANT_RUNS=1`
//! replays it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use avocado_client::chain::{AlloyChain, ChainClient};
use avocado_client::message::Terms;
use avocado_client::node::watch::WatchConfig;
use avocado_client::node::{peer, Node, NodeConfig, Outcome, Policy};
use avocado_client::signed::SignedState;
use avocado_client::store::RedbStore;
use avocado_codec::payment::IAvocadoEscrow as E;
use avocado_codec::payment::{check_transition, decode_accounts, empty_accounts, encode_accounts, Account};
use avocado_codec::{phase, ChannelParams, IAvocadoJudge as J, State};
use avocado_tests::adversary::{Answer, Mallory};
use avocado_tests::nodes::{Folder, TestChain};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WINDOW: u64 = 3600;

fn milli(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(15u64))
}

/// An honest node running in this process; it can be stopped and started again on the same
/// port and data folder (an offline period).
struct Honest {
    key: PrivateKeySigner,
    dir: PathBuf,
    addr: SocketAddr,
    node: Option<Arc<Node>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Stops the peer server (its connections hold the node).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Honest {
    async fn start(key: PrivateKeySigner, dir: PathBuf, chain: &TestChain, escrow: Address) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let mut h = Self { key, dir, addr, node: None, tasks: Vec::new(), stop: None, server: None };
        h.up(chain, escrow).await;
        h
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn node(&self) -> &Arc<Node> {
        self.node.as_ref().expect("online")
    }

    fn online(&self) -> bool {
        self.node.is_some()
    }

    async fn up(&mut self, chain: &TestChain, escrow: Address) {
        let started = Instant::now();
        let store = loop {
            match RedbStore::open(&self.dir.join("node.redb")) {
                Ok(s) => break s,
                Err(e) if started.elapsed() < Duration::from_secs(5) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the store does not reopen: {e}"),
            }
        };
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if started.elapsed() < Duration::from_secs(5) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen again on {}: {e}", self.addr),
            }
        };
        let client = AlloyChain::connect(&chain.rpc, chain.judge, self.key.clone()).await.unwrap();
        let config = NodeConfig {
            key: self.key.credential().clone(),
            domain: chain.domain(),
            peer_url: self.url(),
            policy: Policy { min_challenge_duration: 60, auto_accept: true },
            peer_timeout: Duration::from_millis(300),
            escrow: Some(escrow),
            // The devnet seals a block per transaction: logs are read up to the head.
            watch: WatchConfig { confirmations: 0, ws_url: None },
            bounds: Default::default(),
        };
        let node = Node::new(config, Arc::new(store), Some(Arc::new(client)));
        let router = peer::router(node.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        }));
        self.tasks.push(tokio::spawn(node.clone().run_outbox()));
        self.tasks.push(tokio::spawn(node.clone().run_watchtower(Duration::from_millis(50))));
        let syncing = node.clone();
        self.tasks.push(tokio::spawn(async move { syncing.sync_all().await }));
        self.node = Some(node);
    }

    async fn down(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let handle = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server).await.is_err() {
                handle.abort();
            }
        }
        self.node = None;
    }

    /// The latest fully signed state this participant holds.
    fn latest(&self, id: B256) -> SignedState {
        self.node().store().latest(id).unwrap().expect("version 0 at least")
    }
}

/// One run's world.
struct Run<'a> {
    rng: StdRng,
    chain: &'a TestChain,
    escrow: Address,
    honest: Vec<Honest>,
    /// Participant index of each honest node.
    hp: Vec<usize>,
    mallory: Arc<Mallory>,
    /// Participant index of each of Mallory's keys.
    mp: Vec<usize>,
    terms: Terms,
    id: B256,
    trace: Vec<String>,
    /// A rule an honest node broke during the steps.
    violation: Option<String>,
    /// Since the run started (times in the trace).
    clock: Instant,
}

impl Run<'_> {
    fn note(&mut self, s: impl Into<String>) {
        let ms = self.clock.elapsed().as_millis();
        self.trace.push(format!("{ms:>6} ms  {}", s.into()));
    }

    fn params(&self) -> ChannelParams {
        (&self.terms).into()
    }

    fn online_honest(&self) -> Vec<(usize, String)> {
        self.honest.iter().zip(&self.hp).filter(|(h, _)| h.online()).map(|(h, p)| (*p, h.url())).collect()
    }

    async fn deposited(&self, who: Address) -> U256 {
        let call = E::depositedCall { channelId: self.id, participant: who };
        let out = self.chain.client(&self.mallory.keys[0]).await.read(self.escrow, call.abi_encode()).await.unwrap();
        E::depositedCall::abi_decode_returns(&out).unwrap()
    }

    fn accounts(&self, s: &SignedState) -> Vec<Account> {
        decode_accounts(&s.state.data, self.terms.participants.len()).expect("a payment state")
    }

    /// One random step.
    async fn step(&mut self) {
        let wait = Duration::from_secs(3);
        let pick = self.rng.gen_range(0..100);
        let h = self.rng.gen_range(0..self.honest.len());
        match pick {
            0..=14 if self.honest[h].online() => {
                let amount = milli(self.rng.gen_range(1..50));
                let r = self.honest[h].node().pay_deposit(self.id, amount, wait).await;
                self.note(format!("honest {h} deposits {amount}: {:?}", r.map(|x| x.1)));
            }
            15..=34 if self.honest[h].online() => {
                let me = self.hp[h];
                let to = self.terms.participants
                    [(me + self.rng.gen_range(1..self.terms.participants.len())) % self.terms.participants.len()];
                let amount = milli(self.rng.gen_range(1..20));
                let r = self.honest[h].node().pay_send(self.id, amount, Some(to), wait).await;
                self.note(format!("honest {h} pays {amount} to {to}: {r:?}"));
            }
            35..=39 if self.honest[h].online() => {
                let r = self.honest[h].node().pay_count(self.id, wait).await;
                self.note(format!("honest {h} counts its deposits: {r:?}"));
            }
            40..=47 => {
                let k = self.rng.gen_range(0..self.mallory.keys.len());
                let amount = milli(self.rng.gen_range(1..50));
                let call = E::depositCall { judge: self.chain.judge, params: (&self.params()).into() };
                let r = self
                    .chain
                    .client(&self.mallory.keys[k])
                    .await
                    .transact(self.escrow, call.abi_encode(), amount)
                    .await;
                self.note(format!("mallory {k} deposits {amount} (uncounted): {:?}", r.map(|x| x.block)));
            }
            48..=55 => {
                let a = if self.rng.gen_bool(0.6) { Answer::Sign } else { Answer::Refuse };
                self.mallory.answer_with(a);
                self.note(format!("mallory answers {a:?} from now on"));
            }
            56..=89 => self.mallory_proposes().await,
            90..=94 if self.honest[h].online() && self.honest.iter().filter(|x| x.online()).count() > 0 => {
                self.honest[h].down().await;
                self.note(format!("honest {h} goes offline"));
            }
            _ => {
                for i in 0..self.honest.len() {
                    if !self.honest[i].online() {
                        self.honest[i].up(self.chain, self.escrow).await;
                        self.note(format!("honest {i} comes back"));
                    }
                }
            }
        }
    }

    /// Mallory proposes something on top of a state she holds: fair or not, final or not; then
    /// delivers or withholds it.
    async fn mallory_proposes(&mut self) {
        let states = self.mallory.states(self.id);
        let Some(latest) = states.last().cloned() else { return };
        let base =
            if self.rng.gen_bool(0.85) { latest.clone() } else { states[self.rng.gen_range(0..states.len())].clone() };
        let old = self.accounts(&base);
        let mut new = old.clone();
        let me = self.mp[0];
        let n = new.len();
        let other = (me + self.rng.gen_range(1..n)) % n;
        let kind = self.rng.gen_range(0..9);
        let amount = milli(self.rng.gen_range(1..30));
        let mut is_final = false;
        let what = match kind {
            0 => {
                let d = self.deposited(self.mallory.keys[0].address()).await;
                let newly = d.saturating_sub(new[me].counted);
                new[me].balance += newly;
                new[me].counted = new[me].counted.max(d);
                "counts her deposits"
            }
            1 => {
                let pay = amount.min(new[me].balance);
                new[me].balance -= pay;
                new[other].balance += pay;
                "pays"
            }
            2 => {
                let take = amount.min(new[other].balance);
                new[other].balance -= take;
                new[me].balance += take;
                "takes from another"
            }
            3 => {
                let d = self.deposited(self.terms.participants[other]).await;
                let newly = d.saturating_sub(new[other].counted);
                new[other].counted += newly;
                new[me].balance += newly;
                "counts another's deposit to herself"
            }
            4 => {
                new[me].balance += amount;
                new[me].counted += amount;
                "counts a deposit she never made"
            }
            5 => {
                new[me].balance += amount;
                "adds to her balance"
            }
            6 => {
                new[other].counted = new[other].counted.saturating_sub(amount);
                new[other].balance = new[other].balance.saturating_sub(amount);
                "lowers another's count"
            }
            _ => {
                is_final = true;
                "makes it final"
            }
        };
        let high = states.iter().map(|s| s.state.version).max().unwrap_or(0);
        let version = if self.rng.gen_bool(0.8) {
            high.max(base.state.version) + 1
        } else {
            base.state.version + self.rng.gen_range(1..4)
        };
        let data = Bytes::from(encode_accounts(&new));
        let state = State { channelId: self.id, version, data, isFinal: is_final };
        // Legal by the rules, as far as the chain shows now.
        let mut legal = check_transition(&old, &new, me).is_ok();
        if legal {
            for (i, counted) in check_transition(&old, &new, me).unwrap() {
                if counted > self.deposited(self.terms.participants[i]).await {
                    legal = false;
                }
            }
        }
        let honest = self.online_honest();
        let r = self.mallory.propose(&self.terms, &base, state, &honest).await;
        let ok = r.is_ok();
        self.note(format!(
            "mallory {what} as v{version}{} on v{} (legal: {legal}): {}",
            if is_final { " final" } else { "" },
            base.state.version,
            match &r {
                Ok(_) => "fully signed".to_string(),
                Err(e) => format!("{} {}", e.status, e.message.chars().take(120).collect::<String>()),
            }
        ));
        if ok && !legal && !honest.is_empty() {
            self.violation = Some("an honest node signed a state that breaks the payment rules".into());
        }
        if let Ok(full) = r {
            if self.rng.gen_bool(0.5) {
                self.mallory.deliver(&full, &honest).await;
                self.note("  delivered");
            } else {
                self.note("  withheld");
            }
        }
    }

    /// The state Mallory likes best for a dispute: the one paying her keys the most.
    fn mallory_best(&self, min_version: u64, only_final: bool) -> Option<SignedState> {
        let mut best: Option<(U256, SignedState)> = None;
        for s in self.mallory.states(self.id) {
            if s.state.version < min_version || (only_final && !s.state.isFinal) {
                continue;
            }
            let a = self.accounts(&s);
            let mine = self.mp.iter().fold(U256::ZERO, |acc, p| acc + a[*p].balance - a[*p].counted);
            if best.as_ref().is_none_or(|(b, _)| mine > *b) {
                best = Some((mine, s));
            }
        }
        best.map(|(_, s)| s)
    }

    async fn status(&self) -> avocado_client::chain::ChannelStatusOnChain {
        self.chain.status(self.id).await
    }

    /// Ends the channel the way the adversary chooses, then settles it.
    async fn finish(&mut self) {
        let onchain = self.status().await;
        let ending = self.rng.gen_range(0..3);
        let old_final = self.mallory_best(onchain.version, true);
        match (ending, old_final) {
            (0, Some(f)) => {
                let call = J::concludeCall { params: self.params(), state: f.state.clone(), sigs: f.sigs() };
                let r = self.chain.client(&self.mallory.keys[0]).await.send(call.abi_encode()).await;
                self.note(format!("mallory concludes the final v{}: {:?}", f.state.version, r.map(|x| x.block)));
            }
            (0 | 1, _) => {
                let stale = self.mallory_best(onchain.version, false).expect("v0 at least");
                let r = self.chain.challenge_with(&self.mallory.keys[0], self.params(), &stale).await;
                self.note(format!("mallory challenges with v{}: {:?}", stale.state.version, r.map(|x| x.block)));
            }
            _ => {
                self.all_up().await;
                let r = self.honest[0].node().close(self.id, None, Duration::from_secs(3)).await;
                self.note(format!("honest 0 closes cooperatively: {:?}", r.as_ref().map(|x| x.0)));
                if r.is_err() {
                    let r = self.honest[0].node().challenge(self.id).await;
                    self.note(format!("honest 0 challenges instead: {:?}", r.map(|x| x.0)));
                }
            }
        }
        // Offline honest nodes come back within the dispute window (their policy's promise).
        if self.rng.gen_bool(0.5) {
            tokio::time::sleep(Duration::from_millis(self.rng.gen_range(0..300))).await;
        }
        self.all_up().await;
        let s = self.status().await;
        if s.phase == phase::CHALLENGE {
            // Every honest watchtower answers with its latest before the deadline; Mallory may
            // answer with a newer state she withheld (every honest participant signed it).
            let target = self.honest.iter().map(|h| h.latest(self.id).state.version).max().unwrap();
            let started = Instant::now();
            while self.status().await.version < target && started.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            if let Some(newer) = self.mallory_best(self.status().await.version + 1, false) {
                let call = J::checkpointCall { params: self.params(), state: newer.state.clone(), sigs: newer.sigs() };
                let r = self.chain.client(&self.mallory.keys[0]).await.send(call.abi_encode()).await;
                self.note(format!("mallory checkpoints v{}: {:?}", newer.state.version, r.map(|x| x.block)));
            }
            self.note(format!(
                "judge at v{} after the answers (honest latest v{target}), {} ms",
                self.status().await.version,
                started.elapsed().as_millis()
            ));
            self.chain.travel(WINDOW + 1).await;
        }
        let s = self.status().await;
        assert_eq!(s.phase, phase::FINAL, "the channel is final");
        // Settle with the final data, from whoever holds it.
        let data = self
            .known_states()
            .into_iter()
            .find(|st| alloy_primitives::keccak256(&st.state.data) == s.data_hash)
            .expect("someone holds the final data")
            .state
            .data;
        let call = E::settleCall { judge: self.chain.judge, params: (&self.params()).into(), data };
        let r =
            self.chain.client(&self.mallory.keys[0]).await.transact(self.escrow, call.abi_encode(), U256::ZERO).await;
        assert!(r.is_ok(), "settlement: {r:?}");
        self.note(format!("settled v{}", s.version));
    }

    fn known_states(&self) -> Vec<SignedState> {
        let mut all = self.mallory.states(self.id);
        for h in &self.honest {
            let latest = h.latest(self.id).state.version;
            for v in 0..=latest {
                if let Ok(Some(s)) = h.node().store().signed_state(self.id, v) {
                    all.push(s);
                }
            }
        }
        all
    }

    async fn all_up(&mut self) {
        for i in 0..self.honest.len() {
            if !self.honest[i].online() {
                self.honest[i].up(self.chain, self.escrow).await;
                self.note(format!("honest {i} comes back"));
            }
        }
    }

    /// The invariant, on chain to the wei.
    async fn check(&mut self) -> Result<(), String> {
        let mut credits = U256::ZERO;
        let mut deposits = U256::ZERO;
        for p in &self.terms.participants {
            deposits += self.deposited(*p).await;
            let call = E::creditCall { account: *p };
            let out =
                self.chain.client(&self.mallory.keys[0]).await.read(self.escrow, call.abi_encode()).await.unwrap();
            credits += E::creditCall::abi_decode_returns(&out).unwrap();
        }
        if credits != deposits {
            return Err(format!("credits {credits} != deposits {deposits}"));
        }
        for (h, p) in self.honest.iter().zip(&self.hp) {
            let latest = h.latest(self.id);
            let a = self.accounts(&latest)[*p];
            let who = self.terms.participants[*p];
            let due = a.balance + self.deposited(who).await - a.counted;
            let call = E::creditCall { account: who };
            let out =
                self.chain.client(&self.mallory.keys[0]).await.read(self.escrow, call.abi_encode()).await.unwrap();
            let credit = E::creditCall::abi_decode_returns(&out).unwrap();
            self.trace
                .push(format!("participant {p} (honest): due {due} by v{}, credited {credit}", latest.state.version));
            if credit < due {
                return Err(format!("honest participant {p} is credited {credit}, less than its due {due}"));
            }
        }
        Ok(())
    }
}

async fn one_run(
    chain: &TestChain,
    escrow: Address,
    folder: &Folder,
    seed: u64,
) -> Result<Vec<String>, (String, Vec<String>)> {
    let clock = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let n = if rng.gen_bool(0.5) { 2 } else { 3 };
    let n_mallory = if n == 3 && rng.gen_bool(0.4) { 2 } else { 1 };
    let n_honest = n - n_mallory;
    // Positions: shuffle who sits where.
    let mut seats: Vec<bool> = (0..n).map(|i| i < n_honest).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        seats.swap(i, j);
    }
    let hp: Vec<usize> = (0..n).filter(|i| seats[*i]).collect();
    let mp: Vec<usize> = (0..n).filter(|i| !seats[*i]).collect();
    let mut honest = Vec::new();
    for (i, _) in hp.iter().enumerate() {
        let key = chain.funded_key(&format!("invariant {seed} honest {i}")).await;
        honest.push(Honest::start(key, folder.0.join(format!("{seed}-{i}")), chain, escrow).await);
    }
    let mut mkeys = Vec::new();
    for k in 0..n_mallory {
        mkeys.push(chain.funded_key(&format!("invariant {seed} mallory {k}")).await);
    }
    let mallory = Mallory::start(mkeys, chain.domain()).await;
    let mut participants = vec![Address::ZERO; n];
    let mut peers = vec![String::new(); n];
    for (h, p) in honest.iter().zip(&hp) {
        participants[*p] = h.key.address();
        peers[*p] = h.url();
    }
    for (k, p) in mp.iter().enumerate() {
        participants[*p] = mallory.keys[k].address();
        peers[*p] = mallory.urls[k].clone();
    }
    let terms = Terms { participants, nonce: seed, challenge_duration: WINDOW, executive: escrow };
    let ready = clock.elapsed().as_millis();
    let opener = honest[0].node().clone();
    let (id, outcome) = opener
        .propose_channel(terms.clone(), peers, Bytes::from(empty_accounts(n)), Duration::from_secs(5))
        .await
        .map_err(|e| (format!("open: {e}"), vec![]))?;
    let Outcome::Signed(v0) = outcome else { return Err(("v0 not signed".into(), vec![])) };
    mallory.keep(&v0);
    opener.open_on_chain(id).await.map_err(|e| (format!("open on chain: {e}"), vec![]))?;
    drop(opener);
    let mut run =
        Run { rng, chain, escrow, honest, hp, mallory, mp, terms, id, trace: Vec::new(), violation: None, clock };
    run.note(format!(
        "{n} participants: honest at {:?}, mallory at {:?}; keys funded and nodes up at {ready} ms",
        run.hp, run.mp
    ));
    let steps = run.rng.gen_range(4..14);
    for _ in 0..steps {
        run.step().await;
        if let Some(v) = run.violation.take() {
            for h in &mut run.honest {
                h.down().await;
            }
            return Err((v, run.trace));
        }
    }
    run.finish().await;
    let result = run.check().await;
    for h in &mut run.honest {
        h.down().await;
    }
    match result {
        Ok(()) => Ok(run.trace),
        Err(e) => Err((e, run.trace)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_participants_always_obtain_their_due() {
    let runs: u64 = std::env::var("AVOCADO_INVARIANT_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let first: u64 = std::env::var("AVOCADO_INVARIANT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let chain = TestChain::start().await;
    let escrow = chain.deploy("escrow").await;
    let folder = Folder::new("invariant");
    let started = Instant::now();
    let (chain, folder) = (Arc::new(chain), Arc::new(folder));
    for seed in first..first + runs {
        // Each run in its own task, so that a panic inside still reports its seed.
        let (c, f) = (chain.clone(), folder.clone());
        let t = Instant::now();
        let outcome = tokio::spawn(async move { one_run(&c, escrow, &f, seed).await }).await;
        if std::env::var("AVOCADO_INVARIANT_VERBOSE").is_ok() {
            eprintln!("seed {seed}: {} ms", t.elapsed().as_millis());
            if let Ok(Ok(trace)) = &outcome {
                eprintln!("  {}", trace.join("\n  "));
            }
        }
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err((why, trace))) => {
                panic!(
                    "seed {seed}: {why}\n  {}\nreplay: AVOCADO_INVARIANT_SEED={seed} AVOCADO_INVARIANT_RUNS=1 cargo test -p avocado-tests --test invariant",
                    trace.join("\n  ")
                )
            }
            Err(e) => panic!(
                "seed {seed} panicked: {e}\nreplay: AVOCADO_INVARIANT_SEED={seed} AVOCADO_INVARIANT_RUNS=1 cargo test -p avocado-tests --test invariant -- --nocapture"
            ),
        }
    }
    eprintln!("{runs} runs from seed {first} in {:.1} s", started.elapsed().as_secs_f64());
    drop(folder);
    if let Ok(chain) = Arc::try_unwrap(chain) {
        chain.stop().await;
    }
}
