//! A deterministic simulation of Avocado nodes, to find what a schedule of faults makes them do.
//!
//! The nodes are the client library's protocol core ([`avocado_client::protocol`]) — the same
//! steps the real node runs — each over an in-memory store ([`MemStore`], what survives a crash),
//! with a shell written here that does what the node's does (load [`Held`], run a step, execute
//! its effects in order) but over a simulated network and chain. One seeded random generator
//! drives everything, so a seed replays exactly:
//!
//! - **network**: every request and answer is a packet delivered in random order after a random
//!   delay, lost (the sender sees the peer as unreachable), or delivered twice;
//! - **crashes**: an honest node stops before or after any durable commit (its memory — its
//!   rounds in flight, its app's waiting call — is gone, its store is not) and restarts later,
//!   asking the others for their latest state;
//! - **clock**: time moves by small steps and sometimes jumps;
//! - **Byzantine participants**: they hold a real key and send well-signed but arbitrary
//!   messages — proposals that take from others, forged or misdirected signatures, rejections of
//!   the wrong digest, fully signed states with a forged signature, replays of what they received
//!   — and start disputes on chain with the oldest state they hold;
//! - **the judge**: a small in-memory model of the judge's rules (checkpoint only newer fully
//!   signed states, a dispute ends at its deadline, a final state concludes at once) and of the
//!   payment escrow's deposits. It is a model, not the contract: what it checks is what the
//!   judge's README documents, and the contract itself is tested elsewhere.
//!
//! After every step the invariants are checked ([`Sim::check`]): no honest node signs two digests
//! for one version; every fully signed state an honest node acknowledged is in its store (across
//! crashes); no two different fully signed states exist for one version; every step's effects are
//! in the safe order; a stale dispute is answered before its deadline by an honest node that was
//! up for the whole window; at finality every honest participant obtains its due (the payment
//! invariant); and, after a final quiet phase, every honest proposal settled or was reported
//! failed. A failure carries the seed and the trace; [`shrink`] finds the shortest prefix and the
//! fewest fault kinds that still fail.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use alloy_primitives::{Address, Bytes, B256, U256};
use avocado_client::error::NodeError;
use avocado_client::message::{open, Envelope, Message, Terms};
use avocado_client::protocol::{self, rules, Answer, Ctx, Effect, Event, Held, Policy, Reply, Rounds, Step};
use avocado_client::signed::SignedState;
use avocado_client::store::{ChannelRecord, ChannelStatus, MemStore, Outgoing, Store, Write};
use avocado_codec::payment::{decode_accounts, encode_accounts, Account};
use avocado_codec::{signer, Domain, Signature, State};
use k256::ecdsa::SigningKey;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The dispute window of the simulated channel (simulated milliseconds).
const WINDOW: u64 = 600_000;
/// How long a proposer waits before announcing a fully signed state on its own.
const ANNOUNCE_DELAY: u64 = 100;
/// The longest a packet is delayed.
const MAX_DELAY: u64 = 400;
/// The longest clock jump (well inside the dispute window: a node that is up sees a dispute in
/// time).
const MAX_JUMP: u64 = WINDOW / 10;

/// Which faults a run injects (each can be turned off, for shrinking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Packets lost.
    pub loss: bool,
    /// Packets delivered twice.
    pub duplication: bool,
    /// Packets delayed and reordered.
    pub reorder: bool,
    /// Honest nodes crashing at persistence points.
    pub crashes: bool,
    /// Clock jumps.
    pub clock_jumps: bool,
    /// Byzantine participants acting.
    pub byzantine: bool,
}

impl Faults {
    /// Every fault.
    pub const ALL: Self =
        Self { loss: true, duplication: true, reorder: true, crashes: true, clock_jumps: true, byzantine: true };

    /// No fault.
    pub const NONE: Self =
        Self { loss: false, duplication: false, reorder: false, crashes: false, clock_jumps: false, byzantine: false };

    /// The faults named in a comma-separated list (as [`Failure`] prints them); `all` or an
    /// empty list for every fault, `none` for none.
    pub fn parse(list: &str) -> Result<Self, String> {
        if list.is_empty() || list == "all" {
            return Ok(Self::ALL);
        }
        let mut f = Self::NONE;
        for name in list.split(',').filter(|n| !n.is_empty() && *n != "none") {
            match name.trim() {
                "loss" => f.loss = true,
                "duplication" => f.duplication = true,
                "reorder" => f.reorder = true,
                "crashes" => f.crashes = true,
                "clock-jumps" => f.clock_jumps = true,
                "byzantine" => f.byzantine = true,
                other => return Err(format!("unknown fault {other}")),
            }
        }
        Ok(f)
    }

    fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, name) in [
            (self.loss, "loss"),
            (self.duplication, "duplication"),
            (self.reorder, "reorder"),
            (self.crashes, "crashes"),
            (self.clock_jumps, "clock-jumps"),
            (self.byzantine, "byzantine"),
        ] {
            if on {
                v.push(name);
            }
        }
        v
    }
}

/// A run's settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Participants (2–5), Byzantine ones included.
    pub nodes: usize,
    /// Byzantine participants (the last ones; at least one participant stays honest).
    pub byzantine: usize,
    /// Scheduler steps before the quiet phase.
    pub steps: usize,
    /// Faults injected.
    pub faults: Faults,
}

impl Config {
    /// The configuration a seed picks: 2–5 nodes, up to two of them Byzantine.
    pub fn for_seed(seed: u64, steps: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let nodes = rng.gen_range(2..=5);
        let byzantine = rng.gen_range(0..=(nodes - 1).min(2));
        Self { nodes, byzantine, steps, faults: Faults::ALL }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Steps run (the quiet phase included).
    pub steps: usize,
    /// Proposals honest nodes started.
    pub proposals: usize,
    /// Of them, fully signed.
    pub settled: usize,
    /// Of them, reported failed (refused, superseded, unreachable peers, or the node crashed).
    pub failed: usize,
    /// Packets sent.
    pub packets: usize,
    /// Crashes injected.
    pub crashes: usize,
    /// Messages honest nodes refused.
    pub refused: usize,
    /// Disputes a Byzantine participant started.
    pub disputes: usize,
    /// Stale disputes an honest watchtower answered.
    pub answered: usize,
    /// The highest version fully signed.
    pub top_version: u64,
    /// Runs whose channel became final on the judge (by a dispute's deadline or a final state),
    /// where the dispute and payment invariants were checked.
    pub finalized: usize,
    /// Honest proposals left pending at the end because only Byzantine participants, who
    /// answered "pending", never decided.
    pub pending_on_byzantine: usize,
}

/// An invariant that broke.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The run's settings.
    pub config: Config,
    /// The step it broke at.
    pub step: usize,
    /// What broke.
    pub invariant: String,
    /// The run's last events, oldest first.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {} ({} nodes, {} Byzantine, faults: {}) broke at step {}: {}",
            self.seed,
            self.config.nodes,
            self.config.byzantine,
            self.config.faults.names().join(", "),
            self.step,
            self.invariant
        )?;
        writeln!(
            f,
            "replay: avocado-sim --seed {} --steps {} --faults {}",
            self.seed,
            self.step.min(self.config.steps).max(1),
            self.config.faults.names().join(",")
        )?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Runs the seed; shrinks and returns the failure when an invariant breaks.
pub fn run(seed: u64, config: Config) -> Result<Stats, Failure> {
    Sim::new(seed, config).run()
}

/// The shortest run that still fails like `failure`: the fewest steps (the run is a prefix of
/// the longer one, same seed), then each fault kind turned off while it still fails.
pub fn shrink(failure: Failure) -> Failure {
    let mut best = failure;
    let mut config = best.config;
    config.steps = best.step.min(config.steps);
    if let Err(f) = Sim::new(best.seed, config).run() {
        best = f;
    }
    for off in 0..6 {
        let mut c = best.config;
        let flag = match off {
            0 => &mut c.faults.byzantine,
            1 => &mut c.faults.crashes,
            2 => &mut c.faults.loss,
            3 => &mut c.faults.duplication,
            4 => &mut c.faults.clock_jumps,
            _ => &mut c.faults.reorder,
        };
        if !*flag {
            continue;
        }
        *flag = false;
        if let Err(f) = Sim::new(best.seed, c).run() {
            best = f;
        }
    }
    best
}

