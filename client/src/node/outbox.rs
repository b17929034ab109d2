//! The outbox: messages that must reach another node (this node's decisions on its proposals),
//! kept in the store from before the first attempt until delivered, refused for good, or expired.
//!
//! Each peer URL has its own delivery task, so a peer that is slow or never answers backs off on
//! its own and delays nobody else; a URL's messages go out in the order they were queued. Each
//! attempt is bounded by [`SEND_TIMEOUT`]; a URL holds at most [`Bounds::outbox_per_peer`]
//! messages and all together [`Bounds::outbox_total`] (more is refused with
//! [`NodeError::Busy`]); a message not taken within [`Bounds::message_ttl`] is dropped and
//! logged.
//!
//! [`Bounds::outbox_per_peer`]: super::Bounds::outbox_per_peer
//! [`Bounds::outbox_total`]: super::Bounds::outbox_total
//! [`Bounds::message_ttl`]: super::Bounds::message_ttl

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Node, NodeError};
use crate::message::Message;
use crate::store::{unix_now, Outgoing, Store};

/// How long one delivery attempt may take (connecting, sending, reading the answer).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a peer's delivery task waits between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The outbox's bookkeeping in memory (the messages themselves are in the store).
pub(super) struct Outbox {
    /// Messages queued per peer URL, as in the store.
    queued: Mutex<HashMap<String, usize>>,
    /// URLs with a delivery task running.
    active: Mutex<HashSet<String>>,
    /// When this process started: the queueing time of messages stored before it was kept.
    started: u64,
}

impl Outbox {
    /// Counts what `store` holds.
    pub(super) fn load(store: &dyn Store) -> Self {
        let mut queued: HashMap<String, usize> = HashMap::new();
        for (_, out) in store.outbox().unwrap_or_default() {
            *queued.entry(out.url).or_default() += 1;
        }
        Self { queued: Mutex::new(queued), active: Default::default(), started: unix_now() }
    }

    fn forget(&self, url: &str) {
        let mut q = self.queued.lock().expect("not poisoned");
        if let Some(n) = q.get_mut(url) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                q.remove(url);
            }
        }
    }
}

