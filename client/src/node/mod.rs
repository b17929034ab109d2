//! The node: the shell around the protocol core ([`crate::protocol`]).
//!
//! The rules — who may propose what, when this node signs, how proposals settle, concurrent
//! proposals, payments, final states — are the core's, as pure steps. This module only loads
//! what a step reads ([`Held`]) under the node's lock, calls the step, and executes its effects
//! in order ([`Node::execute`]): durable writes, then the signature (made only from a digest a
//! committed write recorded), then what leaves the process. It also does what takes time:
//! sending proposals and waiting for answers, catching up, reading deposits, the chain.
//!
//! The exchange (see the protocol's design): any participant may propose; the proposer collects
//! every other signature, signs last, stores the fully signed state and sends it to everyone.
//! Each update names the fully signed state it builds on (its *base*), so a participant that
//! missed the previous round catches up from the proposal itself, and nobody signs an update
//! built on a state older than one it already signed for. Two proposals for the same version
//! resolve deterministically: the lower participant index wins and the other proposal fails
//! with a conflict its proposer can retry.
//!
//! Transports live elsewhere: [`peer`] (HTTP between nodes), [`app`] (the local API) and
//! [`pay_api`] (its payment routes), [`watch`] (the watchtower).

pub mod app;
mod bounds;
mod outbox;
pub mod pay_api;
pub mod peer;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::SolCall;
use avocado_codec::{signer, Domain, IAvocadoJudge as I, Signature, State};
use k256::ecdsa::SigningKey;
use tokio::sync::{broadcast, watch as tokio_watch, Mutex, Notify};

pub use crate::error::NodeError;
pub use crate::protocol::{Event, Policy, Reply, MAX_VERSION_GAP};
pub use bounds::Bounds;
pub use outbox::SEND_TIMEOUT;
pub use peer::{HttpTransport, Transport};

use crate::chain::{ChainClient, TxReceipt};
use crate::message::{Envelope, Message, SignedJson, StateJson, Terms};
use crate::protocol::{self, rules, Answer, Ctx, Effect, Held, Step};
use crate::signed::SignedState;
use crate::store::{unix_now, ChannelRecord, ChannelStatus, Store, Write};

/// How long a proposer waits before sending a fully signed state on its own (a newer proposal
/// in the meantime carries it as its base).
const SIGNED_DELAY: Duration = Duration::from_millis(100);

/// How many channels a restarted node catches up on at once.
pub const SYNC_CONCURRENCY: usize = 16;

/// How long catching up after a restart waits for one peer: a peer that does not answer soon is
/// asked again by the next proposal (its base) or the next `Sync`, not waited for.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(3);

/// How the node is set up.
pub struct NodeConfig {
    /// The participant key.
    pub key: SigningKey,
    /// The judge's EIP-712 domain.
    pub domain: Domain,
    /// This node's peer API URL, as other participants reach it.
    pub peer_url: String,
    /// What it agrees to.
    pub policy: Policy,
    /// How long a proposal keeps retrying an unreachable peer.
    pub peer_timeout: Duration,
    /// The payment escrow: channels naming it as executive follow the payment rules.
    pub escrow: Option<Address>,
    /// How the watchtower reads the chain.
    pub watch: watch::WatchConfig,
    /// What it takes from strangers, and how much it queues for peers.
    pub bounds: Bounds,
}

/// How a proposal ended, as far as the caller waited.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Fully signed and stored.
    Signed(SignedState),
    /// Some participants have not decided yet.
    Pending {
        /// The proposed version.
        version: u64,
    },
}

/// The result a caller waiting on one of this node's rounds receives.
type RoundResult = Option<Result<SignedState, NodeError>>;

/// This node's rounds (the core's) and, per round, the caller waiting for it.
#[derive(Default)]
struct Book {
    rounds: protocol::Rounds,
    waiters: HashMap<B256, (u64, tokio_watch::Sender<RoundResult>)>,
}

