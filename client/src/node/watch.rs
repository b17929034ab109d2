//! The watchtower: follows the judge for this node's channels and answers any dispute started
//! with a state older than the latest fully signed one held here.
//!
//! Only disputes are answered. An older state checkpointed while the channel is Open threatens
//! nothing — the channel can become final only through a dispute (which is answered) or a
//! `conclude` with every participant's signature on a final state — so answering it would only
//! spend gas. Time is the chain's head block's.
//!
//! Two independent ways see a dispute, so that neither alone can make the node miss one:
//! - **the judge's logs**, read with `eth_getLogs` from the block after the last one processed
//!   (the *cursor*, kept in the store with its block hash) up to `head − confirmations`. The
//!   cursor moves only over a range whose logs were all decoded and whose events were all
//!   processed; a provider error halves the range (down to one block) and the range grows back
//!   after successes; a block hash at the cursor that changed means a reorg, and the cursor
//!   rewinds below it so the blocks are read again. A node that was down catches up on restart.
//! - **the judge's `status`** of every channel with something at stake (Open, or holding a fully
//!   signed state and not Closed), re-read on a schedule well inside the channel's dispute window
//!   whatever the logs said: an endpoint whose logs lag, drop or reorder events cannot hide a
//!   dispute for longer than that.
//!
//! Both feed the same channel record, and the answer is decided from it: a running dispute whose
//! on-chain version is older than the latest held is answered with `checkpoint` (the judge is
//! read once more just before, in case another watchtower answered). An answer that failed is
//! retried on the next pass. Errors are per channel: one channel's failure is reported (as
//! [`Event::WatchError`]) and never stops the others.
//!
//! A WebSocket subscription to new blocks, when an endpoint is given, only wakes the watchtower
//! early; polling stays the source of truth.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use avocado_codec::phase;
use serde::Serialize;
use tokio::sync::Notify;

use super::{Event, Node, NodeError};
use crate::chain::{ChainClient, ChainError, ChannelStatusOnChain, Head, JudgeEvent};
use crate::store::{ChannelRecord, ChannelStatus, Cursor};

/// How many blocks one `eth_getLogs` asks for at most (public endpoints cap the range).
const MAX_RANGE: u64 = 5_000;

/// How many `eth_getLogs` one pass makes at most, so a pass ends and the status re-read and the
/// answers run even while a long catch-up is under way.
const MAX_READS_PER_PASS: u32 = 64;

/// How far below the confirmation depth the cursor goes back when the chain reorganised under
/// it: the blocks are read again from there (processing an event twice changes nothing).
const REORG_MARGIN: u64 = 64;

/// How long one read of the chain may take before it counts as failed: a hung endpoint must not
/// stall the watchtower.
const RPC_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest time between two reads of a channel's `status` by the judge.
const MAX_STATUS_INTERVAL: Duration = Duration::from_secs(60);

/// Default confirmation depth: Arbitrum's sequencer rarely reorganises more than a block or two.
pub const DEFAULT_CONFIRMATIONS: u64 = 2;

/// How the watchtower reads the chain.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Logs are read up to `head − confirmations` only: blocks that recent may still be
    /// reorganised away, and load-balanced endpoints often serve logs a block or two behind
    /// their head. 0 reads up to the head.
    pub confirmations: u64,
    /// A WebSocket endpoint (`ws://`, `wss://`) announcing new blocks, to start a pass as soon
    /// as one is sealed instead of at the next poll.
    pub ws_url: Option<String>,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self { confirmations: DEFAULT_CONFIRMATIONS, ws_url: None }
    }
}

/// The WebSocket URL of the same endpoint as the JSON-RPC URL `rpc_url` (`http` → `ws`,
/// `https` → `wss`), for endpoints that serve both on one port (geth, the devnet); `None` when
/// `rpc_url` is not an HTTP URL.
pub fn ws_url_of(rpc_url: &str) -> Option<String> {
    if let Some(rest) = rpc_url.strip_prefix("https://") {
        Some(format!("wss://{rest}"))
    } else {
        rpc_url.strip_prefix("http://").map(|rest| format!("ws://{rest}"))
    }
}

/// Where the watchtower stands after its last pass: how far behind the chain it reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchStatus {
    /// The chain's head block.
    pub head: u64,
    /// The last block whose logs were all processed.
    pub cursor: u64,
    /// Blocks between the cursor and the head (at least the confirmation depth): how old the
    /// newest event the watchtower could have seen in the logs is.
    pub lag: u64,
    /// Blocks the next `eth_getLogs` asks for (shrinks after provider errors).
    pub range: u64,
    /// Reorgs noticed under the cursor since the node started.
    pub reorgs: u64,
}

/// What the watchtower keeps in memory between passes (the cursor itself is in the store).
pub(crate) struct WatchState {
    pub(crate) config: WatchConfig,
    progress: std::sync::Mutex<Progress>,
    /// Woken by the block subscription: start a pass now.
    wake: Notify,
}

struct Progress {
    range: u64,
    /// When each channel's `status` was last read successfully.
    status_read: HashMap<B256, Instant>,
    status: WatchStatus,
}