impl Node {
    /// Seals `message` and queues it for `url`: on disk before anything is sent.
    pub(super) fn queue(&self, url: &str, message: &Message) -> Result<(), NodeError> {
        {
            let mut q = self.outbox.queued.lock().expect("not poisoned");
            let for_url = q.get(url).copied().unwrap_or(0);
            if for_url >= self.bounds.outbox_per_peer {
                return Err(NodeError::Busy(format!(
                    "{for_url} messages wait for delivery to {url}, the limit; retry once it takes them"
                )));
            }
            let total: usize = q.values().sum();
            if total >= self.bounds.outbox_total {
                return Err(NodeError::Busy(format!(
                    "{total} messages wait for delivery to peers, the limit; retry later"
                )));
            }
            let out = Outgoing { url: url.to_string(), envelope: self.seal(message), enqueued_at: unix_now() };
            self.store.enqueue(&out)?;
            *q.entry(url.to_string()).or_default() += 1;
        }
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// Starts a delivery task for every URL with queued messages and none running; runs
    /// forever.
    pub(super) async fn dispatch_outbox(self: Arc<Self>) {
        loop {
            {
                let mut active = self.outbox.active.lock().expect("not poisoned");
                let urls: Vec<String> = self.outbox.queued.lock().expect("not poisoned").keys().cloned().collect();
                for url in urls {
                    if active.insert(url.clone()) {
                        tokio::spawn(self.clone().deliver_to(url));
                    }
                }
            }
            self.outbox_wake.notified().await;
        }
    }

    /// Delivers `url`'s messages in order until none is left, backing off while the peer does
    /// not take them.
    async fn deliver_to(self: Arc<Self>, url: String) {
        let mut backoff = Duration::from_millis(50);
        let ttl = self.bounds.message_ttl.as_secs();
        loop {
            let batch: Vec<(u64, Outgoing)> = match self.store.outbox() {
                Ok(all) => all.into_iter().filter(|(_, o)| o.url == url).collect(),
                Err(e) => {
                    tracing::warn!(%url, "cannot read the outbox: {e}");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                // Under the lock `dispatch_outbox` starts tasks with: a message queued after
                // this check finds no task for its URL and gets a new one.
                let mut active = self.outbox.active.lock().expect("not poisoned");
                if !self.outbox.queued.lock().expect("not poisoned").contains_key(&url) {
                    active.remove(&url);
                    return;
                }
                drop(active);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            let mut stalled = false;
            for (seq, out) in batch {
                let queued_at = if out.enqueued_at == 0 { self.outbox.started } else { out.enqueued_at };
                let age = unix_now().saturating_sub(queued_at);
                if age >= ttl {
                    tracing::warn!(%url, seq, age_secs = age, "dropping a message no delivery succeeded for");
                    self.done(seq, &url);
                    continue;
                }
                let attempt = tokio::time::timeout(SEND_TIMEOUT, self.peers.send_once(&url, &out.envelope)).await;
                match attempt {
                    Ok(Ok(_)) => self.done(seq, &url),
                    Ok(Err(e)) if e.is_refusal() => {
                        tracing::debug!(%url, seq, "message refused for good: {e}");
                        self.done(seq, &url);
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%url, seq, "delivery failed, retrying: {e}");
                        stalled = true;
                    }
                    Err(_) => {
                        tracing::debug!(%url, seq, "delivery timed out, retrying");
                        stalled = true;
                    }
                }
                if stalled {
                    break; // later messages to this URL wait: they keep their order
                }
            }
            if stalled {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            } else {
                backoff = Duration::from_millis(50);
            }
        }
    }

    fn done(&self, seq: u64, url: &str) {
        match self.store.delivered(seq) {
            Ok(()) => self.outbox.forget(url),
            Err(e) => tracing::warn!(%url, seq, "cannot remove a delivered message: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use alloy_primitives::B256;
    use axum::routing::post;

    use super::*;
    use crate::node::bounds::tests::test_node;
    use crate::node::peer::MESSAGE_PATH;
    use crate::node::Bounds;

    /// A listener that accepts connections and never answers (holding them open).
    async fn black_hole() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        url
    }

    /// A peer that takes every message; counts them.
    async fn taker() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(AtomicUsize::new(0));
        let g = got.clone();
        let router = axum::Router::new().route(
            MESSAGE_PATH,
            post(move || {
                let g = g.clone();
                async move {
                    g.fetch_add(1, Ordering::SeqCst);
                    axum::Json(serde_json::json!({ "status": "ok" }))
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        (url, got)
    }

    fn sync(i: u8) -> Message {
        Message::Sync { channel_id: B256::repeat_byte(i) }
    }

    /// Messages for peers that never answer, queued first, do not delay a real delivery; they
    /// stay queued (durable) while the real one is removed once taken.
    #[tokio::test]
    async fn a_junk_peer_does_not_delay_a_real_delivery() {
        let (node, dir) = test_node("outbox", Bounds::default());
        let junk = [black_hole().await, black_hole().await];
        let (real, got) = taker().await;
        for (i, url) in junk.iter().enumerate() {
            node.queue(url, &sync(i as u8)).unwrap();
            node.queue(url, &sync(10 + i as u8)).unwrap();
        }
        node.queue(&real, &sync(20)).unwrap();
        let started = Instant::now();
        tokio::spawn(node.clone().run_outbox());
        while got.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = started.elapsed();
        assert_eq!(got.load(Ordering::SeqCst), 1, "the real peer got its message");
        assert!(took < Duration::from_millis(1000), "the real delivery waited {took:?} behind junk peers");
        println!("real delivery after {took:?} with two silent peers queued first");
        // Removed once delivered; the junk peers' messages are still on disk, in order.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let left: Vec<String> = node.store().outbox().unwrap().into_iter().map(|(_, o)| o.url).collect();
        assert_eq!(left, vec![junk[0].clone(), junk[0].clone(), junk[1].clone(), junk[1].clone()]);
        // A second message to the real peer is delivered while the junk ones still wait.
        node.queue(&real, &sync(21)).unwrap();
        let again = Instant::now();
        while got.load(Ordering::SeqCst) < 2 && again.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(again.elapsed() < Duration::from_millis(1000), "the second delivery took {:?}", again.elapsed());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A peer's queue and the whole outbox are bounded (HTTP 429 beyond), and a message past its
    /// TTL is dropped rather than retried.
    #[tokio::test]
    async fn queues_are_bounded_and_messages_expire() {
        let bounds = Bounds { outbox_per_peer: 2, outbox_total: 3, ..Default::default() };
        let (node, dir) = test_node("outbox-caps", bounds);
        node.queue("http://127.0.0.1:9", &sync(1)).unwrap();
        node.queue("http://127.0.0.1:9", &sync(2)).unwrap();
        let err = node.queue("http://127.0.0.1:9", &sync(3)).unwrap_err();
        assert_eq!(err.status(), 429, "{err}");
        node.queue("http://127.0.0.1:10", &sync(4)).unwrap();
        let err = node.queue("http://127.0.0.1:11", &sync(5)).unwrap_err();
        assert!(err.to_string().contains("3 messages wait"), "{err}");
        assert_eq!(node.store().outbox().unwrap().len(), 3, "refused messages are not stored");
        let _ = std::fs::remove_dir_all(dir);

        // Expiry: a message queued two days ago to a peer that never answers is dropped.
        let (node, dir) = test_node("outbox-ttl", Bounds::default());
        let url = black_hole().await;
        let envelope = node.seal(&sync(1));
        node.store().enqueue(&Outgoing { url: url.clone(), envelope, enqueued_at: unix_now() - 2 * 86_400 }).unwrap();
        // The bookkeeping as a restarted node loads it.
        *node.outbox.queued.lock().unwrap() = Outbox::load(&**node.store()).queued.into_inner().unwrap();
        tokio::spawn(node.clone().run_outbox());
        let started = Instant::now();
        while !node.store().outbox().unwrap().is_empty() && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(node.store().outbox().unwrap().is_empty(), "the expired message is still queued");
        assert!(node.outbox.queued.lock().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
