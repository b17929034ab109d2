//! What a node takes from parties it has no channel with, and for how long.
//!
//! Anyone may propose a channel to a node: the proposal is kept until the node's user decides.
//! Left unbounded, strangers fill the store (16 KiB of data each) and, on restart, the node
//! would call the peer URLs they chose. So a proposal from a party that has no open channel with
//! this node, and none this node proposed, is refused with [`NodeError::Busy`] (HTTP 429) once
//! that party has [`Bounds::pending_per_proposer`] proposals waiting here, or all strangers
//! together [`Bounds::pending_total`]; and an undecided proposal expires after
//! [`Bounds::proposal_ttl`] and is deleted from the store (swept at start and then periodically).

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;

use super::{Node, NodeError};
use crate::protocol::rules::index_of;
use crate::store::{unix_now, ChannelRecord, ChannelStatus};

/// The node's bounds on what others make it keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Undecided channel proposals one stranger may have waiting here.
    pub pending_per_proposer: usize,
    /// Undecided channel proposals all strangers together may have waiting here.
    pub pending_total: usize,
    /// How long a channel proposed by another party waits for a decision before it is deleted.
    pub proposal_ttl: Duration,
    /// Messages queued for one peer URL.
    pub outbox_per_peer: usize,
    /// Messages queued for all peers together.
    pub outbox_total: usize,
    /// How long a queued message is retried before it is dropped.
    pub message_ttl: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            pending_per_proposer: 8,
            pending_total: 256,
            proposal_ttl: Duration::from_secs(60 * 60),
            outbox_per_peer: 1024,
            outbox_total: 16 * 1024,
            message_ttl: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// A channel another party proposed that is not open here (waiting for a decision, signed by
/// auto-accept but never completed, or declined).
fn proposed_by_other(r: &ChannelRecord) -> bool {
    r.proposer != r.me && r.status == ChannelStatus::Proposed
}

impl Node {
    /// Whether `who` is a party this node deals with: it shares an open channel, or one this
    /// node proposed.
    fn is_counterparty(records: &[ChannelRecord], who: Address) -> bool {
        records.iter().any(|r| {
            index_of(&r.terms, who).is_some_and(|i| i != r.me)
                && (r.status == ChannelStatus::Open || r.proposer == r.me)
        })
    }

    /// Refuses a new channel proposal from `from` when it is a stranger over its caps.
    pub(super) fn admit_proposal(&self, from: Address) -> Result<(), NodeError> {
        let records = self.store.channels()?;
        if Self::is_counterparty(&records, from) {
            return Ok(());
        }
        let pending: Vec<&ChannelRecord> = records.iter().filter(|r| proposed_by_other(r)).collect();
        let from_them = pending.iter().filter(|r| r.terms.participants.get(r.proposer) == Some(&from)).count();
        if from_them >= self.bounds.pending_per_proposer {
            return Err(NodeError::Busy(format!(
                "{from} has {from_them} channel proposals waiting here, the limit for a party without a channel; \
                 retry once one is decided or expired"
            )));
        }
        if pending.len() >= self.bounds.pending_total {
            return Err(NodeError::Busy(format!(
                "{} channel proposals wait here, the limit; retry later",
                pending.len()
            )));
        }
        Ok(())
    }

    /// Deletes channel proposals of other parties that waited longer than the proposal TTL and
    /// that this node never signed (undecided, or declined). Records from before `created_at`
    /// was kept start their clock now. Returns how many were deleted.
    pub async fn sweep_proposals(&self) -> Result<usize, NodeError> {
        let now = unix_now();
        let ttl = self.bounds.proposal_ttl.as_secs();
        let _book = self.book.lock().await;
        let mut deleted = 0;
        for mut r in self.store.channels()? {
            let stale = match r.status {
                ChannelStatus::Proposed => r.proposer != r.me && r.incoming.is_some(),
                ChannelStatus::Rejected => r.proposer != r.me,
                _ => false,
            };
            // Anything this node signed stays: the channel may be open on chain.
            if !stale || self.store.signed_digest(r.id, 0)?.is_some() {
                continue;
            }
            if r.created_at == 0 {
                r.created_at = now;
                self.store.put_channel(&r)?;
            } else if r.created_at.saturating_add(ttl) <= now {
                self.store.delete_channel(r.id)?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "expired channel proposals deleted");
        }
        Ok(deleted)
    }