// ----- the world ---------------------------------------------------------------------------------

/// Why a request got no answer.
#[derive(Clone, Debug)]
enum Kind {
    /// A proposal of the sender's, collecting `version`: the answer goes to the core.
    Collect { version: u64, incarnation: u64 },
    /// A queued message (`seq` in the sender's outbox): delivered or refused removes it.
    Outbox { seq: u64 },
    /// Catching up: a `Latest` answer is kept.
    Sync { incarnation: u64 },
    /// Fire and forget (announcements, Byzantine traffic).
    Forget,
}

#[derive(Clone, Debug)]
enum Body {
    Request { envelope: Envelope, kind: Kind },
    Response { kind: Kind, result: Result<Reply, NodeError> },
}

#[derive(Clone, Debug)]
struct Packet {
    from: usize,
    to: usize,
    at: u64,
    body: Body,
}

#[derive(Clone, Debug)]
enum Timer {
    Announce { node: usize, incarnation: u64, full: SignedState },
    Restart { node: usize },
}

/// The judge and the escrow, as a model (see the crate docs).
#[derive(Clone, Debug)]
struct Judge {
    challenge: bool,
    final_: bool,
    version: u64,
    state: State,
    finalizes_at: u64,
    started_at: u64,
    deposits: Vec<U256>,
}

impl Judge {
    fn fully_signed(&self, terms: &Terms, domain: &Domain, s: &SignedState) -> bool {
        let d = domain.state_digest(&s.state);
        s.signatures.len() == terms.participants.len()
            && s.signatures.iter().zip(&terms.participants).all(|(g, p)| signer::verify(&d, &g.to_bytes(), *p).is_ok())
    }

    /// `checkpoint` (and `conclude` for a final state): only a newer fully signed state.
    fn checkpoint(&mut self, terms: &Terms, domain: &Domain, s: &SignedState, now: u64) -> Result<(), String> {
        self.tick(now);
        if self.final_ {
            return Err("ChannelFinal".into());
        }
        if !self.fully_signed(terms, domain, s) {
            return Err("InvalidSignature".into());
        }
        if s.state.version <= self.version && !s.state.isFinal {
            return Err(format!("StaleVersion({}, {})", self.version, s.state.version));
        }
        if s.state.version < self.version {
            return Err(format!("StaleVersion({}, {})", self.version, s.state.version));
        }
        self.version = s.state.version;
        self.state = s.state.clone();
        if s.state.isFinal {
            self.final_ = true;
            self.challenge = false;
        }
        Ok(())
    }

    /// `challenge`: from Open only, with a state at least as new.
    fn challenge(&mut self, terms: &Terms, domain: &Domain, s: &SignedState, now: u64) -> Result<(), String> {
        self.tick(now);
        if self.final_ || self.challenge {
            return Err("not open".into());
        }
        if !self.fully_signed(terms, domain, s) {
            return Err("InvalidSignature".into());
        }
        if s.state.version < self.version {
            return Err("StaleVersion".into());
        }
        self.version = s.state.version;
        self.state = s.state.clone();
        self.challenge = true;
        self.started_at = now;
        self.finalizes_at = now + WINDOW;
        Ok(())
    }

    /// A dispute whose deadline passed is final.
    fn tick(&mut self, now: u64) -> bool {
        if self.challenge && now >= self.finalizes_at {
            self.challenge = false;
            self.final_ = true;
            return true;
        }
        false
    }
}

struct Honest {
    key: SigningKey,
    address: Address,
    policy: Policy,
    store: MemStore,
    rounds: Rounds,
    up: bool,
    up_since: u64,
    incarnation: u64,
    /// The app's call waiting for this node's proposal (its version).
    waiting: Option<u64>,
    /// When each fully signed version was acknowledged here (an `updateSigned` event).
    acked: BTreeMap<u64, u64>,
}

struct Byzantine {
    key: SigningKey,
    address: Address,
    /// Fully signed states it holds.
    known: Vec<SignedState>,
    /// Proposals it saw (state, proposer).
    proposals: Vec<(State, usize)>,
    /// Envelopes it received, to replay.
    received: Vec<Envelope>,
}

enum Party {
    Honest(Box<Honest>),
    Byzantine(Box<Byzantine>),
}

/// The whole simulated world.
pub struct Sim {
    seed: u64,
    config: Config,
    rng: StdRng,
    domain: Domain,
    terms: Terms,
    peers: Vec<String>,
    channel: B256,
    parties: Vec<Party>,
    now: u64,
    step: usize,
    packets: Vec<Packet>,
    timers: Vec<(u64, Timer)>,
    judge: Judge,
    /// Every digest an honest node signed, per (node, version).
    signed: BTreeMap<(usize, u64), B256>,
    /// Every fully signed state seen anywhere, per version.
    full: BTreeMap<u64, State>,
    /// Every state an honest node signed, per (node, version) (the payment invariant).
    signed_states: BTreeMap<(usize, u64), State>,
    /// Proposal states seen, by digest.
    by_digest: BTreeMap<B256, State>,
    stats: Stats,
    trace: VecDeque<String>,
    violation: Option<String>,
}

/// How many trace lines a failure keeps.
const TRACE: usize = 60;

enum Stop {
    Crashed,
    Failed(NodeError),
}

impl From<NodeError> for Stop {
    fn from(e: NodeError) -> Self {
        Stop::Failed(e)
    }
}

#[derive(Default)]
struct Done {
    signature: Option<Signature>,
    full: Option<SignedState>,
}

fn key_of(seed: u64, i: usize) -> SigningKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[8] = i as u8 + 1;
    bytes[31] = 1;
    SigningKey::from_slice(&alloy_primitives::keccak256(bytes).0).expect("a valid key")
}

fn accounts(s: &State, n: usize) -> Option<Vec<Account>> {
    decode_accounts(&s.data, n)
}

