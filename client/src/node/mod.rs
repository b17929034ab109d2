//! The node: one participant's channels, the peer exchange's rules, and what the chain is told.
//!
//! Every state this node signs goes through one path: the digest is recorded in the [`Store`]
//! (synced to disk) before the signature leaves the process, and a different digest for the same
//! `(channel, version)` is refused, so no crash or retry can make this node sign two states with
//! one version. Every fully signed state is stored before it is acknowledged or relied upon.
//!
//! The exchange (see the protocol's design): any participant may propose; the proposer collects
//! every other signature, signs last, stores the fully signed state and sends it to everyone.
//! Each update names the fully signed state it builds on (its *base*), so a participant that
//! missed the previous round catches up from the proposal itself, and nobody signs an update
//! built on a state older than one it already signed for. Two proposals for the same version
//! resolve deterministically: the lower participant index wins and the other proposal fails
//! with a conflict its proposer can retry.
//!
//! Transports live elsewhere: [`peer`] (HTTP between nodes), [`app`] (the local API), [`watch`]
//! (the watchtower). This module holds the rules and is driven by them.

pub mod app;
mod bounds;
mod error;
mod outbox;
pub mod peer;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::SolCall;
use avocado_codec::{limits, signer, ChannelParams, Domain, IAvocadoJudge as I, Signature, State};
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch as tokio_watch, Mutex, Notify};

pub use bounds::Bounds;
pub use error::NodeError;
pub use outbox::SEND_TIMEOUT;

use crate::chain::{ChainClient, TxReceipt};
use crate::message::{Envelope, Message, SignedJson, StateJson, Terms};
use crate::signed::SignedState;
use crate::store::{unix_now, ChannelRecord, ChannelStatus, Incoming, Store};

/// How far ahead of the latest fully signed version a proposal may be: versions burnt by
/// abandoned proposals are skipped, but nobody can push a channel toward `u64::MAX`.
pub const MAX_VERSION_GAP: u64 = 64;

/// How long a proposer waits before sending a fully signed state on its own (a newer proposal
/// in the meantime carries it as its base).
const SIGNED_DELAY: Duration = Duration::from_millis(100);

/// How many channels a restarted node catches up on at once.
pub const SYNC_CONCURRENCY: usize = 16;

/// How long catching up after a restart waits for one peer: a peer that does not answer soon is
/// asked again by the next proposal (its base) or the next `Sync`, not waited for.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(3);

/// What this node agrees to.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The shortest dispute window it accepts in a channel (seconds). The default, 24 h,
    /// outlasts Arbitrum's force-inclusion delay: a sequencer that censors the node's answer to
    /// a stale challenge cannot outwait it.
    pub min_challenge_duration: u64,
    /// Sign proposals (channels and updates) as they arrive instead of waiting for the user.
    pub auto_accept: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self { min_challenge_duration: 24 * 60 * 60, auto_accept: false }
    }
}

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

/// Something that happened, for the app API's event stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// Another participant proposed a channel; it waits for this node's user.
    #[serde(rename_all = "camelCase")]
    ChannelProposed {
        /// Channel id.
        channel_id: B256,
        /// Proposer.
        by: Address,
    },
    /// Version 0 is fully signed.
    #[serde(rename_all = "camelCase")]
    ChannelOpened {
        /// Channel id.
        channel_id: B256,
    },
    /// A participant declined the channel.
    #[serde(rename_all = "camelCase")]
    ChannelRejected {
        /// Channel id.
        channel_id: B256,
        /// Who declined.
        by: Address,
        /// Why.
        reason: String,
    },
    /// Another participant proposed an update; it waits for this node's user.
    #[serde(rename_all = "camelCase")]
    UpdateProposed {
        /// Channel id.
        channel_id: B256,
        /// Proposed version.
        version: u64,
        /// Proposer.
        by: Address,
        /// Proposed data.
        data: Bytes,
        /// Whether it closes the channel.
        is_final: bool,
    },
    /// A state is fully signed and stored.
    #[serde(rename_all = "camelCase")]
    UpdateSigned {
        /// Channel id.
        channel_id: B256,
        /// Version.
        version: u64,
        /// Data.
        data: Bytes,
        /// Whether it closes the channel.
        is_final: bool,
    },
    /// This node signed a final state: it signs nothing more for this channel, and whoever holds
    /// the state fully signed can make it final on chain at once.
    #[serde(rename_all = "camelCase")]
    FinalSigned {
        /// Channel id.
        channel_id: B256,
        /// The final version.
        version: u64,
        /// Its data.
        data: Bytes,
    },
    /// This node's proposal failed.
    #[serde(rename_all = "camelCase")]
    UpdateRejected {
        /// Channel id.
        channel_id: B256,
        /// Version.
        version: u64,
        /// Why.
        reason: String,
    },
    /// The judge reported something about one of this node's channels.
    #[serde(rename_all = "camelCase")]
    Chain {
        /// Channel id.
        channel_id: B256,
        /// `opened`, `checkpointed`, `challengeStarted` or `concluded`.
        what: String,
        /// Version stored on chain.
        version: u64,
        /// Deadline of a dispute, 0 otherwise.
        finalizes_at: u64,
        /// Block.
        block: u64,
    },
    /// The watchtower answered an older state on chain with this node's latest.
    #[serde(rename_all = "camelCase")]
    Answered {
        /// Channel id.
        channel_id: B256,
        /// Version found on chain.
        stale_version: u64,
        /// Version posted.
        version: u64,
        /// The checkpoint transaction.
        receipt: TxReceipt,
    },
    /// The channel is final on chain.
    #[serde(rename_all = "camelCase")]
    ChannelFinal {
        /// Channel id.
        channel_id: B256,
        /// Final version.
        version: u64,
    },
    /// The watchtower could not act (it keeps trying).
    #[serde(rename_all = "camelCase")]
    WatchError {
        /// What failed.
        message: String,
    },
}