    /// Sweeps expired proposals periodically; runs forever.
    pub async fn run_sweeper(self: Arc<Self>) {
        let every = (self.bounds.proposal_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = self.sweep_proposals().await {
                tracing::warn!("sweeping expired proposals failed: {e}");
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use alloy_primitives::{Bytes, B256};
    use avocado_codec::Domain;
    use k256::ecdsa::SigningKey;

    use super::*;
    use crate::message::{Message, Terms};
    use crate::node::{NodeConfig, Policy};
    use crate::store::RedbStore;

    /// A node over a fresh store in a temporary folder, without a chain.
    pub(in crate::node) fn test_node(tag: &str, bounds: Bounds) -> (Arc<Node>, std::path::PathBuf) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "avocado-node-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = RedbStore::open(&dir.join("node.redb")).unwrap();
        let config = NodeConfig {
            key: SigningKey::random(&mut rand::thread_rng()),
            domain: Domain::new(412346, Address::repeat_byte(0x99)),
            peer_url: "http://127.0.0.1:9".into(),
            policy: Policy { min_challenge_duration: 60, auto_accept: false },
            peer_timeout: Duration::from_secs(1),
            escrow: None,
            watch: Default::default(),
            bounds,
        };
        (Node::new(config, Arc::new(store), None), dir)
    }

    fn propose(node: &Node, from: Address, nonce: u64, url: &str) -> Message {
        Message::ProposeChannel {
            terms: Terms {
                participants: vec![from, node.address()],
                nonce,
                challenge_duration: 60,
                executive: Address::ZERO,
            },
            peers: vec![url.to_string(), node.peer_url().to_string()],
            data: Bytes::from(vec![7u8; 1024]),
        }
    }

    /// A local listener that counts connections and holds them, never answering.
    async fn silent_listener() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                held.push(s);
            }
        });
        (url, count)
    }

    /// Strangers are capped per proposer and in total with HTTP 429; nothing is stored for a
    /// refused proposal; a party with an open channel is not capped.
    #[tokio::test]
    async fn proposals_from_strangers_are_capped() {
        let bounds = Bounds { pending_per_proposer: 2, pending_total: 3, ..Default::default() };
        let (node, dir) = test_node("caps", bounds);
        let (a, b, friend) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        for nonce in 0..2 {
            node.handle(a, propose(&node, a, nonce, "http://127.0.0.1:9")).await.unwrap();
        }
        let err = node.handle(a, propose(&node, a, 2, "http://127.0.0.1:9")).await.unwrap_err();
        assert!(matches!(err, NodeError::Busy(_)), "{err:?}");
        assert_eq!(err.status(), 429);
        assert_eq!(node.store().channels().unwrap().len(), 2, "the refused proposal was not stored");
        node.handle(b, propose(&node, b, 0, "http://127.0.0.1:9")).await.unwrap();
        let err = node.handle(b, propose(&node, b, 1, "http://127.0.0.1:9")).await.unwrap_err();
        assert!(err.to_string().contains("3 channel proposals wait here"), "{err}");
        // A party with an open channel here proposes as much as it likes.
        let err = node.handle(friend, propose(&node, friend, 0, "http://127.0.0.1:9")).await.unwrap_err();
        assert!(matches!(err, NodeError::Busy(_)), "without a channel, a party is a stranger: {err:?}");
        let mut open = node.store().channels().unwrap()[0].clone();
        open.id = B256::repeat_byte(0x42);
        open.terms.participants = vec![friend, node.address()];
        open.status = ChannelStatus::Open;
        open.incoming = None;
        node.store().put_channel(&open).unwrap();
        for nonce in 10..14 {
            node.handle(friend, propose(&node, friend, nonce, "http://127.0.0.1:9")).await.unwrap();
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Undecided proposals past their TTL are deleted; others, and anything signed, stay; old
    /// records without a creation time start their clock at the sweep.
    #[tokio::test]
    async fn expired_proposals_are_swept() {
        let bounds = Bounds { proposal_ttl: Duration::from_secs(3600), ..Default::default() };
        let (node, dir) = test_node("sweep", bounds);
        let a = Address::repeat_byte(1);
        for nonce in 0..4 {
            node.handle(a, propose(&node, a, nonce, "http://127.0.0.1:9")).await.unwrap();
        }
        let mut records = node.store().channels().unwrap();
        records.sort_by_key(|r| r.terms.nonce);
        let hour_ago = unix_now() - 3601;
        let age = |r: &ChannelRecord, at: u64| {
            let mut r = r.clone();
            r.created_at = at;
            node.store().put_channel(&r).unwrap();
        };
        age(&records[0], hour_ago); // expired
        age(&records[1], hour_ago); // expired, but signed here: stays
        node.store().record_signature(records[1].id, 0, B256::repeat_byte(5), false).unwrap();
        age(&records[2], 0); // from an old store: its clock starts now
        assert_eq!(node.sweep_proposals().await.unwrap(), 1);
        let left: Vec<u64> = node.store().channels().unwrap().iter().map(|r| r.terms.nonce).collect();
        assert_eq!(left.len(), 3);
        assert!(!left.contains(&0), "the expired proposal is gone: {left:?}");
        let restarted = node.store().channel(records[2].id).unwrap().unwrap();
        assert!(restarted.created_at >= unix_now() - 5, "{}", restarted.created_at);
        // A new proposal from the same party is taken again once old ones are gone.
        node.handle(a, propose(&node, a, 0, "http://127.0.0.1:9")).await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Catching up after a restart never calls a stranger's URL, and a real channel whose peer
    /// never answers costs the short sync timeout, not the peer timeout per attempt.
    #[tokio::test]
    async fn catch_up_skips_strangers_and_times_out_fast() {
        let (node, dir) = test_node("sync", Bounds::default());
        let (stranger_url, stranger_calls) = silent_listener().await;
        let (real_url, real_calls) = silent_listener().await;
        let a = Address::repeat_byte(1);
        for nonce in 0..5 {
            node.handle(a, propose(&node, a, nonce, &stranger_url)).await.unwrap();
        }
        // Sixteen open channels whose peer never answers (serially: 16 × 3 s at least).
        let template = node.store().channels().unwrap()[0].clone();
        for i in 0..16u8 {
            let mut open = template.clone();
            open.id = B256::repeat_byte(0x80 + i);
            open.peers[open.proposer] = real_url.clone();
            open.status = ChannelStatus::Open;
            open.incoming = None;
            node.store().put_channel(&open).unwrap();
        }
        let started = Instant::now();
        node.sync_all().await;
        let took = started.elapsed();
        assert_eq!(stranger_calls.load(Ordering::SeqCst), 0, "a stranger's URL was called");
        assert!(real_calls.load(Ordering::SeqCst) >= 1, "the real peer was asked");
        assert!(took < Duration::from_secs(5), "16 silent channels took {took:?} (bounded concurrency, 3 s each)");
        let _ = std::fs::remove_dir_all(dir);
    }
}