impl WatchState {
    /// The state of a watchtower that has not run yet.
    pub(crate) fn new(config: WatchConfig) -> Self {
        let progress = Progress { range: MAX_RANGE, status_read: HashMap::new(), status: WatchStatus::default() };
        Self { config, progress: std::sync::Mutex::new(progress), wake: Notify::new() }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why (part of) a watchtower pass failed. Each is reported and retried on the next pass.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WatchError {
    /// The chain's head could not be read: nothing else was tried.
    #[error("reading the chain's head: {0}")]
    Head(NodeError),
    /// The judge's logs could not be read even one block at a time; the cursor did not move.
    #[error("reading the judge's logs in blocks {from}..={to}: {source}")]
    Logs {
        /// First block of the range.
        from: u64,
        /// Last block of the range.
        to: u64,
        /// What failed.
        source: NodeError,
    },
    /// The chain changed while a range was read; the range is read again on the next pass.
    #[error("block {block} changed while its logs were read (a reorg): reading them again")]
    Reorged {
        /// The block whose hash changed.
        block: u64,
    },
    /// The logs are read up to an older block than the confirmation depth allows.
    #[error("the judge's logs are read up to block {cursor} only, {lag} blocks behind the head {head}")]
    Behind {
        /// The last block processed.
        cursor: u64,
        /// The head.
        head: u64,
        /// `head − cursor`.
        lag: u64,
    },
    /// Something failed for one channel; the others were still watched.
    #[error("channel {channel}: {source}")]
    Channel {
        /// The channel.
        channel: B256,
        /// What failed.
        source: NodeError,
    },
    /// The store failed: the cursor or the channels could not be read or written.
    #[error("the store: {0}")]
    Store(NodeError),
}

/// Runs a read of the chain with [`RPC_TIMEOUT`].
async fn timed<T>(what: &str, f: impl Future<Output = Result<T, ChainError>>) -> Result<T, NodeError> {
    match tokio::time::timeout(RPC_TIMEOUT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ChainError::Rpc(format!("{what}: no answer within {} s", RPC_TIMEOUT.as_secs())).into()),
    }
}

/// How often the `status` of a channel with dispute window `challenge_duration` (seconds) is
/// read: an eighth of the window, at least every [`MAX_STATUS_INTERVAL`], at most every three
/// polls (a shorter window than that cannot be defended by polling anyway).
pub fn status_interval(challenge_duration: u64, poll: Duration) -> Duration {
    (Duration::from_secs(challenge_duration) / 8).min(MAX_STATUS_INTERVAL).max(poll * 3)
}

/// Whether a channel has something the watchtower defends: it is Open, or it holds a fully
/// signed state and is not Closed.
fn at_stake(node: &Node, record: &ChannelRecord) -> Result<bool, NodeError> {
    Ok(match record.status {
        ChannelStatus::Open => true,
        ChannelStatus::Closed => false,
        ChannelStatus::Proposed | ChannelStatus::Rejected => node.store.latest(record.id)?.is_some(),
    })
}

impl Node {
    /// Runs the watchtower: a pass every `every` (or as soon as the block subscription announces
    /// a block), forever. Each failure of a pass is logged and emitted as [`Event::WatchError`].
    pub async fn run_watchtower(self: Arc<Self>, every: Duration) {
        if let Some(url) = self.watch.config.ws_url.clone() {
            tokio::spawn(run_wakeups(Arc::downgrade(&self), url));
        }
        // Passes started by new blocks are at least this far apart (a fast chain announces
        // several blocks a second).
        let floor = every.min(Duration::from_millis(250));
        loop {
            let started = tokio::time::Instant::now();
            for e in self.watch_once(every).await {
                tracing::warn!("watchtower: {e}");
                self.emit(Event::WatchError { message: format!("watchtower: {e}") });
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.watch.wake.notified() => tokio::time::sleep_until(started + floor).await,
            }
        }
    }

    /// Where the watchtower stood after its last pass (all zero before the first).
    pub fn watch_status(&self) -> WatchStatus {
        self.watch.progress().status
    }

    /// One pass: read the judge's new logs, re-read the `status` of channels whose last read is
    /// older than their schedule, answer stale states in running disputes, notice deadlines
    /// passed. `poll` is the interval between passes; it sets the status schedule's floor and
    /// the stagger between participants.
    ///
    /// Every participant's watchtower guards the channel; so that they do not all pay for the
    /// same answer, participant `i` waits `i × 3 × poll` after first seeing a dispute (and checks
    /// the judge again) before answering it. Participant 0 answers at once.
    ///
    /// Returns what failed; everything that did not fail was done.
    pub async fn watch_once(&self, poll: Duration) -> Vec<WatchError> {
        let chain = match self.chain_client() {
            Ok(c) => c.clone(),
            Err(e) => return vec![WatchError::Head(e)],
        };
        let head = match timed("eth_getBlockByNumber(latest)", chain.head()).await {
            Ok(h) => h,
            Err(e) => return vec![WatchError::Head(e)],
        };
        let mut errors = Vec::new();
        if let Err(e) = self.follow_logs(chain.as_ref(), &head).await {
            errors.push(e);
        }
        let status = self.watch_status();
        if status.lag > self.watch.config.confirmations {
            errors.push(WatchError::Behind { cursor: status.cursor, head: head.number, lag: status.lag });
        }
        tracing::debug!(head = head.number, cursor = status.cursor, lag = status.lag, "watchtower pass");
        let records = match self.store.channels() {
            Ok(r) => r,
            Err(e) => {
                errors.push(WatchError::Store(e.into()));
                return errors;
            }
        };
        for record in records {
            let id = record.id;
            if let Err(source) = self.guard(chain.as_ref(), record, &head, poll).await {
                errors.push(WatchError::Channel { channel: id, source });
            }
        }
        errors
    }