/// A node's answer to a peer message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Reply {
    /// Signed: here is the signature.
    Signed {
        /// 65-byte signature.
        signature: Bytes,
    },
    /// Waits for the user's decision; the answer comes later as its own message.
    Pending,
    /// Taken into account.
    Ok,
    /// The latest fully signed state held.
    Latest {
        /// It.
        signed: SignedJson,
    },
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

/// A proposal of this node collecting signatures.
struct Proposal {
    state: State,
    signatures: Vec<Option<Signature>>,
    done: tokio_watch::Sender<Option<Result<SignedState, NodeError>>>,
}

#[derive(Default)]
struct Book {
    proposals: HashMap<B256, Proposal>,
    /// Per channel, the highest version of a proposal of this node that failed: another
    /// participant may have signed it, so the next proposal goes above it.
    floors: HashMap<B256, u64>,
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
    peers: peer::PeerClient,
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

/// A final state is final on chain as soon as it is fully signed, whatever was signed around it:
/// this node signs one only as the direct successor of the latest fully signed state it holds
/// (`latest`), with nothing signed above that state (`high`, the highest version signed here)
/// that could have settled unseen.
fn check_final_successor(version: u64, latest: u64, high: u64) -> Result<(), NodeError> {
    if high > latest {
        return Err(NodeError::Conflict(format!(
            "version {high} was signed here and never settled: a final state must directly follow the latest fully \
             signed version {latest}; settle or supersede v{high} first"
        )));
    }
    if version != latest + 1 {
        return Err(NodeError::Conflict(format!(
            "a final state must directly follow the latest fully signed version {latest}, not be version {version}"
        )));
    }
    Ok(())
}

fn index_of(terms: &Terms, who: Address) -> Option<usize> {
    terms.participants.iter().position(|p| *p == who)
}

impl Node {
    /// A node over `store`, talking to `chain` when one is given.
    pub fn new(config: NodeConfig, store: Arc<dyn Store>, chain: Option<Arc<dyn ChainClient>>) -> Arc<Self> {
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
            peers: peer::PeerClient::new(),
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

    fn signing_error(&self, e: crate::store::StoreError) -> NodeError {
        match e {
            crate::store::StoreError::AlreadySigned { version, .. } => {
                NodeError::Conflict(format!("this node already signed another state as version {version}"))
            }
            e @ crate::store::StoreError::FinalSigned { .. } => NodeError::Conflict(e.to_string()),
            other => other.into(),
        }
    }

    fn sign(&self, channel: B256, state: &State) -> Result<Signature, NodeError> {
        let digest = self.domain.state_digest(state);
        // On disk before the signature exists outside this function.
        self.store
            .record_signature(channel, state.version, digest, state.isFinal)
            .map_err(|e| self.signing_error(e))?;
        self.signed_final(state);
        Ok(signer::sign(&self.key, &digest))
    }

    /// Tells the app that this node signed a final state (every path that signs one calls it).
    fn signed_final(&self, state: &State) {
        if state.isFinal {
            self.emit(Event::FinalSigned {
                channel_id: state.channelId,
                version: state.version,
                data: state.data.clone(),
            });
        }
    }

    fn seal(&self, message: &Message) -> Envelope {
        Envelope::seal(&self.key, &self.domain, message)
    }

    /// Checks a fully signed state against the channel's participants and keeps it.
    /// Returns whether it was new.
    fn take_signed(&self, record: &ChannelRecord, signed: &SignedState) -> Result<bool, NodeError> {
        if self.store.signed_state(record.id, signed.state.version)?.is_some() {
            return Ok(false);
        }
        self.verify_signed(record, signed)?;
        self.store.save_latest(signed)?;
        Ok(true)
    }

    /// Checks that `signed` is a fully signed state of this channel.
    fn verify_signed(&self, record: &ChannelRecord, signed: &SignedState) -> Result<(), NodeError> {
        if signed.state.channelId != record.id {
            return Err(NodeError::Invalid("the state belongs to another channel".into()));
        }
        let digest = self.domain.state_digest(&signed.state);
        let n = record.terms.participants.len();
        if signed.signatures.len() != n {
            return Err(NodeError::Invalid(format!("{} signatures for {n} participants", signed.signatures.len())));
        }
        for (i, (sig, who)) in signed.signatures.iter().zip(&record.terms.participants).enumerate() {
            // This node's own signature is deterministic (RFC 6979): re-signing is cheaper than
            // recovering, and proves the same.
            let ok = if i == record.me {
                signer::sign(&self.key, &digest) == *sig
            } else {
                signer::verify(&digest, &sig.to_bytes(), *who).is_ok()
            };
            if !ok {
                return Err(NodeError::Invalid(format!("not fully signed: signature {i} is not participant {i}'s")));
            }
        }
        Ok(())
    }

    /// After a state became fully signed here: open the channel at version 0, clear a pending
    /// proposal it settles, tell the app.
    fn settled(&self, mut record: ChannelRecord, signed: &SignedState) -> Result<(), NodeError> {
        let v = signed.state.version;
        let mut changed = false;
        if record.status == ChannelStatus::Proposed {
            record.status = ChannelStatus::Open;
            changed = true;
        }
        if record.incoming.as_ref().is_some_and(|i| i.state.version <= v) {
            record.incoming = None;
            changed = true;
        }
        if changed {
            self.store.put_channel(&record)?;
        }
        if v == 0 {
            self.emit(Event::ChannelOpened { channel_id: record.id });
        }
        self.emit(Event::UpdateSigned {
            channel_id: record.id,
            version: v,
            data: signed.state.data.clone(),
            is_final: signed.state.isFinal,
        });
        Ok(())
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
                self.participant(&record, from)?;
                let latest = self
                    .store
                    .latest(channel_id)?
                    .ok_or_else(|| NodeError::NotFound(format!("no fully signed state of {channel_id} yet")))?;
                Ok(Reply::Latest { signed: (&latest).into() })
            }
        }
    }

