//! `kill -9` of a node at random points during 1,000 updates: after restarts, no fully signed
//! state is lost and no version is signed with two contents, per the stores and the judge.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_primitives::Bytes;
use avocado_client::app_client::Proposed;
use avocado_client::store::{RedbStore, Store};
use avocado_codec::{phase, signer};
use avocado_tests::nodes::{Net, NetOptions};
use serde_json::json;

/// xorshift64*: a fixed sequence, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_1000_updates_loses_nothing_and_signs_nothing_twice() {
    let mut net = Net::start("crash", 2, NetOptions::default()).await;
    let (id, _) = net.open(11, 60, b"genesis").await;
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    // Every state an app was told is fully signed: version → data.
    let mut acknowledged: BTreeMap<u64, Bytes> = BTreeMap::new();
    let mut kills = 0;
    let mut i = 0u64;
    let started = std::time::Instant::now();
    let mut down = Duration::ZERO;
    while i < 1000 {
        i += 1;
        let proposer = (rng.next() % 2) as usize;
        let data = Bytes::from(format!("update {i}").into_bytes());
        let api = net.api(proposer).clone();
        let update = tokio::spawn({
            let data = data.clone();
            async move { api.update(id, data, false, Duration::from_secs(30)).await }
        });
        if rng.next().is_multiple_of(40) {
            // Kill one node while the update is in flight, at a random moment of it.
            let victim = (rng.next() % 2) as usize;
            tokio::time::sleep(Duration::from_micros(rng.next() % 4_000)).await;
            net.nodes[victim].kill();
            kills += 1;
            let t = std::time::Instant::now();
            // Back at once on the same ports: a proposal in flight retries until it answers.
            net.nodes[victim].restart().await.unwrap();
            let outcome = update.await.unwrap();
            down += t.elapsed();
            if let Ok(Proposed::Signed { signed, .. }) = outcome {
                acknowledged.insert(signed.state.version, signed.state.data);
            }
            continue;
        }
        match update.await.unwrap() {
            Ok(Proposed::Signed { signed, .. }) => {
                assert_eq!(signed.state.data, data);
                acknowledged.insert(signed.state.version, signed.state.data);
            }
            // A round that raced a restart (e.g. a version left unsettled) fails cleanly; the
            // next one goes above it.
            Ok(other) => panic!("update {i}: {other:?}"),
            Err(e) => eprintln!("update {i} failed: {e}"),
        }
    }
    eprintln!("{i} updates, {kills} kills in {:?} ({down:?} around kills)", started.elapsed());
    assert!(kills >= 15, "{kills} kills");
    assert!(acknowledged.len() >= 900, "only {} of 1000 updates went through", acknowledged.len());
    let (&last_v, last_data) = acknowledged.iter().next_back().unwrap();
    // Both nodes converge on the last acknowledged state (the other side may need its Sync).
    net.nodes[0].restart().await.unwrap();
    net.nodes[1].restart().await.unwrap();
    for n in 0..2 {
        let held = net.wait_for_version(n, id, last_v).await;
        assert_eq!((held.state.version, &held.state.data), (last_v, last_data), "node {n}");
    }
    // The judge takes the last acknowledged state.
    let r = net.api(1).post(&format!("/v1/channels/{id}/checkpoint"), json!({})).await.unwrap();
    assert_eq!(r["version"], last_v);
    let st = net.chain.status(id).await;
    assert_eq!((st.phase, st.version), (phase::OPEN, last_v));
    assert_eq!(st.data_hash, alloy_primitives::keccak256(last_data));

    // The stores, read after the processes are gone.
    let domain = net.chain.domain();
    let participants = net.params(0, id).await.participants;
    for n in &mut net.nodes {
        n.kill();
    }
    let stores: Vec<RedbStore> =
        net.nodes.iter().map(|n| RedbStore::open(&n.data_dir().join("node.redb")).unwrap()).collect();
    for (v, data) in &acknowledged {
        // Whoever proposed it stored it before answering; every held copy is the same state.
        let copies: Vec<_> = stores.iter().filter_map(|s| s.signed_state(id, *v).unwrap()).collect();
        assert!(!copies.is_empty(), "acknowledged v{v} lost");
        for c in &copies {
            assert_eq!(&c.state.data, data, "v{v}");
            let sigs: Vec<u8> = c.signatures.iter().flat_map(|s| s.to_bytes()).collect();
            signer::verify_all(&domain.state_digest(&c.state), &participants, &sigs).unwrap();
        }
    }
    // Each node signed at most one digest per version, and that digest is the one of the fully
    // signed state wherever one exists.
    for (n, s) in stores.iter().enumerate() {
        let high = s.highest_signed(id).unwrap().unwrap();
        assert!(high >= last_v);
        for v in 0..=high {
            let Some(digest) = s.signed_digest(id, v).unwrap() else { continue };
            for t in &stores {
                if let Some(full) = t.signed_state(id, v).unwrap() {
                    assert_eq!(digest, domain.state_digest(&full.state), "node {n} signed other contents for v{v}");
                }
            }
        }
    }
    drop(stores);
    net.stop().await;
}