/// What executing a step's effects produced.
#[derive(Default)]
struct Done {
    /// This node's signature, made after the commit that recorded its digest.
    signature: Option<Signature>,
    /// The state the step completed (fully signed and stored).
    full: Option<SignedState>,
}

/// One participant's node.
pub struct Node {
    key: SigningKey,
    address: Address,
    domain: Domain,
    peer_url: String,
    policy: Policy,
    peer_timeout: Duration,
    escrow: Option<Address>,
    store: Arc<dyn Store>,
    chain: Option<Arc<dyn ChainClient>>,
    book: Mutex<Book>,
    events: broadcast::Sender<Event>,
    peers: Arc<dyn Transport>,
    outbox_wake: Notify,
    /// The outbox's per-peer bookkeeping.
    outbox: outbox::Outbox,
    /// What it takes from strangers, and queues for peers.
    bounds: Bounds,
    /// When this node first saw each running dispute (the watchtower's stagger).
    disputes_seen: std::sync::Mutex<HashMap<B256, std::time::Instant>>,
    /// The watchtower's settings and what it keeps between passes.
    watch: watch::WatchState,
    /// This node, for the tasks it spawns.
    this: std::sync::Weak<Node>,
}

impl Node {
    /// A node over `store`, talking to `chain` when one is given, and to peers over HTTP.
    pub fn new(config: NodeConfig, store: Arc<dyn Store>, chain: Option<Arc<dyn ChainClient>>) -> Arc<Self> {
        Self::with_transport(config, store, chain, Arc::new(HttpTransport::new()))
    }

    /// A node over `store`, talking to `chain` when one is given, and to peers through
    /// `transport`.
    pub fn with_transport(
        config: NodeConfig,
        store: Arc<dyn Store>,
        chain: Option<Arc<dyn ChainClient>>,
        transport: Arc<dyn Transport>,
    ) -> Arc<Self> {
        let address = signer::address_of(config.key.verifying_key());
        let (events, _) = broadcast::channel(4096);
        let outbox = outbox::Outbox::load(&*store);
        Arc::new_cyclic(|this| Self {
            this: this.clone(),
            key: config.key,
            address,
            domain: config.domain,
            peer_url: config.peer_url,
            policy: config.policy,
            peer_timeout: config.peer_timeout,
            escrow: config.escrow,
            store,
            chain,
            book: Mutex::new(Book::default()),
            events,
            peers: transport,
            outbox_wake: Notify::new(),
            outbox,
            bounds: config.bounds,
            disputes_seen: Default::default(),
            watch: watch::WatchState::new(config.watch),
        })
    }

    /// This node's participant address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The judge's domain this node signs under.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// How many blocks deep the chain's data must be before this node relies on it.
    pub fn confirmations(&self) -> u64 {
        self.watch.config.confirmations
    }

    /// The payment escrow this node knows, if any.
    pub fn escrow_address(&self) -> Option<Address> {
        self.escrow
    }

    /// This node's peer API URL.
    pub fn peer_url(&self) -> &str {
        &self.peer_url
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The chain, if configured.
    pub fn chain(&self) -> Option<&Arc<dyn ChainClient>> {
        self.chain.as_ref()
    }

    /// A receiver of this node's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn record(&self, id: B256) -> Result<ChannelRecord, NodeError> {
        self.store.channel(id)?.ok_or_else(|| NodeError::NotFound(format!("no channel {id}")))
    }

    // ----- the shell: loading what a step reads, executing what it decided ----------------------