    fn participant(&self, record: &ChannelRecord, from: Address) -> Result<usize, NodeError> {
        match index_of(&record.terms, from) {
            Some(i) if i != record.me => Ok(i),
            _ => Err(NodeError::Forbidden(format!("{from} is not another participant of channel {}", record.id))),
        }
    }

    /// This node's own rules for a channel's terms (beyond the protocol's).
    fn check_policy(&self, terms: &Terms) -> Result<(), NodeError> {
        if terms.challenge_duration < self.policy.min_challenge_duration {
            return Err(NodeError::Invalid(format!(
                "challenge duration {} s is below this node's minimum of {} s",
                terms.challenge_duration, self.policy.min_challenge_duration
            )));
        }
        Ok(())
    }

    fn check_terms(&self, terms: &Terms, peers: &[String], data: &[u8]) -> Result<ChannelParams, NodeError> {
        let params: ChannelParams = terms.into();
        avocado_codec::validate_params(&params.participants, params.challengeDuration)
            .map_err(|e| NodeError::Invalid(format!("invalid channel terms: {e:?}")))?;
        if peers.len() != params.participants.len() {
            return Err(NodeError::Invalid(format!(
                "{} peer URLs for {} participants",
                peers.len(),
                params.participants.len()
            )));
        }
        if data.len() > limits::MAX_DATA_LEN {
            return Err(NodeError::Invalid(format!(
                "state data is {} bytes; the limit is {}",
                data.len(),
                limits::MAX_DATA_LEN
            )));
        }
        Ok(params)
    }