    /// Reads the judge's logs from the cursor up to `head − confirmations`.
    async fn follow_logs(&self, chain: &dyn ChainClient, head: &Head) -> Result<(), WatchError> {
        let confirmations = self.watch.config.confirmations;
        let safe = head.number.saturating_sub(confirmations);
        let hash_of = |n: u64| timed("eth_getBlockByNumber", chain.block_hash(n));
        let cursor_err = |e: crate::store::StoreError| WatchError::Store(e.into());
        let mut cursor = match self.store.cursor().map_err(cursor_err)? {
            Some(c) => c,
            // First start: nothing of ours can be older than the node itself.
            None => {
                let hash = hash_of(safe).await.map_err(|source| WatchError::Logs { from: safe, to: safe, source })?;
                let c = Cursor { block: safe, hash };
                self.store.set_cursor(c).map_err(cursor_err)?;
                self.note_progress(head, c.block, |_| {});
                return Ok(());
            }
        };
        let at = cursor.block;
        let now = hash_of(at).await.map_err(|source| WatchError::Logs { from: at, to: at, source })?;
        match (cursor.hash, now) {
            // The endpoint does not have the cursor's block (it is behind, or the chain got
            // shorter): nothing can be read consistently until it does.
            (_, None) => {
                self.note_progress(head, at, |_| {});
                return Ok(());
            }
            (Some(kept), Some(now)) if kept != now => {
                let back = at.saturating_sub(confirmations + REORG_MARGIN);
                let hash = hash_of(back).await.map_err(|source| WatchError::Logs { from: back, to: at, source })?;
                tracing::warn!(block = at, rewound_to = back, "watchtower: the chain reorganised under the cursor");
                cursor = Cursor { block: back, hash };
                self.store.set_cursor(cursor).map_err(cursor_err)?;
                self.note_progress(head, back, |p| p.status.reorgs += 1);
            }
            _ => {}
        }
        // The lag is this pass's even if a read below fails.
        self.note_progress(head, cursor.block, |_| {});
        let mut from = cursor.block + 1;
        let mut reads = 0;
        while from <= safe && reads < MAX_READS_PER_PASS {
            reads += 1;
            let range = self.watch.progress().range;
            let to = (from + range - 1).min(safe);
            let logs_err = |source| WatchError::Logs { from, to, source };
            let before = hash_of(to).await.map_err(logs_err)?;
            let events = match timed("eth_getLogs", chain.events(from, to)).await {
                Ok(events) => events,
                Err(source) if range > 1 => {
                    tracing::info!(from, to, "watchtower: eth_getLogs failed ({source}); asking for fewer blocks");
                    self.note_progress(head, cursor.block, |p| p.range = (range / 2).max(1));
                    continue;
                }
                Err(source) => return Err(logs_err(source)),
            };
            let after = hash_of(to).await.map_err(logs_err)?;
            if before.is_none() || after.is_none() {
                let unknown = ChainError::Rpc(format!("the endpoint does not know block {to}, below its head"));
                return Err(logs_err(unknown.into()));
            }
            if before != after {
                return Err(WatchError::Reorged { block: to });
            }
            // Every event is processed even when one fails (they concern other channels), but
            // the cursor moves only when all were: the range is read again otherwise.
            let mut failed = None;
            for (block, event) in events {
                if let Err(source) = self.on_judge_event(block, &event).await {
                    failed.get_or_insert(WatchError::Channel { channel: event.channel(), source });
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            cursor = Cursor { block: to, hash: after };
            self.store.set_cursor(cursor).map_err(cursor_err)?;
            self.note_progress(head, to, |p| p.range = (range * 2).min(MAX_RANGE));
            from = to + 1;
        }
        self.note_progress(head, cursor.block, |_| {});
        Ok(())
    }

    fn note_progress(&self, head: &Head, cursor: u64, f: impl FnOnce(&mut Progress)) {
        let mut p = self.watch.progress();
        f(&mut p);
        p.status.head = head.number;
        p.status.cursor = cursor;
        p.status.lag = head.number.saturating_sub(cursor);
        p.status.range = p.range;
    }

    async fn on_judge_event(&self, block: u64, event: &JudgeEvent) -> Result<(), NodeError> {
        let id = event.channel();
        if self.store.channel(id)?.is_none() {
            return Ok(());
        }
        let (what, version, finalizes_at) = match *event {
            JudgeEvent::Opened { .. } => ("opened", 0, 0),
            JudgeEvent::Checkpointed { version, .. } => ("checkpointed", version, 0),
            JudgeEvent::ChallengeStarted { version, finalizes_at, .. } => ("challengeStarted", version, finalizes_at),
            JudgeEvent::Concluded { version, .. } => ("concluded", version, 0),
        };
        self.note_chain(id, |r| match event {
            JudgeEvent::Opened { .. } => r.chain.phase = r.chain.phase.max(phase::OPEN),
            JudgeEvent::Checkpointed { version, .. } => {
                r.chain.version = r.chain.version.max(*version);
                r.chain.phase = r.chain.phase.max(phase::OPEN);
            }
            // A final channel stays final (an event read again after a reorg is older news).
            JudgeEvent::ChallengeStarted { version, finalizes_at, .. } if r.chain.phase != phase::FINAL => {
                r.chain.version = r.chain.version.max(*version);
                r.chain.phase = phase::CHALLENGE;
                r.chain.finalizes_at = *finalizes_at;
            }
            JudgeEvent::ChallengeStarted { .. } => {}
            JudgeEvent::Concluded { version, .. } => {
                r.chain.version = *version;
                r.chain.phase = phase::FINAL;
                r.status = ChannelStatus::Closed;
            }
        })
        .await?;
        self.emit(Event::Chain { channel_id: id, what: what.into(), version, finalizes_at, block });
        if let JudgeEvent::Concluded { version, .. } = event {
            self.emit(Event::ChannelFinal { channel_id: id, version: *version });
        }
        Ok(())
    }

    /// Everything the watchtower does for one channel in a pass: re-read its status when due,
    /// answer a stale state, notice a deadline passed.
    async fn guard(
        &self,
        chain: &dyn ChainClient,
        mut record: ChannelRecord,
        head: &Head,
        poll: Duration,
    ) -> Result<(), NodeError> {
        if record.status == ChannelStatus::Closed {
            return Ok(());
        }
        let id = record.id;
        let due = {
            let p = self.watch.progress();
            let every = status_interval(record.terms.challenge_duration, poll);
            p.status_read.get(&id).is_none_or(|t| t.elapsed() >= every)
        };
        if due && at_stake(self, &record)? {
            let s = timed("status", chain.status(id)).await?;
            self.apply_status(&record, &s, head).await?;
            self.watch.progress().status_read.insert(id, Instant::now());
            record = self.record(id)?;
        }
        self.answer_stale(chain, &record, head, poll * 3).await?;
        self.notice_deadline(chain, &record, head).await
    }

    /// Takes the judge's `status` of a channel into its record, and tells the app what changed,
    /// exactly as the matching event would have.
    async fn apply_status(
        &self,
        record: &ChannelRecord,
        s: &ChannelStatusOnChain,
        head: &Head,
    ) -> Result<(), NodeError> {
        let id = record.id;
        let c = record.chain;
        let what = match s.phase {
            phase::CHALLENGE if c.phase != phase::CHALLENGE => "challengeStarted",
            phase::CHALLENGE if c.version < s.version || c.finalizes_at != s.finalizes_at => "checkpointed",
            phase::OPEN if c.phase == phase::NONE => "opened",
            // A dispute the logs reported but the judge does not hold was reorganised away.
            phase::OPEN if c.version < s.version || c.phase == phase::CHALLENGE => "checkpointed",
            phase::FINAL => "concluded",
            _ => return Ok(()),
        };
        let status = *s;
        self.note_chain(id, |r| {
            r.chain.phase = status.phase;
            r.chain.finalizes_at = if status.phase == phase::OPEN { 0 } else { status.finalizes_at };
            r.chain.version =
                if status.phase == phase::FINAL { status.version } else { r.chain.version.max(status.version) };
            if status.phase == phase::FINAL {
                r.status = ChannelStatus::Closed;
            }
        })
        .await?;
        tracing::info!(channel = %id, what, version = s.version, "watchtower: the judge's status changed");
        self.emit(Event::Chain {
            channel_id: id,
            what: what.into(),
            version: s.version,
            finalizes_at: s.finalizes_at,
            block: head.number,
        });
        if s.phase == phase::FINAL {
            self.emit(Event::ChannelFinal { channel_id: id, version: s.version });
        }
        Ok(())
    }

    /// Posts the latest state of a channel in dispute whose on-chain version is older, while the
    /// deadline has not passed.
    async fn answer_stale(
        &self,
        chain: &dyn ChainClient,
        record: &ChannelRecord,
        head: &Head,
        stagger: Duration,
    ) -> Result<(), NodeError> {
        let c = record.chain;
        if record.status == ChannelStatus::Closed {
            return Ok(());
        }
        let latest = self.store.latest(record.id)?;
        let held = latest.as_ref().map(|l| l.state.version);
        let in_dispute = c.phase == phase::CHALLENGE;
        if !crate::protocol::rules::must_answer(in_dispute, c.version, c.finalizes_at, head.timestamp, held) {
            return Ok(());
        }
        let Some(latest) = latest else { return Ok(()) };
        let first_seen =
            *self.disputes_seen.lock().expect("not poisoned").entry(record.id).or_insert_with(Instant::now);
        let time_left = c.finalizes_at.saturating_sub(head.timestamp);
        let my_turn = first_seen.elapsed() >= stagger * record.me as u32;
        // Never wait when the deadline is near.
        if !my_turn && Duration::from_secs(time_left) > stagger * 4 {
            return Ok(());
        }
        // Another watchtower may have answered since the judge was read.
        let now = timed("status", chain.status(record.id)).await?;
        if now.version >= latest.state.version || now.phase != phase::CHALLENGE {
            return self.apply_status(record, &now, head).await;
        }
        let (version, receipt) = self.checkpoint(record.id).await?;
        tracing::info!(channel = %record.id, stale = c.version, version, "watchtower answered a stale state");
        self.note_chain(record.id, |r| r.chain.version = r.chain.version.max(version)).await?;
        self.emit(Event::Answered { channel_id: record.id, stale_version: c.version, version, receipt });
        Ok(())
    }

    /// Closes a channel whose dispute deadline passed, once the judge confirms it is final.
    async fn notice_deadline(
        &self,
        chain: &dyn ChainClient,
        record: &ChannelRecord,
        head: &Head,
    ) -> Result<(), NodeError> {
        let c = record.chain;
        if c.phase != phase::CHALLENGE || head.timestamp < c.finalizes_at {
            return Ok(());
        }
        // The record may hold a dispute that a reorg removed: the judge has the last word.
        let s = timed("status", chain.status(record.id)).await?;
        if s.phase == phase::FINAL || (s.phase == phase::CHALLENGE && head.timestamp >= s.finalizes_at) {
            self.note_chain(record.id, |r| {
                r.chain.phase = phase::FINAL;
                r.chain.version = s.version;
                r.status = ChannelStatus::Closed;
            })
            .await?;
            self.emit(Event::ChannelFinal { channel_id: record.id, version: s.version });
            Ok(())
        } else {
            self.apply_status(record, &s, head).await
        }
    }
}

/// Follows the block subscription at `ws_url` and wakes the watchtower on each block, for as
/// long as the node lives; a dropped subscription is opened again after a backoff (250 ms,
/// doubling up to 30 s, back to 250 ms once blocks flow again).
async fn run_wakeups(node: Weak<Node>, ws_url: String) {
    let mut backoff = Duration::from_millis(250);
    loop {
        if node.strong_count() == 0 {
            return;
        }
        let mut flowing = false;
        let result = crate::chain::follow_new_heads(&ws_url, |_| match node.upgrade() {
            Some(n) => {
                flowing = true;
                n.watch.wake.notify_one();
                true
            }
            None => false,
        })
        .await;
        match result {
            Ok(()) => return,
            Err(e) => {
                if flowing {
                    backoff = Duration::from_millis(250);
                }
                tracing::info!("watchtower: block subscription: {e}; polling meanwhile, retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The watchtower against a scripted chain: an endpoint whose logs lag its head, drop events,
    //! fail on large ranges, reorganise, or fail for one channel only.

    use std::collections::HashSet;
    use std::sync::Mutex;

    use alloy_primitives::{keccak256, Address, Bytes, U256};
    use alloy_sol_types::SolCall;
    use avocado_codec::{signer, Domain, IAvocadoJudge as I, State};
    use futures::future::BoxFuture;
    use k256::ecdsa::SigningKey;

    use super::*;
    use crate::chain::TxReceipt;
    use crate::message::Terms;
    use crate::node::{NodeConfig, Policy};
    use crate::signed::SignedState;
    use crate::store::{ChainView, RedbStore};

    /// The scripted chain's state.
    #[derive(Default)]
    struct World {
        /// Hash of each block, by number.
        hashes: Vec<B256>,
        /// Makes the hashes of a reorganised chain differ from the old ones.
        fork: u64,
        /// `(block, index in block, event)`.
        logs: Vec<(u64, u64, JudgeEvent)>,
        status: HashMap<B256, ChannelStatusOnChain>,
        /// `eth_getLogs` sees only blocks up to `head − logs_lag`.
        logs_lag: u64,
        /// `eth_getLogs` answers `[]`.
        drop_logs: bool,
        /// `eth_getLogs` over more blocks than this fails.
        max_span: Option<u64>,
        /// `status` of these channels fails.
        failing_status: HashSet<B256>,
        /// Every `eth_getLogs` range asked.
        reads: Vec<(u64, u64)>,
        /// Every checkpoint posted: `(channel, version)`.
        answers: Vec<(B256, u64)>,
        /// The next `eth_getLogs` answers from the current chain, then the blocks it covered
        /// are replaced, with a dispute of this channel at this version in the new fork.
        reorg_during_read: Option<(B256, u64)>,
    }

    impl World {
        fn head(&self) -> u64 {
            self.hashes.len() as u64 - 1
        }

        fn mine(&mut self, blocks: u64) {
            for _ in 0..blocks {
                let n = self.hashes.len() as u64;
                self.hashes.push(keccak256([n.to_be_bytes(), self.fork.to_be_bytes()].concat()));
            }
        }

        /// Replaces blocks `from..` with a longer fork: their logs are gone.
        fn reorg(&mut self, from: u64, new_head: u64) {
            self.fork += 1;
            self.hashes.truncate(from as usize);
            self.logs.retain(|(b, _, _)| *b < from);
            self.mine(new_head + 1 - from);
        }

        /// Mines a block holding a dispute of `channel` at `version`.
        fn challenge(&mut self, channel: B256, version: u64) -> u64 {
            self.mine(1);
            let block = self.head();
            let finalizes_at = 1_000_000;
            // Logs arrive out of order within a block on some endpoints.
            self.logs.push((block, 1, JudgeEvent::Checkpointed { channel: B256::repeat_byte(0xee), version: 1 }));
            self.logs.push((
                block,
                0,
                JudgeEvent::ChallengeStarted { channel, challenger: Address::ZERO, version, finalizes_at },
            ));
            self.status.insert(
                channel,
                ChannelStatusOnChain { phase: phase::CHALLENGE, version, finalizes_at, data_hash: B256::ZERO },
            );
            block
        }
    }

    struct FakeChain(Mutex<World>);

    impl FakeChain {
        fn world(&self) -> std::sync::MutexGuard<'_, World> {
            self.0.lock().unwrap()
        }
    }

    fn ready<T: Send + 'static>(v: T) -> BoxFuture<'static, T> {
        Box::pin(async move { v })
    }

    impl ChainClient for FakeChain {
        fn chain_id(&self) -> u64 {
            1
        }
        fn judge(&self) -> Address {
            Address::repeat_byte(0xa0)
        }
        fn transact(
            &self,
            _to: Address,
            calldata: Vec<u8>,
            _value: U256,
        ) -> BoxFuture<'_, Result<TxReceipt, ChainError>> {
            let mut w = self.world();
            let call = I::checkpointCall::abi_decode(&calldata).expect("only checkpoints are sent");
            let (id, version) = (call.state.channelId, call.state.version);
            if w.failing_status.contains(&id) {
                return ready(Err(ChainError::Rpc("connection reset".into())));
            }
            w.mine(1);
            let block = w.head();
            w.status.get_mut(&id).expect("a known channel").version = version;
            w.logs.push((block, 0, JudgeEvent::Checkpointed { channel: id, version }));
            w.answers.push((id, version));
            ready(Ok(TxReceipt { tx: B256::repeat_byte(1), gas_used: 1, block, gas_price: 1 }))
        }
        fn read(&self, _to: Address, _calldata: Vec<u8>) -> BoxFuture<'_, Result<Bytes, ChainError>> {
            ready(Err(ChainError::Rpc("not scripted".into())))
        }
        fn balance(&self, _who: Address) -> BoxFuture<'_, Result<U256, ChainError>> {
            ready(Ok(U256::ZERO))
        }
        fn status(&self, channel: B256) -> BoxFuture<'_, Result<ChannelStatusOnChain, ChainError>> {
            let w = self.world();
            if w.failing_status.contains(&channel) {
                return ready(Err(ChainError::Rpc("connection reset".into())));
            }
            ready(Ok(w.status.get(&channel).copied().unwrap_or(ChannelStatusOnChain {
                phase: phase::NONE,
                version: 0,
                finalizes_at: 0,
                data_hash: B256::ZERO,
            })))
        }
        fn head(&self) -> BoxFuture<'_, Result<Head, ChainError>> {
            let w = self.world();
            let number = w.head();
            ready(Ok(Head { number, timestamp: 1_000 + number, hash: w.hashes[number as usize] }))
        }
        fn block_hash(&self, number: u64) -> BoxFuture<'_, Result<Option<B256>, ChainError>> {
            ready(Ok(self.world().hashes.get(number as usize).copied()))
        }
        fn events(&self, from: u64, to: u64) -> BoxFuture<'_, Result<Vec<(u64, JudgeEvent)>, ChainError>> {
            let mut w = self.world();
            w.reads.push((from, to));
            if w.max_span.is_some_and(|m| to + 1 - from > m) {
                return ready(Err(ChainError::Rpc("query returned more than 10000 results".into())));
            }
            if w.drop_logs {
                return ready(Ok(Vec::new()));
            }
            let visible = w.head().saturating_sub(w.logs_lag);
            let mut logs: Vec<_> =
                w.logs.iter().filter(|(b, _, _)| *b >= from && *b <= to.min(visible)).cloned().collect();
            logs.sort_by_key(|(b, i, _)| (*b, *i));
            if let Some((channel, version)) = w.reorg_during_read.take() {
                let head = w.head();
                w.reorg(from, from);
                w.challenge(channel, version);
                w.mine(head - from);
            }
            ready(Ok(logs.into_iter().map(|(b, _, e)| (b, e)).collect()))
        }
    }

    struct Setup {
        node: Arc<Node>,
        chain: Arc<FakeChain>,
        dir: std::path::PathBuf,
    }

    impl Drop for Setup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A dispute window long enough that the status re-read is not due again during a test.
    const LONG: u64 = 100_000;
    /// The poll interval the passes are run with.
    const POLL: Duration = Duration::from_secs(1);

    fn setup(name: &str, confirmations: u64) -> Setup {
        let dir = std::env::temp_dir().join(format!("avocado-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Arc::new(RedbStore::open(&dir.join("node.redb")).unwrap());
        let mut world = World::default();
        world.mine(11); // blocks 0..=10
        let chain = Arc::new(FakeChain(Mutex::new(world)));
        let config = NodeConfig {
            key: SigningKey::from_slice(keccak256(b"watch test key").as_slice()).unwrap(),
            domain: Domain::new(1, Address::repeat_byte(0xa0)),
            peer_url: "http://127.0.0.1:1".into(),
            policy: Policy::default(),
            peer_timeout: Duration::from_millis(10),
            escrow: None,
            watch: WatchConfig { confirmations, ws_url: None },
            bounds: Default::default(),
        };
        let node = Node::new(config, store, Some(chain.clone() as Arc<dyn ChainClient>));
        Setup { node, chain, dir }
    }

    /// Adds an Open channel (open on chain at v0) whose latest fully signed state is `latest`.
    fn channel(s: &Setup, byte: u8, challenge_duration: u64, latest: u64) -> B256 {
        let id = B256::repeat_byte(byte);
        let terms = Terms {
            participants: vec![s.node.address()],
            nonce: byte as u64,
            challenge_duration,
            executive: Address::ZERO,
        };
        s.node
            .store
            .put_channel(&ChannelRecord {
                id,
                terms,
                peers: vec!["http://127.0.0.1:1".into()],
                me: 0,
                proposer: 0,
                status: ChannelStatus::Open,
                reason: None,
                incoming: None,
                chain: ChainView { phase: phase::OPEN, version: 0, finalizes_at: 0 },
                created_at: 0,
            })
            .unwrap();
        let state = State { channelId: id, version: latest, data: Bytes::from_static(b"latest"), isFinal: false };
        let sig = signer::sign(&s.node.key, &s.node.domain.state_digest(&state));
        s.node.store.save_latest(&SignedState { state, signatures: vec![sig] }).unwrap();
        s.chain.world().status.insert(
            id,
            ChannelStatusOnChain { phase: phase::OPEN, version: 0, finalizes_at: 0, data_hash: B256::ZERO },
        );
        id
    }

    async fn pass(s: &Setup) -> Vec<WatchError> {
        s.node.watch_once(POLL).await
    }

    fn chain_events(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let Event::Chain { what, block, .. } = e {
                out.push((what, block));
            }
        }
        out
    }

    #[tokio::test]
    async fn lagging_logs_are_read_once_confirmed() {
        let s = setup("lag", 2);
        let id = channel(&s, 1, LONG, 5);
        s.chain.world().logs_lag = 1;
        assert!(pass(&s).await.is_empty(), "first pass: the cursor starts below the head");
        assert_eq!(s.node.store.cursor().unwrap().unwrap().block, 8);
        let mut rx = s.node.subscribe();
        let block = s.chain.world().challenge(id, 2);
        // Logs read up to head − 2 only: the block of the dispute is not read before it is
        // confirmed, and its logs (one block late on this endpoint) are there by then.
        for _ in 0..3 {
            assert!(pass(&s).await.is_empty());
            s.chain.world().mine(1);
        }
        assert!(pass(&s).await.is_empty());
        assert_eq!(s.chain.world().answers, vec![(id, 5)], "answered once, with the latest");
        let seen = chain_events(&mut rx);
        assert!(seen.contains(&("challengeStarted".into(), block)), "seen in the logs: {seen:?}");
        let st = s.node.watch_status();
        assert_eq!((st.head - st.cursor, st.lag), (2, 2), "{st:?}");
        // No range was read twice, none skipped.
        let reads = s.chain.world().reads.clone();
        for w in reads.windows(2) {
            assert_eq!(w[1].0, w[0].1 + 1, "{reads:?}");
        }
    }

    #[tokio::test]
    async fn dropped_logs_are_made_up_for_by_the_status_reread() {
        let s = setup("dropped", 0);
        // A window of 8 s: the status is read every second at most (3 polls of 1 ms is less).
        let id = channel(&s, 1, 8, 5);
        s.chain.world().drop_logs = true;
        let poll = Duration::from_millis(1);
        assert!(s.node.watch_once(poll).await.is_empty());
        let block = s.chain.world().challenge(id, 2);
        s.chain.world().mine(3);
        let mut rx = s.node.subscribe();
        assert!(s.node.watch_once(poll).await.is_empty());
        assert!(s.chain.world().answers.is_empty(), "the status is not due yet");
        assert_eq!(s.node.store.cursor().unwrap().unwrap().block, s.chain.world().head(), "logs read past it");
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert!(s.node.watch_once(poll).await.is_empty());
        assert_eq!(s.chain.world().answers, vec![(id, 5)]);
        let seen = chain_events(&mut rx);
        assert!(seen.iter().any(|(w, b)| w == "challengeStarted" && *b > block), "seen in the status: {seen:?}");
        assert_eq!(status_interval(8, poll), Duration::from_secs(1));
        assert_eq!(status_interval(24 * 3600, poll), MAX_STATUS_INTERVAL);
        assert_eq!(status_interval(8, POLL), Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_reorg_under_the_cursor_is_read_again() {
        let s = setup("reorg", 2);
        let id = channel(&s, 1, LONG, 5);
        s.chain.world().mine(10);
        assert!(pass(&s).await.is_empty());
        assert_eq!(s.node.store.cursor().unwrap().unwrap().block, 18);
        assert!(pass(&s).await.is_empty());
        // Blocks 15.. are replaced; the new fork holds a dispute in block 16, below the cursor.
        let block = {
            let mut w = s.chain.world();
            w.reorg(15, 15);
            let b = w.challenge(id, 2);
            w.mine(6);
            b
        };
        let mut rx = s.node.subscribe();
        assert!(pass(&s).await.is_empty());
        assert_eq!(s.node.watch_status().reorgs, 1);
        assert_eq!(s.chain.world().answers, vec![(id, 5)]);
        assert!(chain_events(&mut rx).contains(&("challengeStarted".into(), block)));
        let w = s.chain.world();
        let cursor = s.node.store.cursor().unwrap().unwrap();
        assert_eq!(cursor.hash, Some(w.hashes[cursor.block as usize]), "the cursor holds the new fork's hash");
    }

    #[tokio::test]
    async fn a_reorg_while_a_range_is_read_leaves_the_cursor_and_the_range_is_read_again() {
        let s = setup("reorg-read", 2);
        let id = channel(&s, 1, LONG, 5);
        assert!(pass(&s).await.is_empty());
        let cursor = s.node.store.cursor().unwrap().unwrap();
        {
            let mut w = s.chain.world();
            w.mine(5);
            w.reorg_during_read = Some((id, 2));
        }
        let errors = pass(&s).await;
        assert!(matches!(errors.as_slice(), [WatchError::Reorged { .. }, WatchError::Behind { .. }]), "{errors:?}");
        assert_eq!(s.node.store.cursor().unwrap().unwrap(), cursor, "the cursor did not move");
        assert!(s.chain.world().answers.is_empty());
        assert!(pass(&s).await.is_empty());
        assert_eq!(s.chain.world().answers, vec![(id, 5)], "the new fork's dispute was read");
    }

    #[tokio::test]
    async fn provider_errors_shrink_the_range_and_it_grows_back() {
        let s = setup("shrink", 0);
        let id = channel(&s, 1, LONG, 5);
        assert!(pass(&s).await.is_empty());
        let block = {
            let mut w = s.chain.world();
            w.max_span = Some(3);
            w.mine(20);
            let b = w.challenge(id, 2);
            w.mine(20);
            b
        };
        let head = s.chain.world().head();
        assert!(pass(&s).await.is_empty());
        assert_eq!(s.node.store.cursor().unwrap().unwrap().block, head, "caught up in small ranges");
        assert_eq!(s.chain.world().answers, vec![(id, 5)], "the dispute in block {block} was read");
        // Each success doubles the range: at most one success past the endpoint's limit.
        assert!(s.node.watch_status().range <= 8, "{:?}", s.node.watch_status());
        // Every block read exactly once by the reads that succeeded.
        let ok: Vec<_> = s.chain.world().reads.iter().filter(|(f, t)| t + 1 - f <= 3).copied().collect();
        for w in ok.windows(2) {
            assert_eq!(w[1].0, w[0].1 + 1, "{ok:?}");
        }
        // The endpoint recovers: the range grows back.
        {
            let mut w = s.chain.world();
            w.max_span = None;
            w.reads.clear();
        }
        for _ in 0..6 {
            s.chain.world().mine(50);
            assert!(pass(&s).await.is_empty());
        }
        assert!(s.node.watch_status().range >= 64, "{:?}", s.node.watch_status());
        assert!(s.chain.world().reads.iter().any(|(f, t)| t + 1 - f >= 50), "{:?}", s.chain.world().reads);
        // Down to one block and still failing: an error, and the cursor stays.
        let before = s.node.store.cursor().unwrap().unwrap();
        s.chain.world().max_span = Some(0);
        s.chain.world().mine(5);
        let errors = pass(&s).await;
        assert!(errors.iter().any(|e| matches!(e, WatchError::Logs { .. })), "{errors:?}");
        assert!(errors.iter().any(|e| matches!(e, WatchError::Behind { lag: 5, .. })), "{errors:?}");
        assert_eq!(s.node.store.cursor().unwrap().unwrap(), before);
        assert_eq!(s.node.watch_status().range, 1);
    }

    #[tokio::test]
    async fn a_failing_channel_does_not_stop_another() {
        let s = setup("failing", 0);
        let a = channel(&s, 1, LONG, 5);
        let b = channel(&s, 2, LONG, 7);
        assert!(pass(&s).await.is_empty());
        {
            let mut w = s.chain.world();
            w.challenge(a, 1);
            w.challenge(b, 3);
            w.failing_status.insert(a);
        }
        let errors = pass(&s).await;
        assert!(
            matches!(errors.as_slice(), [WatchError::Channel { channel, .. }] if *channel == a),
            "only channel a failed: {errors:?}"
        );
        assert!(errors[0].to_string().contains("connection reset"), "{}", errors[0]);
        assert_eq!(s.chain.world().answers, vec![(b, 7)], "b was answered");
        // a is retried on the next pass.
        s.chain.world().failing_status.clear();
        assert!(pass(&s).await.is_empty());
        assert_eq!(s.chain.world().answers, vec![(b, 7), (a, 5)]);
    }

    #[tokio::test]
    async fn a_new_block_on_the_websocket_wakes_the_follower() {
        let devnet = avocado_devnet::rpc::start(Default::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = devnet.ws_url();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let follower = {
            let seen = seen.clone();
            tokio::spawn(async move {
                crate::chain::follow_new_heads(&url, |n| {
                    let mut s = seen.lock().unwrap();
                    s.push(n);
                    s.len() < 2
                })
                .await
            })
        };
        // The subscription may start after the first blocks: mine until two were announced.
        for _ in 0..200 {
            if follower.is_finished() {
                break;
            }
            devnet.mine();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        follower.await.unwrap().expect("the subscription ended because the follower stopped it");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1], seen[0] + 1, "consecutive blocks: {seen:?}");
        devnet.stop().await;
        assert_eq!(ws_url_of("http://127.0.0.1:8547/rpc").as_deref(), Some("ws://127.0.0.1:8547/rpc"));
        assert_eq!(ws_url_of("https://rpc.example").as_deref(), Some("wss://rpc.example"));
        assert_eq!(ws_url_of("ws://x"), None);
    }
}
