//! End to end: real `avocado node` processes over loopback, the real judge program on the
//! devnet (or on `AVOCADO_TEST_RPC_URL`).

use std::time::Duration;

use alloy_primitives::{keccak256, Bytes};
use avocado_client::app_client::{ApiError, Proposed};
use avocado_client::signed::SignedState;
use avocado_client::store::ChannelStatus;
use avocado_codec::phase;
use avocado_tests::nodes::{Net, NetOptions};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn data(i: u64) -> Bytes {
    Bytes::from(format!("state {i}").into_bytes())
}

/// Open, 200 updates from rotating proposers, cooperative close; the judge's final state is the
/// last one, and every node holds it.
async fn many_updates_then_close(parties: usize) {
    let net = Net::start(&format!("many{parties}"), parties, NetOptions::default()).await;
    let (id, v0) = net.open(1, 60, b"genesis").await;
    assert_eq!(v0.state.version, 0);
    assert_eq!(net.chain.status(id).await.phase, phase::OPEN, "the proposer opened it on chain");
    for i in 1..=200u64 {
        let proposer = (i as usize) % parties;
        let signed = net.api(proposer).update(id, data(i), false, WAIT).await.unwrap().signed().unwrap();
        assert_eq!(signed.state.version, i);
    }
    let closed = net.api(1).post(&format!("/v1/channels/{id}/close"), json!({})).await.unwrap();
    assert_eq!(closed["version"], 201);
    let st = net.chain.status(id).await;
    assert_eq!((st.phase, st.version), (phase::FINAL, 201));
    let last = net.wait_for_version(1, id, 201).await;
    assert!(last.state.is_final);
    assert_eq!(last.state.data, data(200), "close keeps the latest data");
    assert_eq!(st.data_hash, keccak256(&last.state.data), "finalState is the last state");
    for i in 0..parties {
        let held = net.wait_for_version(i, id, 201).await;
        assert_eq!(held, last, "node {i} holds the final state");
        net.wait_until(i, id, "ChannelConcluded seen", |v| v.record.status == ChannelStatus::Closed).await;
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_parties_200_updates_and_close() {
    many_updates_then_close(2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_parties_200_updates_and_close() {
    many_updates_then_close(3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_channels_and_updates_change_nothing() {
    let net = Net::start("reject", 3, NetOptions { auto_accept: false, ..Default::default() }).await;
    // A channel waits for every participant's decision; one refusal ends it.
    let pending = |nonce| {
        let mut r = net.channel_request(nonce, 60, b"a");
        r["wait"] = json!(0);
        r
    };
    let first = net.api(0).propose_channel(pending(1)).await.unwrap();
    let Proposed::Pending { channel_id: id, version: 0 } = first else { panic!("{first:?}") };
    net.wait_until(2, id, "proposal arrives", |v| v.record.incoming.is_some()).await;
    net.api(1).post(&format!("/v1/channels/{id}/accept"), json!({})).await.unwrap();
    net.api(2).post(&format!("/v1/channels/{id}/reject"), json!({ "reason": "not today" })).await.unwrap();
    net.wait_until(0, id, "rejection", |v| v.record.status == ChannelStatus::Rejected).await;
    let reason = net.api(0).channel(id).await.unwrap().record.reason.unwrap();
    assert!(reason.contains("not today"), "{reason}");
    assert!(net.api(0).channel(id).await.unwrap().latest.is_none());
    // A second channel, accepted by both.
    let second = net.api(0).propose_channel(pending(2)).await.unwrap();
    let id = second.channel_id();
    for i in 1..3 {
        net.wait_until(i, id, "proposal arrives", |v| v.record.incoming.is_some()).await;
        net.api(i).post(&format!("/v1/channels/{id}/accept"), json!({})).await.unwrap();
    }
    for i in 0..3 {
        net.wait_until(i, id, "open", |v| v.record.status == ChannelStatus::Open).await;
    }
    net.wait_for_version(0, id, 0).await;
    // An update refused by one participant: nobody's latest moves.
    let p = net.api(1).update(id, data(1), false, Duration::ZERO).await.unwrap();
    assert!(matches!(p, Proposed::Pending { version: 1, .. }), "{p:?}");
    net.wait_until(0, id, "update arrives", |v| v.record.incoming.is_some()).await;
    net.wait_until(2, id, "update arrives", |v| v.record.incoming.is_some()).await;
    net.api(0).post(&format!("/v1/channels/{id}/updates/1/reject"), json!({ "reason": "wrong amount" })).await.unwrap();
    // The proposer's next attempt is refused until its pending one is settled.
    let mut refused = false;
    for _ in 0..200 {
        match net.api(1).update(id, data(2), false, Duration::ZERO).await {
            Err(ApiError::Status { status: 409, message }) if message.contains("collecting signatures") => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Ok(Proposed::Pending { version, .. }) => {
                refused = true;
                // The rejected version was never fully signed; the new proposal takes its place.
                assert_eq!(version, 1);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(refused, "the rejection reached the proposer");
    for i in 0..3 {
        assert_eq!(net.api(i).channel(id).await.unwrap().latest.unwrap().state.version, 0, "node {i}");
    }
    // Accepted by both this time.
    for i in [0, 2] {
        net.wait_until(i, id, "new update arrives", |v| {
            v.record.incoming.as_ref().is_some_and(|p| p.state.data == data(2))
        })
        .await;
        net.api(i).post(&format!("/v1/channels/{id}/updates/1/accept"), json!({})).await.unwrap();
    }
    for i in 0..3 {
        assert_eq!(net.wait_for_version(i, id, 1).await.state.data, data(2));
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_proposals_resolve_by_participant_index() {
    let net = Net::start("concurrent", 2, NetOptions::default()).await;
    let (id, _) = net.open(1, 60, b"genesis").await;
    let mut index_rule_seen = false;
    for round in 0..10u64 {
        let (a, b) = tokio::join!(
            net.api(0).update(id, data(1000 + round), false, WAIT),
            net.api(1).update(id, data(2000 + round), false, WAIT)
        );
        match (&a, &b) {
            (Ok(Proposed::Signed { signed: x, .. }), Ok(Proposed::Signed { signed: y, .. })) => {
                assert_ne!(x.state.version, y.state.version, "two states for one version");
            }
            (Ok(Proposed::Signed { .. }), Err(ApiError::Status { status: 409, message })) => {
                index_rule_seen |= message.contains("lower index");
            }
            (Err(ApiError::Status { status: 409, message }), Ok(Proposed::Signed { .. })) => {
                // Participant 1 wins only when its proposal was signed before participant 0 proposed.
                assert!(!message.contains("lower index wins") || message.contains("superseded"), "{message}");
            }
            other => panic!("round {round}: {other:?}"),
        }
        // Both nodes agree on every version.
        let v = net.api(0).channel(id).await.unwrap().latest.unwrap().state.version;
        net.wait_for_version(1, id, v).await;
        assert_eq!(net.api(0).state(id, v).await.unwrap(), net.api(1).state(id, v).await.unwrap());
    }
    assert!(index_rule_seen, "at least one round raced, and participant 0 won it");
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_challenge_while_the_victim_is_down_is_answered_after_restart() {
    let mut net = Net::start("stale", 2, NetOptions::default()).await;
    let (id, _) = net.open(7, 60, b"genesis").await;
    for i in 1..=10u64 {
        net.api((i % 2) as usize).update(id, data(i), false, WAIT).await.unwrap().signed().unwrap();
    }
    net.wait_for_version(0, id, 10).await;
    let stale: SignedState = (&net.api(1).state(id, 3).await.unwrap()).try_into().unwrap();
    let params = net.params(1, id).await;
    // Participant 1's watchtower is out of the way (it would answer its own cheat), and
    // participant 0's node is down.
    net.nodes[1].kill();
    net.nodes[0].kill();
    net.chain.challenge_with(&net.keys[1], params.clone(), &stale).await.unwrap();
    let st = net.chain.status(id).await;
    assert_eq!((st.phase, st.version), (phase::CHALLENGE, 3));
    if net.chain.can_travel() {
        net.chain.travel(20).await; // time passes while the victim is down, not past the deadline
    }
    net.nodes[0].restart().await.unwrap();
    let mut answered = false;
    for _ in 0..400 {
        let st = net.chain.status(id).await;
        if st.version == 10 {
            answered = true;
            assert_eq!(st.phase, phase::CHALLENGE, "the deadline did not move");
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(answered, "the restarted node's watchtower caught up and answered");
    net.wait_until(0, id, "answer recorded", |v| v.record.chain.version == 10).await;
    if net.chain.can_travel() {
        // Unilateral close: the dispute ends with the latest state.
        net.chain.travel(60).await;
        net.wait_until(0, id, "final", |v| v.record.status == ChannelStatus::Closed).await;
        let st = net.chain.status(id).await;
        assert_eq!((st.phase, st.version), (phase::FINAL, 10));
        assert_eq!(st.data_hash, keccak256(data(10)));
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unilateral_close_with_the_latest_state() {
    let net = Net::start("unilateral", 3, NetOptions::default()).await;
    let (id, _) = net.open(3, 30, b"genesis").await;
    for i in 1..=5u64 {
        net.api(2).update(id, data(i), false, WAIT).await.unwrap().signed().unwrap();
    }
    let r = net.api(2).post(&format!("/v1/channels/{id}/challenge"), json!({})).await.unwrap();
    assert_eq!(r["version"], 5);
    let st = net.chain.status(id).await;
    assert_eq!((st.phase, st.version), (phase::CHALLENGE, 5));
    // Nobody answers a challenge with the latest state.
    for i in 0..3 {
        net.wait_until(i, id, "dispute seen", |v| v.record.chain.phase == phase::CHALLENGE).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(net.chain.status(id).await.version, 5);
    // Updates stop once a dispute runs on chain? No: the judge still takes newer states, so the
    // channel stays usable until the deadline; close instead once it passes.
    if net.chain.can_travel() {
        net.chain.travel(31).await;
        for i in 0..3 {
            net.wait_until(i, id, "final", |v| v.record.status == ChannelStatus::Closed).await;
        }
        assert_eq!(net.chain.status(id).await.phase, phase::FINAL);
    }
    net.stop().await;
}