    async fn on_propose_channel(
        &self,
        from: Address,
        terms: Terms,
        peers: Vec<String>,
        data: Bytes,
    ) -> Result<Reply, NodeError> {
        let params = self.check_terms(&terms, &peers, &data)?;
        let me = index_of(&terms, self.address)
            .ok_or_else(|| NodeError::Forbidden(format!("this node ({}) is not a participant", self.address)))?;
        let proposer = index_of(&terms, from)
            .filter(|i| *i != me)
            .ok_or_else(|| NodeError::Forbidden(format!("the proposer {from} is not another participant")))?;
        self.check_policy(&terms)?;
        let id = self.domain.channel_id(&params);
        let state = State { channelId: id, version: 0, data, isFinal: false };
        self.check_payment(&terms, None, &state, proposer).await?;
        let _book = self.book.lock().await;
        if let Some(existing) = self.store.channel(id)? {
            // A retried delivery of the same proposal answers as the first one did.
            let digest = self.domain.state_digest(&state);
            if let Some(signed) = self.store.signed_digest(id, 0)? {
                if signed == digest {
                    return Ok(Reply::Signed { signature: self.sign(id, &state)?.to_bytes().to_vec().into() });
                }
            }
            if existing.incoming.as_ref().is_some_and(|i| State::from(&i.state) == state) {
                return Ok(Reply::Pending);
            }
            return Err(NodeError::Conflict(format!("channel {id} is already known with other contents")));
        }
        self.admit_proposal(from)?;
        let mut record = ChannelRecord {
            id,
            terms,
            peers,
            me,
            proposer,
            status: ChannelStatus::Proposed,
            reason: None,
            incoming: Some(Incoming { from: proposer, state: (&state).into() }),
            chain: Default::default(),
            created_at: unix_now(),
        };
        if self.policy.auto_accept {
            record.incoming = None;
            self.store.put_channel(&record)?;
            let sig = self.sign(id, &state)?;
            return Ok(Reply::Signed { signature: sig.to_bytes().to_vec().into() });
        }
        self.store.put_channel(&record)?;
        self.emit(Event::ChannelProposed { channel_id: id, by: from });
        Ok(Reply::Pending)
    }

    /// The checks every update proposal passes before this node signs it, `latest` being the
    /// latest fully signed version (held, or the proposal's base about to be kept).
    fn check_update(
        &self,
        record: &ChannelRecord,
        proposer: usize,
        state: &State,
        latest: u64,
    ) -> Result<(), NodeError> {
        if record.status != ChannelStatus::Open {
            return Err(NodeError::Conflict(format!("channel {} is {:?}, not open", record.id, record.status)));
        }
        if state.data.len() > limits::MAX_DATA_LEN {
            return Err(NodeError::Invalid(format!(
                "state data is {} bytes; the limit is {}",
                state.data.len(),
                limits::MAX_DATA_LEN
            )));
        }
        if state.version <= latest {
            return Err(NodeError::Conflict(format!(
                "version {} is not above the latest fully signed version {latest}",
                state.version
            )));
        }
        if state.version > latest + MAX_VERSION_GAP {
            return Err(NodeError::Conflict(format!(
                "version {} is too far above the latest fully signed version {latest}",
                state.version
            )));
        }
        // A final state signed here ends the channel for this node: anything signed after it
        // could be erased on chain by it.
        if let Some(v) = self.store.final_signed(record.id)? {
            return Err(NodeError::Conflict(format!(
                "this node signed the final state v{v} of channel {}: it signs nothing more for it",
                record.id
            )));
        }
        // A version signed here whose round never settled (its proposer gave up or crashed) is
        // skipped, never signed again with other contents: proposals must go above it.
        let high = self.store.highest_signed(record.id)?.unwrap_or(0);
        if high > latest && state.version < high {
            return Err(NodeError::Conflict(format!(
                "version {high} is signed here; participant {proposer}'s proposal for version {} must be above it",
                state.version
            )));
        }
        if state.isFinal {
            check_final_successor(state.version, latest, high)?;
        }
        Ok(())
    }