impl Sim {
    /// A world of `config.nodes` participants sharing one open payment channel (version 0
    /// fully signed and held by every node, open on the judge).
    pub fn new(seed: u64, config: Config) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = config.nodes.clamp(2, 5);
        let byz = config.byzantine.min(n - 1);
        let domain = Domain::new(412_346, Address::repeat_byte(0x11));
        let keys: Vec<SigningKey> = (0..n).map(|i| key_of(seed, i)).collect();
        let addresses: Vec<Address> = keys.iter().map(|k| signer::address_of(k.verifying_key())).collect();
        let terms = Terms {
            participants: addresses.clone(),
            nonce: seed,
            challenge_duration: 86_400,
            executive: Address::ZERO,
        };
        let channel = domain.channel_id(&(&terms).into());
        let peers: Vec<String> = (0..n).map(|i| format!("sim://{i}")).collect();
        let v0 = State {
            channelId: channel,
            version: 0,
            data: encode_accounts(&vec![Account::default(); n]).into(),
            isFinal: false,
        };
        let d0 = domain.state_digest(&v0);
        let full0 = SignedState { state: v0.clone(), signatures: keys.iter().map(|k| signer::sign(k, &d0)).collect() };
        let mut parties = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            if i >= n - byz {
                parties.push(Party::Byzantine(Box::new(Byzantine {
                    key,
                    address: addresses[i],
                    known: vec![full0.clone()],
                    proposals: Vec::new(),
                    received: Vec::new(),
                })));
                continue;
            }
            let store = MemStore::new();
            let record = ChannelRecord {
                id: channel,
                terms: terms.clone(),
                peers: peers.clone(),
                me: i,
                proposer: 0,
                status: ChannelStatus::Open,
                reason: None,
                incoming: None,
                chain: Default::default(),
                created_at: 0,
            };
            store
                .commit(&[
                    Write::Channel(record),
                    Write::Signature { channel, version: 0, digest: d0, is_final: false },
                    Write::State(full0.clone()),
                ])
                .expect("a fresh store takes version 0");
            let auto_accept = rng.gen_bool(0.7);
            parties.push(Party::Honest(Box::new(Honest {
                key,
                address: addresses[i],
                policy: Policy { min_challenge_duration: 60, auto_accept },
                store,
                rounds: Rounds::default(),
                up: true,
                up_since: 0,
                incarnation: 0,
                waiting: None,
                acked: BTreeMap::from([(0, 0)]),
            })));
        }
        let judge = Judge {
            challenge: false,
            final_: false,
            version: 0,
            state: v0.clone(),
            finalizes_at: 0,
            started_at: 0,
            deposits: vec![U256::ZERO; n],
        };
        let config = Config { nodes: n, byzantine: byz, ..config };
        Self {
            seed,
            config,
            rng,
            domain,
            terms,
            peers,
            channel,
            parties,
            now: 0,
            step: 0,
            packets: Vec::new(),
            timers: Vec::new(),
            judge,
            signed: BTreeMap::new(),
            full: BTreeMap::from([(0, v0)]),
            signed_states: BTreeMap::new(),
            by_digest: BTreeMap::new(),
            stats: Stats::default(),
            trace: VecDeque::new(),
            violation: None,
        }
    }

    fn n(&self) -> usize {
        self.config.nodes
    }

    fn log(&mut self, line: String) {
        if std::env::var_os("AVOCADO_SIM_DEBUG").is_some() {
            eprintln!("#{} t={} {line}", self.step, self.now);
        }
        if self.trace.len() == TRACE {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("#{} t={} {line}", self.step, self.now));
    }

    fn violate(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(what);
        }
    }

    fn honest(&self, i: usize) -> Option<&Honest> {
        match &self.parties[i] {
            Party::Honest(h) => Some(h),
            Party::Byzantine(_) => None,
        }
    }

    fn honest_mut(&mut self, i: usize) -> Option<&mut Honest> {
        match &mut self.parties[i] {
            Party::Honest(h) => Some(h),
            Party::Byzantine(_) => None,
        }
    }

    fn failure(&self, invariant: String) -> Failure {
        Failure {
            seed: self.seed,
            config: self.config,
            step: self.step,
            invariant,
            trace: self.trace.iter().cloned().collect(),
        }
    }

    /// Runs the steps, then a quiet phase, checking the invariants after each.
    pub fn run(mut self) -> Result<Stats, Failure> {
        for _ in 0..self.config.steps {
            self.step += 1;
            self.one_step(true);
            self.check();
            if let Some(v) = self.violation.take() {
                return Err(self.failure(v));
            }
            if self.judge.final_ {
                break;
            }
        }
        self.quiet()?;
        self.stats.steps = self.step;
        self.stats.top_version = self.full.keys().next_back().copied().unwrap_or(0);
        Ok(self.stats)
    }

    /// No more faults: everyone restarts, every packet arrives, every outbox drains, every
    /// decision is made; then every honest proposal must have ended.
    fn quiet(&mut self) -> Result<(), Failure> {
        for i in 0..self.n() {
            if self.honest(i).is_some_and(|h| !h.up) {
                self.restart(i);
            }
        }
        let faults = self.config.faults;
        self.config.faults = Faults::NONE;
        for _ in 0..4_000 {
            self.step += 1;
            let busy = self.one_step(false);
            self.check();
            if let Some(v) = self.violation.take() {
                self.config.faults = faults;
                return Err(self.failure(v));
            }
            if !busy {
                break;
            }
        }
        self.config.faults = faults;
        for i in 0..self.n() {
            if let Some(h) = self.honest(i) {
                if let Some(v) = h.waiting {
                    // A proposal that waits only for Byzantine participants who answered
                    // "pending" and never decide stays pending: the app was told so (its call
                    // returns `Pending` after its wait) and nothing honest can end it.
                    let missing: Vec<usize> = h
                        .rounds
                        .collecting(self.channel)
                        .map(|p| {
                            p.signatures
                                .iter()
                                .enumerate()
                                .filter(|(j, s)| *j != i && s.is_none())
                                .map(|(j, _)| j)
                                .collect()
                        })
                        .unwrap_or_default();
                    if !missing.is_empty() && missing.iter().all(|j| self.honest(*j).is_none()) {
                        self.stats.pending_on_byzantine += 1;
                        continue;
                    }
                    let stage = Held::load(&h.store, self.channel, None).map(|held| held.stage(&h.rounds));
                    return Err(self.failure(format!(
                        "liveness: node {i}'s proposal for v{v} neither settled nor failed once everything was \
                         delivered ({stage:?})"
                    )));
                }
            }
        }
        Ok(())
    }

    /// One scheduler step; returns whether anything was left to do (the quiet phase ends when
    /// nothing is).
    fn one_step(&mut self, faulty: bool) -> bool {
        // Time moves.
        let jump = if faulty && self.config.faults.clock_jumps && self.rng.gen_bool(0.01) {
            self.rng.gen_range(1..=MAX_JUMP)
        } else {
            self.rng.gen_range(1..=20)
        };
        self.now += jump;
        if jump > 20 {
            self.log(format!("clock jumps {jump} ms"));
        }
        if self.judge.tick(self.now) {
            self.on_final();
        }
        self.watchtowers();
        let roll: u32 = self.rng.gen_range(0..100);
        let due_timer = self.timers.iter().position(|(at, _)| *at <= self.now);
        let ready: Vec<usize> = (0..self.packets.len())
            .filter(|i| !self.config.faults.reorder || self.packets[*i].at <= self.now)
            .collect();
        if faulty {
            match roll {
                0..=44 if !ready.is_empty() => {
                    let pick = ready[self.rng.gen_range(0..ready.len())];
                    self.deliver(pick)
                }
                45..=54 => self.app_action(),
                55..=59 => self.outboxes(),
                60 if self.config.faults.crashes => self.crash_someone(),
                63..=74 if self.config.faults.byzantine => self.byzantine_action(),
                _ => {
                    if let Some(t) = due_timer {
                        self.fire(t);
                    } else if let Some(&pick) = ready.first() {
                        self.deliver(pick);
                    }
                }
            }
            return true;
        }
        // Quiet: timers, packets in order, outboxes, decisions.
        if let Some(t) = due_timer {
            self.fire(t);
            return true;
        }
        if !self.timers.is_empty() {
            self.now = self.timers.iter().map(|(at, _)| *at).min().unwrap_or(self.now);
            return true;
        }
        if !self.packets.is_empty() {
            self.deliver(0);
            return true;
        }
        if self.outboxes_pending() {
            self.outboxes();
            return true;
        }
        self.decide_all()
    }

    // ----- invariants ------------------------------------------------------------------------

    /// Checks what must hold after every step.
    pub fn check(&mut self) {
        // Every fully signed state an honest node acknowledged is in its store.
        let mut lost = None;
        for (i, p) in self.parties.iter().enumerate() {
            if let Party::Honest(h) = p {
                for v in h.acked.keys() {
                    if h.store.signed_state(self.channel, *v).ok().flatten().is_none() {
                        lost = Some(format!("node {i} acknowledged v{v} fully signed but its store lost it"));
                    }
                }
            }
        }
        if let Some(l) = lost {
            self.violate(l);
        }
    }

    /// A signature an honest node made: one digest per (node, version).
    fn note_signed(&mut self, node: usize, version: u64, digest: B256) {
        match self.signed.get(&(node, version)) {
            Some(d) if *d != digest => {
                self.violate(format!("node {node} signed two digests for v{version}: {d} and {digest}"));
            }
            _ => {
                self.signed.insert((node, version), digest);
            }
        }
        if let Some(s) = self.by_digest.get(&digest).cloned() {
            self.signed_states.insert((node, version), s);
        }
    }

    /// A fully signed state seen anywhere: one per version.
    fn note_full(&mut self, s: &SignedState) {
        if !self.judge.fully_signed(&self.terms, &self.domain, s) {
            return;
        }
        match self.full.get(&s.state.version) {
            Some(other) if *other != s.state => {
                self.violate(format!("two different fully signed states for v{}", s.state.version));
            }
            _ => {
                self.full.insert(s.state.version, s.state.clone());
            }
        }
    }

    /// The judge's channel became final: disputes must have been answered, and every honest
    /// participant gets its due.
    fn on_final(&mut self) {
        let s = self.judge.state.clone();
        let n = self.n();
        self.stats.finalized += 1;
        self.log(format!("judge: final at v{}", s.version));
        let Some(final_a) = accounts(&s, n) else {
            self.violate(format!("the judge's final state v{} is not a payment state", s.version));
            return;
        };
        let margin = 2 * 20 + 2 * MAX_JUMP;
        for i in 0..n {
            let Some(h) = self.honest(i) else { continue };
            let watched = h.up && h.up_since <= self.judge.started_at;
            let by_dispute = self.judge.started_at > 0 && !s.isFinal;
            // A stale dispute: this node held a newer state well before the deadline and was up
            // the whole window.
            let newer_in_time = h.acked.iter().any(|(v, at)| *v > s.version && *at + margin <= self.judge.finalizes_at);
            if by_dispute && watched && newer_in_time {
                let v = h.acked.keys().next_back().copied().unwrap_or(0);
                self.violate(format!(
                    "node {i} held v{v} during the whole dispute but the channel ended at v{}",
                    s.version
                ));
                continue;
            }
            if by_dispute && !watched {
                continue; // down during the dispute: nothing promised
            }
            // The payment invariant: balance − counted in the final state is at least what the
            // node's latest state held, or what any state it signed since held.
            let latest = h.store.latest(self.channel).ok().flatten().map(|l| l.state);
            let Some(latest) = latest else { continue };
            let due = |st: &State| accounts(st, n).map(|a| (a[i].balance, a[i].counted));
            let mut floors = vec![due(&latest)];
            for ((node, v), st) in &self.signed_states {
                if *node == i && *v > latest.version {
                    floors.push(due(st));
                }
            }
            let got = (final_a[i].balance, final_a[i].counted);
            let ok = floors.iter().flatten().any(|(b, c)| got.0 + *c >= *b + got.1);
            if !ok {
                self.violate(format!(
                    "payment: node {i} gets balance {} counted {} at v{}, below what it was due at v{}",
                    got.0, got.1, s.version, latest.version
                ));
            }
        }
        let channel = self.channel;
        for i in 0..n {
            if let Some(h) = self.honest_mut(i) {
                if let Ok(Some(mut r)) = h.store.channel(channel) {
                    r.status = ChannelStatus::Closed;
                    let _ = h.store.commit(&[Write::Channel(r)]);
                }
            }
        }
    }

    // ----- the shell of an honest node -------------------------------------------------------

    fn ctx_parts(&self, i: usize) -> (SigningKey, Address, Policy) {
        let h = self.honest(i).expect("honest");
        (h.key.clone(), h.address, h.policy.clone())
    }

    /// Runs a step's effects in order, with crashes injected at persistence points.
    fn execute(&mut self, i: usize, effects: Vec<Effect>, answers_signed: bool) -> Result<Done, Stop> {
        if let Err(e) = protocol::check_order(&effects, answers_signed) {
            self.violate(format!("node {i}: effects out of order: {e}"));
        }
        let mut done = Done::default();
        let mut rest = effects.into_iter();
        while let Some(effect) = rest.next() {
            if let Err(stop) = self.effect(i, effect, &mut done) {
                if let Stop::Failed(e) = &stop {
                    for later in rest {
                        if let Effect::Finish { version, .. } = later {
                            self.finish(i, version, Err(e.clone()));
                        }
                    }
                }
                return Err(stop);
            }
        }
        Ok(done)
    }

    fn maybe_crash(&mut self, i: usize, when: &str) -> Result<(), Stop> {
        if self.config.faults.crashes && self.rng.gen_bool(0.005) {
            self.log(format!("node {i} crashes {when}"));
            self.crash(i);
            return Err(Stop::Crashed);
        }
        Ok(())
    }

    fn effect(&mut self, i: usize, effect: Effect, done: &mut Done) -> Result<(), Stop> {
        match effect {
            Effect::Persist(writes) => {
                self.maybe_crash(i, "before a commit")?;
                let h = self.honest(i).expect("honest");
                h.store.commit(&writes).map_err(NodeError::from)?;
                let key = h.key.clone();
                for w in &writes {
                    match w {
                        Write::Signature { version, digest, .. } => {
                            self.note_signed(i, *version, *digest);
                            done.signature = Some(signer::sign(&key, digest));
                        }
                        Write::State(s) => self.note_full(s),
                        Write::Channel(_) => {}
                    }
                }
                self.maybe_crash(i, "after a commit")?;
            }
            Effect::Complete(round) => {
                self.maybe_crash(i, "before completing")?;
                let h = self.honest(i).expect("honest");
                let digest = self.domain.state_digest(&round.state);
                let own = signer::sign(&h.key, &digest);
                let full = SignedState {
                    state: round.state.clone(),
                    signatures: round.signatures.iter().map(|s| s.unwrap_or(own)).collect(),
                };
                let (channel, version, is_final) = (full.state.channelId, full.state.version, full.state.isFinal);
                h.store
                    .commit(&[Write::Signature { channel, version, digest, is_final }, Write::State(full.clone())])
                    .map_err(NodeError::from)?;
                self.by_digest.insert(digest, round.state);
                self.note_signed(i, version, digest);
                self.note_full(&full);
                done.full = Some(full);
                self.maybe_crash(i, "after completing")?;
            }
            Effect::Enqueue { url, message } => self.enqueue(i, url, &message)?,
            Effect::EnqueueAccept { url, channel, version } => {
                let sig = done.signature.ok_or_else(|| NodeError::Store("no signature".into()))?;
                let signature: Bytes = sig.to_bytes().to_vec().into();
                let message = if version == 0 {
                    Message::AcceptChannel { channel_id: channel, signature }
                } else {
                    Message::AcceptUpdate { channel_id: channel, version, signature }
                };
                self.enqueue(i, url, &message)?;
            }
            Effect::Emit(event) => {
                if let Event::UpdateSigned { version, .. } = event {
                    let now = self.now;
                    self.honest_mut(i).expect("honest").acked.entry(version).or_insert(now);
                }
            }
            Effect::Finish { version, result, .. } => {
                let result = result.map(|()| done.full.clone());
                self.finish(i, version, result.map(|_| ()));
            }
            Effect::Announce(_) => {
                if let Some(full) = done.full.clone() {
                    let incarnation = self.honest(i).expect("honest").incarnation;
                    self.timers.push((self.now + ANNOUNCE_DELAY, Timer::Announce { node: i, incarnation, full }));
                }
            }
        }
        Ok(())
    }

    fn enqueue(&mut self, i: usize, url: String, message: &Message) -> Result<(), Stop> {
        let h = self.honest(i).expect("honest");
        let envelope = Envelope::seal(&h.key, &self.domain, message);
        h.store.enqueue(&Outgoing { url, envelope, enqueued_at: self.now }).map_err(NodeError::from)?;
        Ok(())
    }

    fn finish(&mut self, i: usize, version: u64, result: Result<(), NodeError>) {
        let h = self.honest_mut(i).expect("honest");
        if h.waiting == Some(version) {
            h.waiting = None;
            match &result {
                Ok(()) => self.stats.settled += 1,
                Err(_) => self.stats.failed += 1,
            }
            self.log(format!("node {i}: proposal v{version} ended: {result:?}"));
        }
    }

    fn run_step<A>(&mut self, i: usize, step: Step<A>, signed: bool) -> Result<(A, Done), Stop> {
        match step.answer {
            Ok(a) => {
                let done = self.execute(i, step.effects, signed)?;
                Ok((a, done))
            }
            Err(e) => {
                self.execute(i, step.effects, false)?;
                Err(Stop::Failed(e))
            }
        }
    }

    /// An honest node handles a peer message, as the node's `handle` does.
    fn handle(&mut self, i: usize, from: Address, message: Message) -> Result<Reply, Stop> {
        let (key, address, policy) = self.ctx_parts(i);
        let domain = self.domain;
        let peer_url = self.peers[i].clone();
        let ctx = Ctx { domain: &domain, key: &key, address, peer_url: &peer_url, policy: &policy };
        let step: Step<Answer> = match message {
            Message::ProposeChannel { terms, peers, data } => {
                let p = protocol::check_channel_proposal(&ctx, from, terms, peers, data)?;
                let h = self.honest(i).expect("honest");
                let existing = match h.store.channel(p.id).map_err(NodeError::from)? {
                    Some(_) => Some(Held::load(&h.store, p.id, Some(0))?),
                    // Strangers' proposals are bounded by the node; the simulation keeps one
                    // channel and refuses others.
                    None => return Err(NodeError::Busy("one channel in this simulation".into()).into()),
                };
                protocol::on_propose_channel(&ctx, self.now, p, existing.as_ref())
            }
            Message::ProposeUpdate { state, base } => {
                let h = self.honest(i).expect("honest");
                let record = Held::load(&h.store, state.channel_id, None)?.record;
                let proposer = rules::participant(&record, from)?;
                let state: State = (&state).into();
                let base: SignedState =
                    (&base).try_into().map_err(|e| NodeError::Invalid(format!("malformed base signature: {e}")))?;
                protocol::check_builds_on_base(&state, &base.state)?;
                self.check_payment(Some(&base.state), &state, proposer)?;
                self.by_digest.insert(self.domain.state_digest(&state), state.clone());
                let h = self.honest_mut(i).expect("honest");
                let held = Held::load(&h.store, record.id, Some(state.version))?;
                protocol::on_propose_update(&ctx, &mut h.rounds, &held, proposer, from, state, base)
            }
            Message::AcceptChannel { channel_id, signature } => {
                self.accept(i, &ctx, from, channel_id, 0, &signature)?
            }
            Message::AcceptUpdate { channel_id, version, signature } => {
                self.accept(i, &ctx, from, channel_id, version, &signature)?
            }
            Message::RejectChannel { channel_id, digest, reason } => {
                self.reject(i, &ctx, from, channel_id, 0, digest, reason)?
            }
            Message::RejectUpdate { channel_id, version, digest, reason } => {
                self.reject(i, &ctx, from, channel_id, version, digest, reason)?
            }
            Message::Signed { signed } => {
                let h = self.honest(i).expect("honest");
                let record = Held::load(&h.store, signed.state.channel_id, None)?.record;
                rules::participant(&record, from)?;
                let signed: SignedState =
                    (&signed).try_into().map_err(|e| NodeError::Invalid(format!("malformed signature: {e}")))?;
                let held = Held::load(&h.store, record.id, Some(signed.state.version))?;
                protocol::on_signed(&ctx, &held, signed)
            }
            Message::Sync { channel_id } => {
                let h = self.honest(i).expect("honest");
                let held = Held::load(&h.store, channel_id, None)?;
                rules::participant(&held.record, from)?;
                protocol::on_sync(&held)
            }
        };
        let signed = matches!(step.answer, Ok(Answer::Signed));
        let (answer, done) = self.run_step(i, step, signed)?;
        Ok(match answer {
            Answer::Signed => {
                Reply::Signed { signature: done.signature.expect("checked order").to_bytes().to_vec().into() }
            }
            Answer::Pending => Reply::Pending,
            Answer::Ok => Reply::Ok,
            Answer::Latest(s) => Reply::Latest { signed: (&s).into() },
        })
    }

    fn accept(
        &mut self,
        i: usize,
        ctx: &Ctx<'_>,
        from: Address,
        channel: B256,
        version: u64,
        signature: &[u8],
    ) -> Result<Step<Answer>, Stop> {
        let h = self.honest_mut(i).expect("honest");
        let held = Held::load(&h.store, channel, Some(version))?;
        let who = rules::participant(&held.record, from)?;
        let sig = Signature::parse(signature).map_err(|e| NodeError::Invalid(format!("malformed signature: {e}")))?;
        Ok(protocol::on_signature(ctx, &mut h.rounds, &held, who, version, sig))
    }

    #[allow(clippy::too_many_arguments)]
    fn reject(
        &mut self,
        i: usize,
        ctx: &Ctx<'_>,
        from: Address,
        channel: B256,
        version: u64,
        digest: B256,
        reason: String,
    ) -> Result<Step<Answer>, Stop> {
        let h = self.honest_mut(i).expect("honest");
        let held = Held::load(&h.store, channel, None)?;
        rules::participant(&held.record, from)?;
        Ok(protocol::on_reject(ctx, &mut h.rounds, &held, from, version, digest, reason))
    }

    /// The payment rules, with the judge model's deposits.
    fn check_payment(&self, old: Option<&State>, new: &State, proposer: usize) -> Result<(), NodeError> {
        for (p, counted) in protocol::payment::raised_counts(self.n(), old, new, proposer)? {
            protocol::payment::check_deposit(p, counted, self.judge.deposits[p])?;
        }
        Ok(())
    }

    // ----- scheduler events ------------------------------------------------------------------

    fn send(&mut self, from: usize, to: usize, envelope: Envelope, kind: Kind) {
        self.stats.packets += 1;
        let at = self.now + if self.config.faults.reorder { self.rng.gen_range(0..=MAX_DELAY) } else { 0 };
        self.packets.push(Packet { from, to, at, body: Body::Request { envelope, kind } });
    }

    fn respond(&mut self, from: usize, to: usize, kind: Kind, result: Result<Reply, NodeError>) {
        let at = self.now + if self.config.faults.reorder { self.rng.gen_range(0..=MAX_DELAY) } else { 0 };
        self.packets.push(Packet { from, to, at, body: Body::Response { kind, result } });
    }

    fn deliver(&mut self, index: usize) {
        let packet = self.packets.remove(index);
        let lost = self.config.faults.loss && self.rng.gen_bool(0.02);
        match packet.body {
            Body::Request { envelope, kind, .. } => {
                if lost {
                    self.log(format!("lost request {}→{}", packet.from, packet.to));
                    self.respond(packet.to, packet.from, kind, Err(NodeError::Unreachable("lost".into())));
                    return;
                }
                let twice = self.config.faults.duplication && self.rng.gen_bool(0.05);
                let result = self.receive(packet.to, &envelope);
                if twice {
                    let again = self.receive(packet.to, &envelope);
                    self.log(format!("duplicated {}→{}: {again:?}", packet.from, packet.to));
                }
                let result = match result {
                    Some(r) => r,
                    None => Err(NodeError::Unreachable("down".into())),
                };
                self.respond(packet.to, packet.from, kind, result);
            }
            Body::Response { kind, result, .. } => {
                let result = if lost { Err(NodeError::Unreachable("answer lost".into())) } else { result };
                self.on_response(packet.to, packet.from, kind, result);
            }
        }
    }

    /// A request reaches node `to`: `None` when it is down (or crashed handling it).
    fn receive(&mut self, to: usize, envelope: &Envelope) -> Option<Result<Reply, NodeError>> {
        let (from, message) = match open(&self.domain, envelope.body.as_bytes(), Some(&envelope.signature)) {
            Ok(m) => m,
            Err(e) => return Some(Err(NodeError::BadRequest(e.to_string()))),
        };
        let sender = self.terms.participants.iter().position(|p| *p == from).map_or("?".into(), |i| i.to_string());
        let what = format!("{} from {sender}", describe(&message));
        if matches!(self.parties[to], Party::Byzantine(_)) {
            return Some(self.byzantine_receive(to, from, envelope, message));
        }
        if !self.honest(to).is_some_and(|h| h.up) {
            return None;
        }
        match self.handle(to, from, message) {
            Ok(reply) => {
                let inc = self.honest(to).and_then(|h| h.store.channel(self.channel).ok().flatten()?.incoming);
                let held =
                    self.honest(to).and_then(|h| h.store.latest(self.channel).ok().flatten()).map(|l| l.state.version);
                self.log(format!(
                    "node {to} took {what}: {} (waiting here: {:?}, latest v{held:?})",
                    short(&reply),
                    inc.map(|i| (i.from, i.state.version))
                ));
                Some(Ok(reply))
            }
            Err(Stop::Failed(e)) => {
                self.stats.refused += 1;
                self.log(format!("node {to} refused {what}: {e}"));
                // What crosses the wire is the status and the message.
                Some(Err(NodeError::from_status(e.status(), e.to_string())))
            }
            Err(Stop::Crashed) => None,
        }
    }

    /// A Byzantine participant keeps what it receives and answers proposals as it likes: signs,
    /// waits, or refuses.
    fn byzantine_receive(
        &mut self,
        to: usize,
        from: Address,
        envelope: &Envelope,
        message: Message,
    ) -> Result<Reply, NodeError> {
        let known = match &message {
            Message::ProposeUpdate { base, .. } => SignedState::try_from(base).ok(),
            Message::Signed { signed } => SignedState::try_from(signed).ok(),
            _ => None,
        };
        if let Some(s) = &known {
            self.note_full(s);
        }
        let proposer = self.terms.participants.iter().position(|p| *p == from).unwrap_or(0);
        let proposed: Option<State> = match &message {
            Message::ProposeUpdate { state, .. } => Some(state.into()),
            _ => None,
        };
        let answer: u32 = self.rng.gen_range(0..3);
        let domain = self.domain;
        let Party::Byzantine(b) = &mut self.parties[to] else { unreachable!("checked by the caller") };
        b.received.push(envelope.clone());
        b.known.extend(known);
        let Some(state) = proposed else { return Ok(Reply::Ok) };
        b.proposals.push((state.clone(), proposer));
        match answer {
            0 => Ok(Reply::Signed {
                signature: signer::sign(&b.key, &domain.state_digest(&state)).to_bytes().to_vec().into(),
            }),
            1 => Ok(Reply::Pending),
            _ => Err(NodeError::Conflict("no".into())),
        }
    }

    fn on_response(&mut self, to: usize, peer: usize, kind: Kind, result: Result<Reply, NodeError>) {
        let channel = self.channel;
        let Some(h) = self.honest(to) else { return };
        if !h.up {
            return;
        }
        let incarnation = h.incarnation;
        match kind {
            Kind::Collect { version, incarnation: inc } if inc == incarnation => {
                let (key, address, policy) = self.ctx_parts(to);
                let domain = self.domain;
                let peer_url = self.peers[to].clone();
                let ctx = Ctx { domain: &domain, key: &key, address, peer_url: &peer_url, policy: &policy };
                let h = self.honest_mut(to).expect("honest");
                let effects = match Held::load(&h.store, channel, Some(version)) {
                    Ok(held) => protocol::on_reply(&ctx, &mut h.rounds, &held, peer, version, result),
                    Err(e) => protocol::abandon(&mut h.rounds, channel, version, e),
                };
                let _ = self.execute(to, effects, false);
            }
            Kind::Outbox { seq } => {
                let settled = match &result {
                    Ok(_) => true,
                    Err(e) => e.is_refusal(),
                };
                if settled {
                    let _ = self.honest(to).expect("honest").store.delivered(seq);
                }
            }
            Kind::Sync { incarnation: inc } if inc == incarnation => {
                if let Ok(Reply::Latest { signed }) = result {
                    if let Ok(signed) = SignedState::try_from(&signed) {
                        let (key, address, policy) = self.ctx_parts(to);
                        let domain = self.domain;
                        let peer_url = self.peers[to].clone();
                        let ctx = Ctx { domain: &domain, key: &key, address, peer_url: &peer_url, policy: &policy };
                        let h = self.honest(to).expect("honest");
                        if let Ok(held) = Held::load(&h.store, channel, Some(signed.state.version)) {
                            let step = protocol::on_signed(&ctx, &held, signed);
                            let _ = self.run_step(to, step, false);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn fire(&mut self, index: usize) {
        let (_, timer) = self.timers.remove(index);
        match timer {
            Timer::Announce { node, incarnation, full } => {
                let Some(h) = self.honest(node) else { return };
                if !h.up || h.incarnation != incarnation {
                    return;
                }
                let latest = h.store.latest(self.channel).ok().flatten().map(|l| l.state.version);
                if !protocol::announce_needed(&h.rounds, self.channel, latest, full.state.version) {
                    return;
                }
                let envelope = Envelope::seal(&h.key, &self.domain, &Message::Signed { signed: (&full).into() });
                for to in 0..self.n() {
                    if to != node {
                        self.send(node, to, envelope.clone(), Kind::Forget);
                    }
                }
            }
            Timer::Restart { node } => self.restart(node),
        }
    }

    fn crash(&mut self, i: usize) {
        self.stats.crashes += 1;
        let h = self.honest_mut(i).expect("honest");
        h.up = false;
        h.incarnation += 1;
        h.rounds = Rounds::default();
        // The app's call dies with the process: it is told (its connection drops).
        let was = h.waiting.take();
        if was.is_some() {
            self.stats.failed += 1;
        }
        let at = self.now + self.rng.gen_range(50..5_000);
        self.timers.push((at, Timer::Restart { node: i }));
    }

    fn crash_someone(&mut self) {
        let up: Vec<usize> = (0..self.n()).filter(|i| self.honest(*i).is_some_and(|h| h.up)).collect();
        if up.is_empty() {
            return;
        }
        let i = up[self.rng.gen_range(0..up.len())];
        self.log(format!("node {i} crashes"));
        self.crash(i);
    }

    /// A restarted node asks every other participant for its latest state.
    fn restart(&mut self, i: usize) {
        let now = self.now;
        let channel = self.channel;
        let domain = self.domain;
        let h = self.honest_mut(i).expect("honest");
        if h.up {
            return;
        }
        h.up = true;
        h.up_since = now;
        let incarnation = h.incarnation;
        let envelope = Envelope::seal(&h.key, &domain, &Message::Sync { channel_id: channel });
        self.log(format!("node {i} restarts"));
        for to in 0..self.n() {
            if to != i {
                self.send(i, to, envelope.clone(), Kind::Sync { incarnation });
            }
        }
    }

    fn outboxes_pending(&self) -> bool {
        (0..self.n()).any(|i| self.honest(i).is_some_and(|h| h.up && !h.store.outbox().unwrap_or_default().is_empty()))
    }

    /// Every up node tries its oldest queued message.
    fn outboxes(&mut self) {
        for i in 0..self.n() {
            let Some(h) = self.honest(i) else { continue };
            if !h.up {
                continue;
            }
            let queued = h.store.outbox().unwrap_or_default();
            let inflight: BTreeSet<u64> = self
                .packets
                .iter()
                .filter_map(|p| match &p.body {
                    Body::Request { kind: Kind::Outbox { seq }, .. } if p.from == i => Some(*seq),
                    Body::Response { kind: Kind::Outbox { seq }, .. } if p.to == i => Some(*seq),
                    _ => None,
                })
                .collect();
            if let Some((seq, out)) = queued.into_iter().find(|(s, _)| !inflight.contains(s)) {
                let to = self.peers.iter().position(|u| *u == out.url).unwrap_or(0);
                self.log(format!("node {i} sends queued message {seq} to node {to}"));
                self.send(i, to, out.envelope, Kind::Outbox { seq });
            }
        }
    }

    /// Honest nodes that decide by hand decide what waits.
    fn decide_all(&mut self) -> bool {
        let mut any = false;
        for i in 0..self.n() {
            let waiting = self.honest(i).and_then(|h| {
                let r = h.store.channel(self.channel).ok().flatten()?;
                (h.up && r.status == ChannelStatus::Open).then_some(r.incoming?)
            });
            if let Some(inc) = waiting {
                self.decide(i, inc.state.version, true);
                any = true;
            }
        }
        any
    }

    fn decide(&mut self, i: usize, version: u64, accept: bool) {
        let (key, address, policy) = self.ctx_parts(i);
        let domain = self.domain;
        let peer_url = self.peers[i].clone();
        let ctx = Ctx { domain: &domain, key: &key, address, peer_url: &peer_url, policy: &policy };
        let h = self.honest(i).expect("honest");
        let Ok(held) = Held::load(&h.store, self.channel, None) else { return };
        if accept {
            if let (Some(inc), Some(latest)) = (&held.record.incoming, &held.latest) {
                if let Err(e) = self.check_payment(Some(&latest.state), &(&inc.state).into(), inc.from) {
                    self.log(format!("node {i} cannot accept v{version}: {e}"));
                    let step = protocol::decide_update(&ctx, &held, version, false, e.to_string());
                    let _ = self.run_step(i, step, false);
                    return;
                }
            }
        }
        let step = protocol::decide_update(&ctx, &held, version, accept, "decided in the simulation".into());
        let result = self.run_step(i, step, false).map(|_| ());
        self.log(format!("node {i} decides v{version} {}: {}", if accept { "yes" } else { "no" }, ok_or(&result)));
    }

    /// An honest node's app does something: pays, counts a deposit, deposits, decides, closes.
    fn app_action(&mut self) {
        let honest: Vec<usize> = (0..self.n()).filter(|i| self.honest(*i).is_some_and(|h| h.up)).collect();
        if honest.is_empty() {
            return;
        }
        let i = honest[self.rng.gen_range(0..honest.len())];
        let roll: u32 = self.rng.gen_range(0..100);
        let channel = self.channel;
        let n = self.n();
        if roll < 10 {
            let amount = U256::from(self.rng.gen_range(1..1_000u64));
            self.judge.deposits[i] += amount;
            self.log(format!("node {i} deposits {amount}"));
            return;
        }
        if roll < 25 {
            let inc = self.honest(i).and_then(|h| h.store.channel(channel).ok().flatten()?.incoming);
            if let Some(inc) = inc {
                let accept = self.rng.gen_bool(0.8);
                self.decide(i, inc.state.version, accept);
            }
            return;
        }
        let h = self.honest(i).expect("honest");
        if h.waiting.is_some() {
            return;
        }
        let held = match Held::load(&h.store, channel, None) {
            Ok(h) => h,
            Err(_) => return,
        };
        // Catching up first, as the node does before proposing.
        if rules::is_behind(held.highest_signed, held.latest.as_ref().map(|l| l.state.version)) {
            let envelope = Envelope::seal(&h.key, &self.domain, &Message::Sync { channel_id: channel });
            let incarnation = h.incarnation;
            for to in 0..n {
                if to != i {
                    self.send(i, to, envelope.clone(), Kind::Sync { incarnation });
                }
            }
            return;
        }
        let Some(latest) = held.latest.clone() else { return };
        let Some(mut a) = accounts(&latest.state, n) else { return };
        let is_final = roll >= 99;
        if !is_final {
            if a[i].counted < self.judge.deposits[i] && self.rng.gen_bool(0.5) {
                let newly = self.judge.deposits[i] - a[i].counted;
                a[i].balance += newly;
                a[i].counted = self.judge.deposits[i];
            } else if a[i].balance > U256::ZERO {
                let to = (i + self.rng.gen_range(1..n)) % n;
                let amount = U256::from(self.rng.gen_range(1..=a[i].balance.to::<u64>().clamp(1, 1_000)));
                let amount = amount.min(a[i].balance);
                a[i].balance -= amount;
                a[to].balance += amount;
            }
        }
        let data: Bytes = encode_accounts(&a).into();
        let next =
            State { channelId: channel, version: latest.state.version + 1, data: data.clone(), isFinal: is_final };
        if self.check_payment(Some(&latest.state), &next, i).is_err() {
            return;
        }
        let (key, address, policy) = self.ctx_parts(i);
        let domain = self.domain;
        let peer_url = self.peers[i].clone();
        let ctx = Ctx { domain: &domain, key: &key, address, peer_url: &peer_url, policy: &policy };
        let h = self.honest_mut(i).expect("honest");
        let step = protocol::start_update(&ctx, &mut h.rounds, &held, data, is_final);
        let Ok(((state, base), _)) = self.run_step(i, step, false) else { return };
        self.stats.proposals += 1;
        self.by_digest.insert(self.domain.state_digest(&state), state.clone());
        let h = self.honest_mut(i).expect("honest");
        h.waiting = Some(state.version);
        let incarnation = h.incarnation;
        let envelope =
            Envelope::seal(&h.key, &domain, &Message::ProposeUpdate { state: (&state).into(), base: (&base).into() });
        self.log(format!("node {i} proposes v{}{}", state.version, if is_final { " (final)" } else { "" }));
        for to in 0..n {
            if to != i {
                self.send(i, to, envelope.clone(), Kind::Collect { version: state.version, incarnation });
            }
        }
    }

    /// Every up honest node's watchtower: answers a stale dispute (participant `i` after `i`
    /// steps' worth of stagger, at once near the deadline), and concludes a final state it holds.
    fn watchtowers(&mut self) {
        for i in 0..self.n() {
            let Some(h) = self.honest(i) else { continue };
            if !h.up || self.judge.final_ {
                continue;
            }
            let Some(latest) = h.store.latest(self.channel).ok().flatten() else { continue };
            let stagger = 200 * i as u64;
            let mine = self.now >= self.judge.started_at + stagger
                || self.judge.finalizes_at.saturating_sub(self.now) < WINDOW / 4;
            let answer = rules::must_answer(
                self.judge.challenge,
                self.judge.version,
                self.judge.finalizes_at,
                self.now,
                Some(latest.state.version),
            );
            if (answer && mine) || (latest.state.isFinal && latest.state.version > self.judge.version) {
                let (terms, domain, now) = (self.terms.clone(), self.domain, self.now);
                match self.judge.checkpoint(&terms, &domain, &latest, now) {
                    Ok(()) => {
                        if answer {
                            self.stats.answered += 1;
                        }
                        self.log(format!("node {i} posts v{} on chain", latest.state.version));
                        if self.judge.final_ {
                            self.on_final();
                            return;
                        }
                    }
                    Err(e) => self.log(format!("node {i}: the judge refused v{}: {e}", latest.state.version)),
                }
            }
        }
    }

    // ----- Byzantine participants ------------------------------------------------------------

    fn byzantine_action(&mut self) {
        let byz: Vec<usize> = (0..self.n()).filter(|i| matches!(self.parties[*i], Party::Byzantine(_))).collect();
        if byz.is_empty() {
            return;
        }
        let b = byz[self.rng.gen_range(0..byz.len())];
        let n = self.n();
        let target = (b + self.rng.gen_range(1..n)) % n;
        let Party::Byzantine(me) = &self.parties[b] else { return };
        let (key, address) = (me.key.clone(), me.address);
        let known = me.known.clone();
        let proposals = me.proposals.clone();
        let received = me.received.clone();
        let newest = known.iter().max_by_key(|s| s.state.version).cloned().expect("version 0");
        let oldest = known.iter().min_by_key(|s| s.state.version).cloned().expect("version 0");
        let roll: u32 = self.rng.gen_range(0..100);
        let message = match roll {
            // A proposal that takes from the others (or garbage data), on a base it holds.
            0..=24 => {
                let mut a = accounts(&newest.state, n).unwrap_or_else(|| vec![Account::default(); n]);
                let victim = (b + 1) % n;
                let take = a[victim].balance.min(U256::from(self.rng.gen_range(1..500u64)));
                a[victim].balance -= take;
                a[b].balance += take;
                if self.rng.gen_bool(0.3) {
                    a[b].counted += U256::from(1_000_000u64); // counts money it never deposited
                    a[b].balance += U256::from(1_000_000u64);
                }
                let data: Bytes =
                    if self.rng.gen_bool(0.1) { Bytes::from_static(b"garbage") } else { encode_accounts(&a).into() };
                let version = newest.state.version + self.rng.gen_range(1..4);
                let base = if self.rng.gen_bool(0.8) { newest.clone() } else { oldest.clone() };
                let state = State { channelId: self.channel, version, data, isFinal: self.rng.gen_bool(0.2) };
                // It signs its own proposal (and may sign another one for the same version later).
                self.by_digest.insert(self.domain.state_digest(&state), state.clone());
                Message::ProposeUpdate { state: (&state).into(), base: (&base).into() }
            }
            // Signatures: of a proposal it saw (valid), of something else, or garbage.
            25..=44 => {
                let (version, digest) = match proposals.last() {
                    Some((s, _)) if self.rng.gen_bool(0.6) => (s.version, self.domain.state_digest(s)),
                    _ => (newest.state.version + 1, B256::repeat_byte(self.rng.gen())),
                };
                let signature: Bytes = signer::sign(&key, &digest).to_bytes().to_vec().into();
                Message::AcceptUpdate { channel_id: self.channel, version, signature }
            }
            // Rejections: the right digest of a proposal it saw, or a wrong one.
            45..=59 => {
                let (version, digest) = match proposals.last() {
                    Some((s, _)) if self.rng.gen_bool(0.5) => (s.version, self.domain.state_digest(s)),
                    Some((s, _)) => (s.version, B256::repeat_byte(self.rng.gen())),
                    None => (newest.state.version + 1, B256::ZERO),
                };
                Message::RejectUpdate { channel_id: self.channel, version, digest, reason: "byzantine".into() }
            }
            // A fully signed state with one signature forged.
            60..=69 => {
                let mut forged = newest.clone();
                forged.state.version += 1;
                forged.state.data = Bytes::from_static(b"forged");
                let d = self.domain.state_digest(&forged.state);
                for s in forged.signatures.iter_mut() {
                    *s = signer::sign(&key, &d);
                }
                Message::Signed { signed: (&forged).into() }
            }
            // A replay of something it received, to someone else.
            70..=84 if !received.is_empty() => {
                let env = received[self.rng.gen_range(0..received.len())].clone();
                self.log(format!("byzantine {b} replays a message to node {target}"));
                self.send(b, target, env, Kind::Forget);
                return;
            }
            // A dispute with the oldest state it holds.
            85..=89 => {
                let (terms, domain, now) = (self.terms.clone(), self.domain, self.now);
                if self.judge.challenge(&terms, &domain, &oldest, now).is_ok() {
                    self.stats.disputes += 1;
                    self.log(format!("byzantine {b} starts a dispute with v{}", oldest.state.version));
                }
                return;
            }
            _ => Message::Sync { channel_id: self.channel },
        };
        let what = describe(&message);
        self.log(format!("byzantine {b} sends {what} to node {target}"));
        let envelope = Envelope::seal(&key, &self.domain, &message);
        let _ = address;
        self.send(b, target, envelope, Kind::Forget);
    }
}

fn describe(m: &Message) -> String {
    match m {
        Message::ProposeChannel { .. } => "proposeChannel".into(),
        Message::AcceptChannel { .. } => "acceptChannel".into(),
        Message::RejectChannel { .. } => "rejectChannel".into(),
        Message::ProposeUpdate { state, base } => {
            format!(
                "proposeUpdate v{}{} on v{}",
                state.version,
                if state.is_final { " final" } else { "" },
                base.state.version
            )
        }
        Message::AcceptUpdate { version, .. } => format!("acceptUpdate v{version}"),
        Message::RejectUpdate { version, .. } => format!("rejectUpdate v{version}"),
        Message::Signed { signed } => format!("signed v{}", signed.state.version),
        Message::Sync { .. } => "sync".into(),
    }
}

fn short(r: &Reply) -> &'static str {
    match r {
        Reply::Signed { .. } => "signed",
        Reply::Pending => "pending",
        Reply::Ok => "ok",
        Reply::Latest { .. } => "latest",
    }
}

fn ok_or<T>(r: &Result<T, Stop>) -> String {
    match r {
        Ok(_) => "done".into(),
        Err(Stop::Crashed) => "crashed".into(),
        Err(Stop::Failed(e)) => format!("refused: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checker is not blind: a node signing two digests for one version, two different
    /// fully signed states for one version, and an acknowledged state missing from a store are
    /// each reported.
    #[test]
    fn the_invariants_catch_what_they_guard() {
        let mut sim = Sim::new(1, Config { nodes: 3, byzantine: 0, steps: 0, faults: Faults::ALL });
        sim.note_signed(0, 4, B256::repeat_byte(1));
        sim.note_signed(0, 4, B256::repeat_byte(1));
        assert!(sim.violation.is_none(), "the same digest again is a retry");
        sim.note_signed(0, 4, B256::repeat_byte(2));
        assert!(sim.violation.take().unwrap().contains("signed two digests for v4"));

        let keys: Vec<SigningKey> = (0..3).map(|i| key_of(1, i)).collect();
        let (channel, domain) = (sim.channel, sim.domain);
        let full = |data: &'static [u8]| {
            let state = State { channelId: channel, version: 5, data: Bytes::from_static(data), isFinal: false };
            let d = domain.state_digest(&state);
            SignedState { signatures: keys.iter().map(|k| signer::sign(k, &d)).collect(), state }
        };
        sim.note_full(&full(b"a"));
        assert!(sim.violation.is_none());
        sim.note_full(&full(b"b"));
        assert!(sim.violation.take().unwrap().contains("two different fully signed states for v5"));

        if let Party::Honest(h) = &mut sim.parties[1] {
            h.acked.insert(9, 0);
        }
        sim.check();
        assert!(sim.violation.take().unwrap().contains("node 1 acknowledged v9"));
    }

    /// A dispute over an old state is answered by an honest watchtower before its deadline.
    #[test]
    fn a_stale_dispute_is_answered() {
        let mut sim = Sim::new(2, Config { nodes: 2, byzantine: 1, steps: 0, faults: Faults::ALL });
        // Node 0 holds v1, fully signed by both.
        let keys: Vec<SigningKey> = (0..2).map(|i| key_of(2, i)).collect();
        let state = State {
            channelId: sim.channel,
            version: 1,
            data: encode_accounts(&[Account::default(); 2]).into(),
            isFinal: false,
        };
        let d = sim.domain.state_digest(&state);
        let v1 = SignedState { signatures: keys.iter().map(|k| signer::sign(k, &d)).collect(), state };
        let Party::Honest(h) = &sim.parties[0] else { panic!() };
        h.store.commit(&[Write::State(v1)]).unwrap();
        let Party::Byzantine(b) = &sim.parties[1] else { panic!() };
        let v0 = b.known[0].clone();
        let (terms, domain) = (sim.terms.clone(), sim.domain);
        sim.judge.challenge(&terms, &domain, &v0, 10).unwrap();
        sim.now = 20;
        sim.watchtowers();
        assert_eq!((sim.judge.version, sim.judge.challenge), (1, true));
        assert_eq!(sim.stats.answered, 1);
    }
}
