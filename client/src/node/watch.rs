//! The watchtower: follows the judge's events for this node's channels and answers any dispute
//! started with a state older than the latest fully signed one held here.
//!
//! Only disputes are answered. An older state checkpointed while the channel is Open threatens
//! nothing — the channel can become final only through a dispute (which is answered) or a
//! `conclude` with every participant's signature on a final state — so answering it would only
//! spend gas. The deadline is read from the event; time from the chain's head block.
//!
//! It reads the chain from the block after the last one it processed (kept in the store), so a
//! node that was down catches up on restart: a stale challenge posted meanwhile is still answered
//! if its deadline has not passed. A block is marked processed only after every answer it needed
//! was mined; an answer that failed is retried on the next pass.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use avocado_codec::phase;

use super::{Event, Node, NodeError};
use crate::chain::{Head, JudgeEvent};
use crate::store::ChannelStatus;

/// How many blocks one `eth_getLogs` asks for (public endpoints cap the range).
const MAX_RANGE: u64 = 5_000;

impl Node {
    /// Runs the watchtower: one pass every `every`, forever.
    pub async fn run_watchtower(self: Arc<Self>, every: Duration) {
        loop {
            if let Err(e) = self.watch_once(every * 3).await {
                tracing::warn!("watchtower: {e}");
                self.emit(Event::WatchError { message: e.to_string() });
            }
            tokio::time::sleep(every).await;
        }
    }

    /// One pass: process new blocks' events, answer stale states, notice deadlines passed.
    ///
    /// Every participant's watchtower guards the channel; so that they do not all pay for the
    /// same answer, participant `i` waits `i × stagger` after first seeing a dispute (and checks
    /// the judge again) before answering it. Participant 0 answers at once.
    pub async fn watch_once(&self, stagger: Duration) -> Result<(), NodeError> {
        let chain = self.chain_client()?.clone();
        let head = chain.head().await?;
        let start = match self.store.cursor()? {
            Some(c) => c + 1,
            // First start: nothing of ours can be older than the node itself.
            None => {
                self.store.set_cursor(head.number)?;
                return Ok(());
            }
        };
        let mut from = start;
        while from <= head.number {
            let to = (from + MAX_RANGE - 1).min(head.number);
            for (block, event) in chain.events(from, to).await? {
                self.on_judge_event(block, &event).await?;
            }
            self.store.set_cursor(to)?;
            from = to + 1;
        }
        self.answer_stale(&head, stagger).await?;
        self.notice_deadlines(&head).await
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
            JudgeEvent::ChallengeStarted { version, finalizes_at, .. } => {
                r.chain.version = r.chain.version.max(*version);
                r.chain.phase = phase::CHALLENGE;
                r.chain.finalizes_at = *finalizes_at;
            }
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

    /// Posts the latest state of every channel in dispute whose on-chain version is older, while
    /// the deadline has not passed.
    async fn answer_stale(&self, head: &Head, stagger: Duration) -> Result<(), NodeError> {
        for record in self.store.channels()? {
            let c = record.chain;
            let disputed = c.phase == phase::CHALLENGE && head.timestamp < c.finalizes_at;
            if !disputed || record.status == ChannelStatus::Closed {
                continue;
            }
            let Some(latest) = self.store.latest(record.id)? else { continue };
            if latest.state.version <= c.version {
                continue;
            }
            let first_seen =
                *self.disputes_seen.lock().expect("not poisoned").entry(record.id).or_insert_with(Instant::now);
            let time_left = c.finalizes_at.saturating_sub(head.timestamp);
            let my_turn = first_seen.elapsed() >= stagger * record.me as u32;
            // Never wait when the deadline is near.
            if !my_turn && Duration::from_secs(time_left) > stagger * 4 {
                continue;
            }
            // Another watchtower may have answered since the events were read.
            let now = self.chain_client()?.status(record.id).await?;
            if now.version >= latest.state.version || now.phase != phase::CHALLENGE {
                self.note_chain(record.id, |r| r.chain.version = r.chain.version.max(now.version)).await?;
                continue;
            }
            let (version, receipt) = self.checkpoint(record.id).await?;
            tracing::info!(channel = %record.id, stale = c.version, version, "watchtower answered a stale state");
            self.note_chain(record.id, |r| r.chain.version = r.chain.version.max(version)).await?;
            self.emit(Event::Answered { channel_id: record.id, stale_version: c.version, version, receipt });
        }
        Ok(())
    }

    async fn notice_deadlines(&self, head: &Head) -> Result<(), NodeError> {
        for record in self.store.channels()? {
            let c = record.chain;
            if c.phase == phase::CHALLENGE && head.timestamp >= c.finalizes_at && record.status != ChannelStatus::Closed
            {
                let id: B256 = record.id;
                self.note_chain(id, |r| {
                    r.chain.phase = phase::FINAL;
                    r.status = ChannelStatus::Closed;
                })
                .await?;
                self.emit(Event::ChannelFinal { channel_id: id, version: c.version });
            }
        }
        Ok(())
    }
}