    async fn on_propose_update(&self, from: Address, state: StateJson, base: SignedJson) -> Result<Reply, NodeError> {
        let record = self.record(state.channel_id)?;
        let proposer = self.participant(&record, from)?;
        let state: State = (&state).into();
        let base: SignedState =
            (&base).try_into().map_err(|e| NodeError::Invalid(format!("malformed base signature: {e}")))?;
        if base.state.version >= state.version {
            return Err(NodeError::Invalid(format!(
                "version {} does not build on its base version {}",
                state.version, base.state.version
            )));
        }
        self.check_payment(&record.terms, Some(&base.state), &state, proposer).await?;
        let base_version_given = base.state.version;
        let mut book = self.book.lock().await;
        // The record as of now, under the lock.
        let record = self.record(record.id)?;
        // The latest fully signed state held, read once for every check below.
        let held_state = self.store.latest(record.id)?;
        let held = held_state.as_ref().map(|s| s.state.version);
        if let Some(h) = held.filter(|h| state.version <= *h) {
            return Err(NodeError::Conflict(format!(
                "version {} is not above the latest fully signed version {h}",
                state.version
            )));
        }
        // A retried delivery of a proposal already signed gets the same signature back.
        if let Some(d) = self.store.signed_digest(record.id, state.version)? {
            if d == self.domain.state_digest(&state) {
                let sig = self.sign(record.id, &state)?;
                return Ok(Reply::Signed { signature: sig.to_bytes().to_vec().into() });
            }
        }
        // Catch up from the base when it is newer than what this node holds (kept below, in the
        // same commit as this node's signature).
        if let Some(ours) = held_state.as_ref().filter(|h| h.state.version == base.state.version) {
            if ours.state != base.state {
                return Err(NodeError::Conflict(format!(
                    "the proposal builds on a version {} other than the one fully signed here",
                    base.state.version
                )));
            }
        }
        let fresh = if held.is_none_or(|h| base.state.version > h) {
            self.verify_signed(&record, &base)?;
            Some(base)
        } else if base.state.version < held.unwrap_or(0) {
            return Err(NodeError::Conflict(format!(
                "the proposal builds on version {} but version {} is fully signed",
                base.state.version,
                held.unwrap_or(0)
            )));
        } else {
            None
        };
        let mut record = record;
        if fresh.is_some() && record.status == ChannelStatus::Proposed {
            record.status = ChannelStatus::Open;
        }
        // Two proposals in flight at once (for one version, or one built on a state older than
        // this node's proposal): the lower participant index wins.
        if let Some(mine) = book.proposals.get(&record.id) {
            let mine_version = mine.state.version;
            if mine_version >= state.version || base_version_given < mine_version {
                if proposer < record.me {
                    let lost = book.proposals.remove(&record.id).expect("just seen");
                    let why = format!(
                        "superseded: participant {proposer}'s proposal for version {} came at the same time, and \
                         the lower index wins",
                        state.version
                    );
                    self.emit(Event::UpdateRejected {
                        channel_id: record.id,
                        version: lost.state.version,
                        reason: why.clone(),
                    });
                    let _ = lost.done.send(Some(Err(NodeError::Conflict(why))));
                    book.floors.entry(record.id).and_modify(|f| *f = (*f).max(mine_version)).or_insert(mine_version);
                } else {
                    return Err(NodeError::Conflict(format!(
                        "concurrent proposal: participant {}'s proposal for version {mine_version} takes precedence \
                         (lower index wins)",
                        record.me
                    )));
                }
            }
        }
        let base_version = fresh.as_ref().map(|b| b.state.version);
        self.check_update(&record, proposer, &state, base_version.or(held).unwrap_or(0))?;
        if let Some(inc) = &record.incoming {
            if State::from(&inc.state) == state {
                return Ok(Reply::Pending);
            }
            // A proposer's new proposal replaces its own earlier one (which it gave up on).
            if inc.from != proposer
                && inc.state.version >= state.version
                && base_version.is_none_or(|b| b < inc.state.version)
            {
                return Err(NodeError::Conflict(format!(
                    "participant {}'s proposal for version {} awaits a decision here",
                    inc.from, inc.state.version
                )));
            }
        }
        if self.policy.auto_accept {
            let digest = self.domain.state_digest(&state);
            match &fresh {
                Some(b) => {
                    self.store
                        .save_and_sign(b, state.version, digest, state.isFinal)
                        .map_err(|e| self.signing_error(e))?;
                    self.settled(self.record(record.id)?, b)?;
                }
                None => self
                    .store
                    .record_signature(record.id, state.version, digest, state.isFinal)
                    .map_err(|e| self.signing_error(e))?,
            }
            self.signed_final(&state);
            let sig = signer::sign(&self.key, &digest);
            return Ok(Reply::Signed { signature: sig.to_bytes().to_vec().into() });
        }
        if let Some(b) = &fresh {
            self.store.save_latest(b)?;
            self.settled(self.record(record.id)?, b)?;
            record = self.record(record.id)?;
        }
        record.incoming = Some(Incoming { from: proposer, state: (&state).into() });
        self.store.put_channel(&record)?;
        drop(book);
        self.emit(Event::UpdateProposed {
            channel_id: record.id,
            version: state.version,
            by: from,
            data: state.data.clone(),
            is_final: state.isFinal,
        });
        Ok(Reply::Pending)
    }

    async fn on_accept(&self, from: Address, id: B256, version: u64, signature: &[u8]) -> Result<Reply, NodeError> {
        let record = self.record(id)?;
        let who = self.participant(&record, from)?;
        let sig = Signature::parse(signature).map_err(|e| NodeError::Invalid(format!("malformed signature: {e}")))?;
        if let Some(full) = self.add_signature(&record, who, version, sig).await? {
            self.spawn_signed(&record, &full);
        }
        Ok(Reply::Ok)
    }