    /// What a step needs from this node's environment.
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            domain: &self.domain,
            key: &self.key,
            address: self.address,
            peer_url: &self.peer_url,
            policy: &self.policy,
        }
    }

    /// Everything the node holds about channel `id`, with `version` the version the input is
    /// about (its signed digest and fully signed state are read too).
    fn held(&self, id: B256, version: Option<u64>) -> Result<Held, NodeError> {
        Held::load(&*self.store, id, version)
    }

    /// Runs a step's effects in order (see [`Effect`] for why the order is the safety rule). A
    /// failed effect stops the rest; a round the step was finishing then ends with the failure.
    fn execute(&self, book: &mut Book, effects: Vec<Effect>) -> Result<Done, NodeError> {
        let mut done = Done::default();
        let mut rest = effects.into_iter();
        while let Some(effect) = rest.next() {
            if let Err(e) = self.run_effect(book, effect, &mut done) {
                for later in rest {
                    if let Effect::Finish { channel, version, .. } = later {
                        self.emit(Event::UpdateRejected { channel_id: channel, version, reason: e.to_string() });
                        self.finish(book, channel, version, Err(e.clone()));
                    }
                }
                return Err(e);
            }
        }
        Ok(done)
    }

    fn run_effect(&self, book: &mut Book, effect: Effect, done: &mut Done) -> Result<(), NodeError> {
        match effect {
            Effect::Persist(writes) => {
                self.store.commit(&writes)?;
                // Signed only now that the digest is on disk.
                for w in &writes {
                    if let Write::Signature { digest, .. } = w {
                        done.signature = Some(signer::sign(&self.key, digest));
                    }
                }
            }
            Effect::Complete(round) => {
                let digest = self.domain.state_digest(&round.state);
                // Made here, kept in the commit below, and out of the process only after it.
                let own = signer::sign(&self.key, &digest);
                let signatures = round.signatures.iter().map(|s| s.unwrap_or(own)).collect();
                let full = SignedState { state: round.state, signatures };
                let (channel, version, is_final) = (full.state.channelId, full.state.version, full.state.isFinal);
                self.store
                    .commit(&[Write::Signature { channel, version, digest, is_final }, Write::State(full.clone())])?;
                done.full = Some(full);
            }
            Effect::Enqueue { url, message } => self.queue(&url, &message)?,
            Effect::EnqueueAccept { url, channel, version } => {
                let sig = done.signature.ok_or_else(|| NodeError::Store("accepting without a signature".into()))?;
                let signature = sig.to_bytes().to_vec().into();
                let message = if version == 0 {
                    Message::AcceptChannel { channel_id: channel, signature }
                } else {
                    Message::AcceptUpdate { channel_id: channel, version, signature }
                };
                self.queue(&url, &message)?;
            }
            Effect::Emit(event) => self.emit(event),
            Effect::Finish { channel, version, result } => {
                let result = match result {
                    Ok(()) => {
                        done.full.clone().ok_or_else(|| NodeError::Store("a round ended without its state".into()))
                    }
                    Err(e) => Err(e),
                };
                self.finish(book, channel, version, result);
            }
            Effect::Announce(record) => {
                if let Some(full) = &done.full {
                    self.spawn_signed(&record, full);
                }
            }
        }
        Ok(())
    }

    /// Tells the caller waiting for this node's round for `version` of `channel` how it ended.
    fn finish(&self, book: &mut Book, channel: B256, version: u64, result: Result<SignedState, NodeError>) {
        if book.waiters.get(&channel).is_some_and(|(v, _)| *v == version) {
            let (_, tx) = book.waiters.remove(&channel).expect("just seen");
            let _ = tx.send(Some(result));
        }
    }

    /// Executes a step and returns its answer with what the effects produced.
    fn run<A>(&self, book: &mut Book, step: Step<A>) -> Result<(A, Done), NodeError> {
        match step.answer {
            Ok(a) => Ok((a, self.execute(book, step.effects)?)),
            Err(e) => {
                let _ = self.execute(book, step.effects);
                Err(e)
            }
        }
    }

    /// Executes a step that answers a peer message.
    fn answer(&self, book: &mut Book, step: Step<Answer>) -> Result<Reply, NodeError> {
        let (answer, done) = self.run(book, step)?;
        Ok(match answer {
            Answer::Signed => {
                let sig = done.signature.ok_or_else(|| NodeError::Store("answering without a signature".into()))?;
                Reply::Signed { signature: sig.to_bytes().to_vec().into() }
            }
            Answer::Pending => Reply::Pending,
            Answer::Ok => Reply::Ok,
            Answer::Latest(s) => Reply::Latest { signed: (&s).into() },
        })
    }

    /// Registers the caller of a round that just started.
    fn wait_for(book: &mut Book, channel: B256, version: u64) -> tokio_watch::Receiver<RoundResult> {
        let (tx, rx) = tokio_watch::channel(None);
        book.waiters.insert(channel, (version, tx));
        rx
    }

    fn seal(&self, message: &Message) -> Envelope {
        Envelope::seal(&self.key, &self.domain, message)
    }

    // ----- peer messages ---------------------------------------------------------------------

    /// Handles a message from the participant `from` (already authenticated by its signature).
    pub async fn handle(&self, from: Address, message: Message) -> Result<Reply, NodeError> {
        match message {
            Message::ProposeChannel { terms, peers, data } => self.on_propose_channel(from, terms, peers, data).await,
            Message::AcceptChannel { channel_id, signature } => self.on_accept(from, channel_id, 0, &signature).await,
            Message::AcceptUpdate { channel_id, version, signature } => {
                self.on_accept(from, channel_id, version, &signature).await
            }
            Message::RejectChannel { channel_id, digest, reason } => {
                self.on_reject(from, channel_id, 0, digest, reason).await
            }
            Message::RejectUpdate { channel_id, version, digest, reason } => {
                self.on_reject(from, channel_id, version, digest, reason).await
            }
            Message::ProposeUpdate { state, base } => self.on_propose_update(from, state, base).await,
            Message::Signed { signed } => self.on_signed(from, signed).await,
            Message::Sync { channel_id } => {
                let record = self.record(channel_id)?;
                rules::participant(&record, from)?;
                let held = self.held(channel_id, None)?;
                let mut book = self.book.lock().await;
                self.answer(&mut book, protocol::on_sync(&held))
            }
        }
    }

    async fn on_propose_channel(
        &self,
        from: Address,
        terms: Terms,
        peers: Vec<String>,
        data: Bytes,
    ) -> Result<Reply, NodeError> {
        let p = protocol::check_channel_proposal(&self.ctx(), from, terms, peers, data)?;
        self.check_payment(&p.terms, None, &p.state, p.proposer).await?;
        let mut book = self.book.lock().await;
        let existing = match self.store.channel(p.id)? {
            Some(_) => Some(self.held(p.id, Some(0))?),
            None => {
                self.admit_proposal(from)?;
                None
            }
        };
        let step = protocol::on_propose_channel(&self.ctx(), unix_now(), p, existing.as_ref());
        self.answer(&mut book, step)
    }

    async fn on_propose_update(&self, from: Address, state: StateJson, base: SignedJson) -> Result<Reply, NodeError> {
        let record = self.record(state.channel_id)?;
        let proposer = rules::participant(&record, from)?;
        let state: State = (&state).into();
        let base: SignedState =
            (&base).try_into().map_err(|e| NodeError::Invalid(format!("malformed base signature: {e}")))?;
        protocol::check_builds_on_base(&state, &base.state)?;
        self.check_payment(&record.terms, Some(&base.state), &state, proposer).await?;
        let mut book = self.book.lock().await;
        let held = self.held(record.id, Some(state.version))?;
        let step = protocol::on_propose_update(&self.ctx(), &mut book.rounds, &held, proposer, from, state, base);
        self.answer(&mut book, step)
    }

    async fn on_accept(&self, from: Address, id: B256, version: u64, signature: &[u8]) -> Result<Reply, NodeError> {
        let record = self.record(id)?;
        let who = rules::participant(&record, from)?;
        let sig = Signature::parse(signature).map_err(|e| NodeError::Invalid(format!("malformed signature: {e}")))?;
        let mut book = self.book.lock().await;
        let held = self.held(id, Some(version))?;
        let step = protocol::on_signature(&self.ctx(), &mut book.rounds, &held, who, version, sig);
        self.answer(&mut book, step)
    }

    /// Sends a fully signed state to every other participant, in the background, unless a newer
    /// proposal carries it first: while a channel is busy, each proposal's base delivers the
    /// previous state and this message is not needed. One that misses both catches up by asking
    /// (`Sync`).
    fn spawn_signed(&self, record: &ChannelRecord, full: &SignedState) {
        let Some(node) = self.this.upgrade() else { return };
        let (record, full) = (record.clone(), full.clone());
        tokio::spawn(async move {
            tokio::time::sleep(SIGNED_DELAY).await;
            let latest = node.store.latest(record.id).ok().flatten().map(|l| l.state.version);
            let needed =
                protocol::announce_needed(&node.book.lock().await.rounds, record.id, latest, full.state.version);
            if !needed {
                return;
            }
            let envelope = node.seal(&Message::Signed { signed: (&full).into() });
            for (i, url) in record.peers.iter().enumerate() {
                if i != record.me {
                    peer::spawn_delivery(node.peers.clone(), url.clone(), envelope.clone(), node.peer_timeout * 3);
                }
            }
        });
    }

    async fn on_reject(
        &self,
        from: Address,
        id: B256,
        version: u64,
        digest: B256,
        reason: String,
    ) -> Result<Reply, NodeError> {
        let mut book = self.book.lock().await;
        let held = self.held(id, None)?;
        rules::participant(&held.record, from)?;
        let step = protocol::on_reject(&self.ctx(), &mut book.rounds, &held, from, version, digest, reason);
        self.answer(&mut book, step)
    }

    async fn on_signed(&self, from: Address, signed: SignedJson) -> Result<Reply, NodeError> {
        let record = self.record(signed.state.channel_id)?;
        rules::participant(&record, from)?;
        let signed: SignedState =
            (&signed).try_into().map_err(|e| NodeError::Invalid(format!("malformed signature: {e}")))?;
        let mut book = self.book.lock().await;
        let held = self.held(record.id, Some(signed.state.version))?;
        self.answer(&mut book, protocol::on_signed(&self.ctx(), &held, signed))
    }

    // ----- local decisions and proposals (the app API) ---------------------------------------

    /// Proposes a channel to its other participants and waits up to `wait` for their signatures.
    pub async fn propose_channel(
        &self,
        terms: Terms,
        peers: Vec<String>,
        data: Bytes,
        wait: Duration,
    ) -> Result<(B256, Outcome), NodeError> {
        let p = protocol::plan_channel(&self.ctx(), terms, peers, data)?;
        self.check_payment(&p.terms, None, &p.state, p.me).await?;
        let (id, message) = (
            p.id,
            Message::ProposeChannel { terms: p.terms.clone(), peers: p.peers.clone(), data: p.state.data.clone() },
        );
        let rx = {
            let mut book = self.book.lock().await;
            let exists = self.store.channel(id)?.is_some();
            let step = protocol::start_channel(&mut book.rounds, unix_now(), p, exists);
            self.run(&mut book, step)?;
            Self::wait_for(&mut book, id, 0)
        };
        let record = self.record(id)?;
        Ok((id, self.collect(&record, 0, message, rx, wait).await?))
    }

    /// Sends a proposal to every other participant, feeds their answers to the core, and waits.
    async fn collect(
        &self,
        record: &ChannelRecord,
        version: u64,
        message: Message,
        mut rx: tokio_watch::Receiver<RoundResult>,
        wait: Duration,
    ) -> Result<Outcome, NodeError> {
        let envelope = self.seal(&message);
        let sends = record.peers.iter().enumerate().filter(|(i, _)| *i != record.me).map(|(i, url)| {
            let envelope = envelope.clone();
            async move { (i, peer::send(&*self.peers, url, &envelope, self.peer_timeout).await) }
        });
        for (who, answer) in futures::future::join_all(sends).await {
            let mut book = self.book.lock().await;
            let effects = match self.held(record.id, Some(version)) {
                Ok(held) => protocol::on_reply(&self.ctx(), &mut book.rounds, &held, who, version, answer),
                Err(e) => protocol::abandon(&mut book.rounds, record.id, version, e),
            };
            if let Err(e) = self.execute(&mut book, effects) {
                tracing::debug!(channel = %record.id, version, "an answer to this node's proposal failed: {e}");
            }
        }
        let settled = tokio::time::timeout(wait, rx.wait_for(|r| r.is_some())).await;
        match settled {
            Ok(Ok(r)) => match r.clone().expect("settled") {
                Ok(full) => Ok(Outcome::Signed(full)),
                Err(e) => Err(e),
            },
            _ => Ok(Outcome::Pending { version }),
        }
    }

    /// Proposes the next state of channel `id` and waits up to `wait` for every signature.
    pub async fn propose_update(
        &self,
        id: B256,
        data: Bytes,
        is_final: bool,
        wait: Duration,
    ) -> Result<Outcome, NodeError> {
        self.catch_up(&self.record(id)?).await?;
        let record = self.record(id)?;
        if self.is_payment(&record.terms) {
            if let Some(latest) = self.store.latest(id)? {
                let next =
                    State { channelId: id, version: latest.state.version + 1, data: data.clone(), isFinal: is_final };
                self.check_payment(&record.terms, Some(&latest.state), &next, record.me).await?;
            }
        }
        let (rx, state, base) = {
            let mut book = self.book.lock().await;
            let held = self.held(id, None)?;
            let step = protocol::start_update(&self.ctx(), &mut book.rounds, &held, data, is_final);
            let ((state, base), _) = self.run(&mut book, step)?;
            (Self::wait_for(&mut book, id, state.version), state, base)
        };
        let message = Message::ProposeUpdate { state: (&state).into(), base: (&base).into() };
        self.collect(&record, state.version, message, rx, wait).await
    }

    /// The user's decision on a channel proposed by another participant.
    pub async fn decide_channel(&self, id: B256, accept: bool, reason: String) -> Result<(), NodeError> {
        let mut book = self.book.lock().await;
        let held = self.held(id, Some(0))?;
        let step = protocol::decide_channel(&self.ctx(), &held, accept, reason);
        self.run(&mut book, step).map(|_| ())
    }

    /// The user's decision on an update proposed by another participant.
    pub async fn decide_update(&self, id: B256, version: u64, accept: bool, reason: String) -> Result<(), NodeError> {
        if accept {
            let record = self.record(id)?;
            if let (Some(inc), Some(latest)) = (&record.incoming, self.store.latest(id)?) {
                self.check_payment(&record.terms, Some(&latest.state), &(&inc.state).into(), inc.from).await?;
            }
        }
        let mut book = self.book.lock().await;
        let held = self.held(id, None)?;
        let step = protocol::decide_update(&self.ctx(), &held, version, accept, reason);
        self.run(&mut book, step).map(|_| ())
    }

    /// Delivers queued messages, one task per peer URL, each retrying with its own backoff until
    /// its messages are taken, refused for good, or expired; runs forever.
    pub async fn run_outbox(self: Arc<Self>) {
        self.dispatch_outbox().await
    }

    /// Asks the other participants for their latest fully signed state of each channel this
    /// node is really part of, and keeps any newer one: what a node does after a restart to learn
    /// what was settled while it was down. Open channels first, then channels this node proposed
    /// or signed; never a proposal it did not accept (whose peer URLs a stranger chose). Up to
    /// [`SYNC_CONCURRENCY`] channels at once, each peer given [`SYNC_TIMEOUT`].
    pub async fn sync_all(&self) {
        use futures::StreamExt;
        let Ok(records) = self.store.channels() else { return };
        let mut real: Vec<ChannelRecord> = records.into_iter().filter(|r| self.worth_syncing(r)).collect();
        real.sort_by_key(|r| r.status != ChannelStatus::Open);
        futures::stream::iter(real)
            .for_each_concurrent(SYNC_CONCURRENCY, |r| async move { self.sync_channel_within(&r, SYNC_TIMEOUT).await })
            .await;
    }

    /// Whether catching up on `r` is worth contacting its peers: open, or proposed by this node,
    /// or proposed by another and signed here.
    fn worth_syncing(&self, r: &ChannelRecord) -> bool {
        match r.status {
            ChannelStatus::Open => true,
            ChannelStatus::Proposed => r.proposer == r.me || self.store.signed_digest(r.id, 0).ok().flatten().is_some(),
            ChannelStatus::Rejected | ChannelStatus::Closed => false,
        }
    }

    /// When this node signed a version for someone else's proposal that is not settled here yet,
    /// its fully signed state is probably on its way: ask for it before building on an older one.
    pub(crate) async fn catch_up(&self, record: &ChannelRecord) -> Result<(), NodeError> {
        // Nothing held yet but version 0 signed here counts as behind too: the proposer's fully
        // signed version 0 may still be on its way.
        let held = self.store.latest(record.id)?.map(|s| s.state.version);
        if rules::is_behind(self.store.highest_signed(record.id)?, held) {
            self.sync_channel(record).await;
        }
        Ok(())
    }

    /// Asks the other participants for their latest fully signed state of one channel.
    async fn sync_channel(&self, record: &ChannelRecord) {
        self.sync_channel_within(record, self.peer_timeout).await
    }

    /// Asks the other participants, all at once, each for up to `timeout`.
    async fn sync_channel_within(&self, record: &ChannelRecord, timeout: Duration) {
        let envelope = self.seal(&Message::Sync { channel_id: record.id });
        let asks = record.peers.iter().enumerate().filter(|(i, _)| *i != record.me).map(|(_, url)| {
            let envelope = &envelope;
            async move { tokio::time::timeout(timeout, peer::send(&*self.peers, url, envelope, timeout)).await }
        });
        for answer in futures::future::join_all(asks).await {
            if let Ok(Ok(Reply::Latest { signed })) = answer {
                if let Ok(signed) = SignedState::try_from(&signed) {
                    let mut book = self.book.lock().await;
                    if let Ok(held) = self.held(record.id, Some(signed.state.version)) {
                        let _ = self.run(&mut book, protocol::on_signed(&self.ctx(), &held, signed));
                    }
                }
            }
        }
    }

    // ----- chain -----------------------------------------------------------------------------

    pub(crate) fn chain_client(&self) -> Result<&Arc<dyn ChainClient>, NodeError> {
        self.chain.as_ref().ok_or(NodeError::NoChain)
    }

    fn latest_or_err(&self, id: B256) -> Result<SignedState, NodeError> {
        self.store.latest(id)?.ok_or_else(|| NodeError::Conflict(format!("channel {id} has no fully signed state yet")))
    }

    /// Posts `open` with version 0 (or the latest) of channel `id`.
    pub async fn open_on_chain(&self, id: B256) -> Result<TxReceipt, NodeError> {
        let record = self.record(id)?;
        let s = self.latest_or_err(id)?;
        let call = I::openCall { params: (&record.terms).into(), state: s.state.clone(), sigs: s.sigs() };
        Ok(self.chain_client()?.send(call.abi_encode()).await?)
    }

    /// Posts the latest fully signed state with `checkpoint`.
    pub async fn checkpoint(&self, id: B256) -> Result<(u64, TxReceipt), NodeError> {
        let record = self.record(id)?;
        let s = self.latest_or_err(id)?;
        let call = I::checkpointCall { params: (&record.terms).into(), state: s.state.clone(), sigs: s.sigs() };
        Ok((s.state.version, self.chain_client()?.send(call.abi_encode()).await?))
    }

    /// Starts a dispute with the latest fully signed state: the unilateral close.
    pub async fn challenge(&self, id: B256) -> Result<(u64, TxReceipt), NodeError> {
        let record = self.record(id)?;
        let s = self.latest_or_err(id)?;
        let c = avocado_codec::Challenge { channelId: id, version: s.state.version };
        let challenger = signer::sign(&self.key, &self.domain.challenge_digest(&c));
        let call = I::challengeCall {
            params: (&record.terms).into(),
            state: s.state.clone(),
            sigs: s.sigs(),
            challengerSig: challenger.to_compact().to_vec().into(),
        };
        Ok((s.state.version, self.chain_client()?.send(call.abi_encode()).await?))
    }

    /// Posts a fully signed final state with `conclude`.
    pub async fn conclude(&self, id: B256) -> Result<(u64, TxReceipt), NodeError> {
        let record = self.record(id)?;
        let s = self.latest_or_err(id)?;
        if !s.state.isFinal {
            return Err(NodeError::Conflict(format!(
                "the latest state v{} is not final: close cooperatively first, or challenge",
                s.state.version
            )));
        }
        let call = I::concludeCall { params: (&record.terms).into(), state: s.state.clone(), sigs: s.sigs() };
        Ok((s.state.version, self.chain_client()?.send(call.abi_encode()).await?))
    }

    /// Cooperative close: everyone signs a final state with the latest data (or `data`), then it
    /// is posted with `conclude`.
    pub async fn close(&self, id: B256, data: Option<Bytes>, wait: Duration) -> Result<(u64, TxReceipt), NodeError> {
        self.catch_up(&self.record(id)?).await?;
        let latest = self.latest_or_err(id)?;
        if !latest.state.isFinal {
            let data = data.unwrap_or_else(|| latest.state.data.clone());
            // A final state must directly follow the latest fully signed one: when a round that
            // never settled left versions signed above it, a plain update with the same data
            // settles first.
            let floor = self.book.lock().await.rounds.floor(id);
            let high = self.store.highest_signed(id)?.unwrap_or(0).max(floor);
            if high > latest.state.version {
                if let Outcome::Pending { version } =
                    self.propose_update(id, latest.state.data.clone(), false, wait).await?
                {
                    return Err(NodeError::Unreachable(format!(
                        "v{version}, which must settle before the final state, is not signed by everyone yet"
                    )));
                }
            }
            match self.propose_update(id, data, true, wait).await? {
                Outcome::Signed(_) => {}
                Outcome::Pending { version } => {
                    return Err(NodeError::Unreachable(format!(
                        "the final state v{version} is not signed by everyone yet; close again once it is"
                    )))
                }
            }
        }
        self.conclude(id).await
    }

    /// Updates a channel's view of the chain.
    pub(crate) async fn note_chain(&self, id: B256, f: impl FnOnce(&mut ChannelRecord)) -> Result<(), NodeError> {
        let _book = self.book.lock().await;
        let mut record = self.record(id)?;
        f(&mut record);
        self.store.put_channel(&record)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event stream's JSON reads back as the event it was (an event that does not would be
    /// silently dropped by clients).
    #[test]
    fn every_event_round_trips_through_json() {
        let id = B256::repeat_byte(7);
        let receipt = TxReceipt { tx: B256::repeat_byte(1), gas_used: 101_428, block: 9, gas_price: 100_000_001 };
        let events = vec![
            Event::ChannelProposed { channel_id: id, by: Address::repeat_byte(2) },
            Event::ChannelOpened { channel_id: id },
            Event::ChannelRejected { channel_id: id, by: Address::repeat_byte(2), reason: "no".into() },
            Event::UpdateProposed {
                channel_id: id,
                version: 3,
                by: Address::ZERO,
                data: Bytes::from(vec![1]),
                is_final: false,
            },
            Event::UpdateSigned { channel_id: id, version: 3, data: Bytes::new(), is_final: true },
            Event::FinalSigned { channel_id: id, version: 4, data: Bytes::from(vec![2]) },
            Event::UpdateRejected { channel_id: id, version: 3, reason: "why".into() },
            Event::Chain { channel_id: id, what: "challengeStarted".into(), version: 2, finalizes_at: 99, block: 4 },
            Event::Answered { channel_id: id, stale_version: 2, version: 5, receipt },
            Event::ChannelFinal { channel_id: id, version: 5 },
            Event::WatchError { message: "rpc down".into() },
        ];
        for e in events {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e, "{json}");
        }
    }
}