    /// Adds a participant's signature to this node's proposal; returns the fully signed state
    /// when it was the last one missing.
    async fn add_signature(
        &self,
        record: &ChannelRecord,
        who: usize,
        version: u64,
        sig: Signature,
    ) -> Result<Option<SignedState>, NodeError> {
        let mut book = self.book.lock().await;
        let Some(p) = book.proposals.get_mut(&record.id).filter(|p| p.state.version == version) else {
            if let Some(settled) = self.store.signed_state(record.id, version)? {
                // A late or repeated answer to a settled proposal changes nothing; anything else
                // claiming to answer it is refused.
                if settled.signatures.get(who) == Some(&sig) {
                    return Ok(None);
                }
                return Err(NodeError::Conflict(format!(
                    "version {version} is settled, with another signature from participant {who}"
                )));
            }
            return Err(NodeError::Conflict(format!("no proposal for version {version} is collecting signatures")));
        };
        let digest = self.domain.state_digest(&p.state);
        signer::verify(&digest, &sig.to_bytes(), record.terms.participants[who]).map_err(|e| {
            NodeError::Invalid(format!("participant {who}'s signature does not sign the proposed state: {e}"))
        })?;
        p.signatures[who] = Some(sig);
        let complete = p.signatures.iter().enumerate().all(|(i, s)| i == record.me || s.is_some());
        if !complete {
            return Ok(None);
        }
        let p = book.proposals.remove(&record.id).expect("present");
        let result = self.complete(record, &p);
        let _ = p.done.send(Some(result.clone()));
        drop(book);
        if let Err(e) = &result {
            self.emit(Event::UpdateRejected { channel_id: record.id, version, reason: e.to_string() });
        }
        result.map(Some)
    }

    /// Every other participant signed this node's proposal: sign last and store.
    fn complete(&self, record: &ChannelRecord, p: &Proposal) -> Result<SignedState, NodeError> {
        let digest = self.domain.state_digest(&p.state);
        let own = signer::sign(&self.key, &digest);
        let signatures = p
            .signatures
            .iter()
            .enumerate()
            .map(|(i, s)| if i == record.me { own } else { s.expect("complete") })
            .collect();
        let full = SignedState { state: p.state.clone(), signatures };
        // One durable commit records this node's signature and keeps the fully signed state,
        // before either leaves the process.
        self.store.save_own(&full, digest).map_err(|e| self.signing_error(e))?;
        self.signed_final(&full.state);
        self.settled(self.record(record.id)?, &full)?;
        Ok(full)
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
            let superseded = node
                .book
                .lock()
                .await
                .proposals
                .get(&record.id)
                .is_some_and(|p| p.state.version > full.state.version)
                || node.store.latest(record.id).ok().flatten().is_some_and(|l| l.state.version > full.state.version);
            if superseded {
                return;
            }
            let envelope = node.seal(&Message::Signed { signed: (&full).into() });
            for (i, url) in record.peers.iter().enumerate() {
                if i != record.me {
                    node.peers.spawn_delivery(url.clone(), envelope.clone(), node.peer_timeout * 3);
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
        let mut record = self.record(id)?;
        self.participant(&record, from)?;
        // A rejection names the digest of what it rejects: replayed against another proposal
        // with the same version, it changes nothing.
        let Some(p) = book.proposals.get(&id).filter(|p| p.state.version == version) else {
            return Err(NodeError::Conflict(format!("no proposal for version {version} is collecting signatures")));
        };
        if self.domain.state_digest(&p.state) != digest {
            return Err(NodeError::Conflict(format!(
                "the rejection names state {digest}, not the proposal for version {version} collecting signatures"
            )));
        }
        let p = book.proposals.remove(&id).expect("present");
        let why = format!("{from} rejected version {version}: {reason}");
        if version == 0 && record.status == ChannelStatus::Proposed {
            record.status = ChannelStatus::Rejected;
            record.reason = Some(why.clone());
            self.store.put_channel(&record)?;
            self.emit(Event::ChannelRejected { channel_id: id, by: from, reason: reason.clone() });
        }
        self.emit(Event::UpdateRejected { channel_id: id, version, reason: why.clone() });
        let _ = p.done.send(Some(Err(NodeError::Rejected(why))));
        Ok(Reply::Ok)
    }

    async fn on_signed(&self, from: Address, signed: SignedJson) -> Result<Reply, NodeError> {
        let record = self.record(signed.state.channel_id)?;
        self.participant(&record, from)?;
        let signed: SignedState =
            (&signed).try_into().map_err(|e| NodeError::Invalid(format!("malformed signature: {e}")))?;
        let _book = self.book.lock().await;
        if self.take_signed(&record, &signed)? {
            self.settled(self.record(record.id)?, &signed)?;
        }
        Ok(Reply::Ok)
    }

    // ----- local decisions and proposals (the app API) ---------------------------------------

    /// Proposes a channel to its other participants and waits up to `wait` for their signatures.
    pub async fn propose_channel(
        &self,
        terms: Terms,
        mut peers: Vec<String>,
        data: Bytes,
        wait: Duration,
    ) -> Result<(B256, Outcome), NodeError> {
        let params = self.check_terms(&terms, &peers, &data)?;
        self.check_policy(&terms)?;
        let me = index_of(&terms, self.address).ok_or_else(|| {
            NodeError::Invalid(format!("this node's address {} is not among the participants", self.address))
        })?;
        peers[me] = self.peer_url.clone();
        let id = self.domain.channel_id(&params);
        let state = State { channelId: id, version: 0, data: data.clone(), isFinal: false };
        self.check_payment(&terms, None, &state, me).await?;
        let rx = {
            let mut book = self.book.lock().await;
            if self.store.channel(id)?.is_some() {
                return Err(NodeError::Conflict(format!(
                    "channel {id} exists already: choose another nonce for a new channel"
                )));
            }
            let record = ChannelRecord {
                id,
                terms: terms.clone(),
                peers: peers.clone(),
                me,
                proposer: me,
                status: ChannelStatus::Proposed,
                reason: None,
                incoming: None,
                chain: Default::default(),
                created_at: unix_now(),
            };
            self.store.put_channel(&record)?;
            self.start_proposal(&mut book, &record, state)
        };
        let message = Message::ProposeChannel { terms, peers, data };
        let record = self.record(id)?;
        Ok((id, self.collect(&record, 0, message, rx, wait).await?))
    }

    fn start_proposal(
        &self,
        book: &mut Book,
        record: &ChannelRecord,
        state: State,
    ) -> tokio_watch::Receiver<Option<Result<SignedState, NodeError>>> {
        let (done, rx) = tokio_watch::channel(None);
        let signatures = vec![None; record.terms.participants.len()];
        book.proposals.insert(record.id, Proposal { state, signatures, done });
        rx
    }

    /// Sends a proposal to every other participant, feeds their answers in, and waits.
    async fn collect(
        &self,
        record: &ChannelRecord,
        version: u64,
        message: Message,
        mut rx: tokio_watch::Receiver<Option<Result<SignedState, NodeError>>>,
        wait: Duration,
    ) -> Result<Outcome, NodeError> {
        let envelope = self.seal(&message);
        let sends = record.peers.iter().enumerate().filter(|(i, _)| *i != record.me).map(|(i, url)| {
            let envelope = envelope.clone();
            async move { (i, self.peers.send(url, &envelope, self.peer_timeout).await) }
        });
        for (who, answer) in futures::future::join_all(sends).await {
            let failure = match answer {
                Ok(Reply::Signed { signature }) => match Signature::parse(&signature) {
                    Ok(sig) => match self.add_signature(record, who, version, sig).await {
                        Ok(Some(full)) => {
                            self.spawn_signed(record, &full);
                            None
                        }
                        Ok(None) => None,
                        Err(e) => Some(e),
                    },
                    Err(e) => {
                        Some(NodeError::Invalid(format!("participant {who} answered a malformed signature: {e}")))
                    }
                },
                Ok(Reply::Pending) => None,
                Ok(other) => Some(NodeError::Invalid(format!("participant {who} answered {other:?}"))),
                Err(e) => Some(match e {
                    NodeError::Conflict(m)
                    | NodeError::Invalid(m)
                    | NodeError::Forbidden(m)
                    | NodeError::NotFound(m) => {
                        NodeError::Rejected(format!("participant {who} refused version {version}: {m}"))
                    }
                    other => other,
                }),
            };
            if let Some(err) = failure {
                self.abandon(record, version, err).await;
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

    async fn abandon(&self, record: &ChannelRecord, version: u64, err: NodeError) {
        let mut book = self.book.lock().await;
        let floor = book.floors.entry(record.id).or_default();
        *floor = (*floor).max(version);
        if let Some(p) = book.proposals.get(&record.id).filter(|p| p.state.version == version) {
            let _ = p.done.send(Some(Err(err.clone())));
            book.proposals.remove(&record.id);
            drop(book);
            self.emit(Event::UpdateRejected { channel_id: record.id, version, reason: err.to_string() });
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
        if data.len() > limits::MAX_DATA_LEN {
            return Err(NodeError::Invalid(format!(
                "state data is {} bytes; the limit is {}",
                data.len(),
                limits::MAX_DATA_LEN
            )));
        }
        let (rx, state, base) = {
            let mut book = self.book.lock().await;
            if record.status != ChannelStatus::Open {
                return Err(NodeError::Conflict(format!("channel {id} is {:?}, not open", record.status)));
            }
            if let Some(p) = book.proposals.get(&id) {
                return Err(NodeError::Conflict(format!(
                    "this node's proposal for version {} is still collecting signatures",
                    p.state.version
                )));
            }
            if let Some(inc) = &record.incoming {
                return Err(NodeError::Conflict(format!(
                    "participant {}'s proposal for version {} awaits your decision first",
                    inc.from, inc.state.version
                )));
            }
            let base =
                self.store.latest(id)?.ok_or_else(|| NodeError::Conflict("the channel has no signed state".into()))?;
            // Versions signed here in rounds that never settled are skipped.
            let floor = book.floors.get(&id).copied().unwrap_or(0);
            let high = self.store.highest_signed(id)?.unwrap_or(0).max(base.state.version).max(floor);
            if high >= base.state.version + MAX_VERSION_GAP {
                return Err(NodeError::Conflict(format!(
                    "{MAX_VERSION_GAP} versions above v{} were signed without settling; sync with the other \
                     participants first",
                    base.state.version
                )));
            }
            if let Some(v) = self.store.final_signed(id)? {
                return Err(NodeError::Conflict(format!(
                    "this node signed the final state v{v} of channel {id}: it signs nothing more for it"
                )));
            }
            if is_final {
                check_final_successor(high + 1, base.state.version, high)?;
            }
            let state = State { channelId: id, version: high + 1, data, isFinal: is_final };
            (self.start_proposal(&mut book, &record, state.clone()), state, base)
        };
        let message = Message::ProposeUpdate { state: (&state).into(), base: (&base).into() };
        self.collect(&record, state.version, message, rx, wait).await
    }

    /// The user's decision on a channel proposed by another participant.
    pub async fn decide_channel(&self, id: B256, accept: bool, reason: String) -> Result<(), NodeError> {
        let _book = self.book.lock().await;
        let mut record = self.record(id)?;
        let inc = match (&record.incoming, record.status) {
            (Some(inc), ChannelStatus::Proposed) if inc.state.version == 0 => inc.clone(),
            _ => return Err(NodeError::Conflict(format!("channel {id} has no proposal waiting for a decision"))),
        };
        let message = if accept {
            let sig = self.sign(id, &(&inc.state).into())?;
            Message::AcceptChannel { channel_id: id, signature: sig.to_bytes().to_vec().into() }
        } else {
            record.status = ChannelStatus::Rejected;
            record.reason = Some(format!("rejected here: {reason}"));
            let digest = self.domain.state_digest(&(&inc.state).into());
            Message::RejectChannel { channel_id: id, digest, reason }
        };
        record.incoming = None;
        // Queued first: an outbox that is full refuses the decision, and the proposal still waits
        // for one; a decision recorded without its message would never reach the proposer.
        self.enqueue(&record.peers[inc.from], &message)?;
        self.store.put_channel(&record)?;
        Ok(())
    }

    /// The user's decision on an update proposed by another participant.
    pub async fn decide_update(&self, id: B256, version: u64, accept: bool, reason: String) -> Result<(), NodeError> {
        if accept {
            let record = self.record(id)?;
            if let (Some(inc), Some(latest)) = (&record.incoming, self.store.latest(id)?) {
                self.check_payment(&record.terms, Some(&latest.state), &(&inc.state).into(), inc.from).await?;
            }
        }
        let _book = self.book.lock().await;
        let mut record = self.record(id)?;
        let inc = match &record.incoming {
            Some(inc) if inc.state.version == version && record.status == ChannelStatus::Open => inc.clone(),
            _ => {
                return Err(NodeError::Conflict(format!(
                    "channel {id} has no proposal for version {version} waiting for a decision"
                )))
            }
        };
        let state: State = (&inc.state).into();
        let message = if accept {
            let mut check = record.clone();
            check.incoming = None;
            let latest = self.store.latest(id)?.map_or(0, |s| s.state.version);
            self.check_update(&check, inc.from, &state, latest)?;
            let sig = self.sign(id, &state)?;
            Message::AcceptUpdate { channel_id: id, version, signature: sig.to_bytes().to_vec().into() }
        } else {
            Message::RejectUpdate { channel_id: id, version, digest: self.domain.state_digest(&state), reason }
        };
        record.incoming = None;
        // Queued first: an outbox that is full refuses the decision, and the proposal still waits
        // for one; a decision recorded without its message would never reach the proposer.
        self.enqueue(&record.peers[inc.from], &message)?;
        self.store.put_channel(&record)?;
        Ok(())
    }

    fn enqueue(&self, url: &str, message: &Message) -> Result<(), NodeError> {
        self.queue(url, message)
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
        if self.store.highest_signed(record.id)?.is_some_and(|h| held.is_none_or(|held| h > held)) {
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
            async move { tokio::time::timeout(timeout, self.peers.send(url, envelope, timeout)).await }
        });
        for answer in futures::future::join_all(asks).await {
            if let Ok(Ok(Reply::Latest { signed })) = answer {
                if let Ok(signed) = SignedState::try_from(&signed) {
                    let _book = self.book.lock().await;
                    if let Ok(true) = self.take_signed(record, &signed) {
                        if let Ok(r) = self.record(record.id) {
                            let _ = self.settled(r, &signed);
                        }
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
            let floor = self.book.lock().await.floors.get(&id).copied().unwrap_or(0);
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
