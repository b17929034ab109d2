//! Bad input to a running node's peer API and app API: each gets its HTTP status and a message,
//! and the node's state does not move.

use std::time::Duration;

use alloy_primitives::{keccak256, Bytes, B256};
use alloy_signer_local::PrivateKeySigner;
use avocado_client::message::{Envelope, Message, SignedJson, StateJson, SIGNATURE_HEADER};
use avocado_client::node::app::ChannelView;
use avocado_tests::nodes::{Net, NetOptions};
use serde_json::{json, Value};

async fn post(url: &str, body: impl Into<reqwest::Body>, headers: &[(&str, String)]) -> (u16, String) {
    let mut req = reqwest::Client::new().post(url).header("content-type", "application/json").body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    if status == 200 {
        return (status, text);
    }
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("status {status} without an error message: {text}"));
    (status, message)
}

fn seal(key: &PrivateKeySigner, net: &Net, message: &Message) -> Envelope {
    Envelope::seal(key.credential(), &net.chain.domain(), message)
}

async fn snapshot(net: &Net, i: usize, id: B256) -> String {
    let v: ChannelView = net.api(i).channel(id).await.unwrap();
    serde_json::to_string(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_peer_messages_get_their_status_and_change_nothing() {
    let net = Net::start("badpeer", 2, NetOptions::default()).await;
    let (id, _) = net.open(1, 60, b"genesis").await;
    for i in 1..=3u64 {
        net.api(0).update(id, Bytes::from(vec![i as u8]), false, Duration::from_secs(30)).await.unwrap();
    }
    let latest = net.wait_for_version(1, id, 3).await;
    let v1 = net.api(1).state(id, 1).await.unwrap();
    let v0 = net.api(1).state(id, 0).await.unwrap();
    let url = format!("{}/peer/v1/message", net.nodes[1].peer_url);
    net.wait_until(1, id, "open seen on chain", |v| v.record.chain.phase == avocado_codec::phase::OPEN).await;
    let before = snapshot(&net, 1, id).await;
    let alice = &net.keys[0];
    let stranger = PrivateKeySigner::random();
    let next = |version: u64, data: Vec<u8>| StateJson { channel_id: id, version, data: data.into(), is_final: false };
    let sig = |e: &Envelope| vec![(SIGNATURE_HEADER, e.signature.clone())];

    let mut cases: Vec<(&str, u16, (u16, String))> = Vec::new();
    // Malformed JSON, correctly signed.
    let body = r#"{"type":"sync","channelId":"#;
    let digest = avocado_client::message::message_digest(&net.chain.domain(), body.as_bytes());
    let s = avocado_codec::signer::sign(alice.credential(), &digest);
    let header = vec![(SIGNATURE_HEADER, alloy_primitives::hex::encode_prefixed(s.to_bytes()))];
    cases.push(("malformed JSON", 400, post(&url, body, &header).await));
    // Unauthenticated.
    let sync = seal(alice, &net, &Message::Sync { channel_id: id });
    cases.push(("no signature", 401, post(&url, sync.body.clone(), &[]).await));
    cases.push(("garbage signature", 401, post(&url, sync.body.clone(), &[(SIGNATURE_HEADER, "0x1234".into())]).await));
    let honest = seal(alice, &net, &Message::ProposeUpdate { state: next(4, vec![1]), base: latest.clone() });
    let altered = honest.body.replace(r#""data":"0x01""#, r#""data":"0x02""#);
    assert_ne!(altered, honest.body);
    let forged = Envelope { body: altered, signature: honest.signature.clone() };
    cases.push(("altered body", 403, post(&url, forged.body.clone(), &sig(&forged)).await));
    let e = seal(&stranger, &net, &Message::Sync { channel_id: id });
    cases.push(("not a participant", 403, post(&url, e.body.clone(), &sig(&e)).await));
    // Wrong channel.
    let e = seal(alice, &net, &Message::Sync { channel_id: keccak256(b"nowhere") });
    cases.push(("unknown channel", 404, post(&url, e.body.clone(), &sig(&e)).await));
    let mut other = next(4, vec![9]);
    other.channel_id = keccak256(b"nowhere");
    let e = seal(alice, &net, &Message::ProposeUpdate { state: other, base: latest.clone() });
    cases.push(("update of an unknown channel", 404, post(&url, e.body.clone(), &sig(&e)).await));
    // Version gap, replay, stale.
    let e = seal(alice, &net, &Message::ProposeUpdate { state: next(3 + 100, vec![7]), base: latest.clone() });
    cases.push(("version gap", 409, post(&url, e.body.clone(), &sig(&e)).await));
    let replay = seal(alice, &net, &Message::ProposeUpdate { state: v1.state.clone(), base: v0.clone() });
    cases.push(("replayed old proposal", 409, post(&url, replay.body.clone(), &sig(&replay)).await));
    let e = seal(alice, &net, &Message::Signed { signed: v1.clone() });
    let (status, _) = post(&url, e.body.clone(), &sig(&e)).await;
    assert_eq!(status, 200, "a replayed fully signed state is taken as a no-op");
    let e =
        seal(alice, &net, &Message::AcceptUpdate { channel_id: id, version: 2, signature: v1.signatures[1].clone() });
    cases.push(("acceptance that is not the settled signature", 409, post(&url, e.body.clone(), &sig(&e)).await));
    // Content refused.
    let bad_base = SignedJson { state: next(4, vec![4]), signatures: latest.signatures.clone() };
    let e = seal(alice, &net, &Message::ProposeUpdate { state: next(5, vec![5]), base: bad_base });
    cases.push(("base not fully signed", 422, post(&url, e.body.clone(), &sig(&e)).await));
    let other_v3 = SignedJson { state: next(3, vec![33]), signatures: latest.signatures.clone() };
    let e = seal(alice, &net, &Message::ProposeUpdate { state: next(4, vec![4]), base: other_v3 });
    cases.push(("base that is not the state held", 409, post(&url, e.body.clone(), &sig(&e)).await));
    let e = seal(alice, &net, &Message::ProposeUpdate { state: next(4, vec![0; 16 * 1024 + 1]), base: latest.clone() });
    cases.push(("state data over 16 KiB", 422, post(&url, e.body.clone(), &sig(&e)).await));
    let forged_signed = SignedJson { state: next(4, vec![5]), signatures: latest.signatures.clone() };
    let e = seal(alice, &net, &Message::Signed { signed: forged_signed });
    cases.push(("fully signed state with others' signatures", 422, post(&url, e.body.clone(), &sig(&e)).await));
    // Oversize body.
    let huge = vec![b' '; 300 * 1024];
    cases.push(("oversize body", 413, post_raw(&url, huge).await));

    for (what, want, (got, message)) in &cases {
        assert_eq!(got, want, "{what}: {message}");
        assert!(!message.is_empty(), "{what}");
    }
    assert_eq!(snapshot(&net, 1, id).await, before, "the node's channel did not move");
    // Still working.
    net.api(1).update(id, Bytes::from(vec![4]), false, Duration::from_secs(30)).await.unwrap().signed().unwrap();
    net.stop().await;
}

/// A body the server refuses before reading it may not come with a JSON message.
async fn post_raw(url: &str, body: Vec<u8>) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(url)
        .header(SIGNATURE_HEADER, "0x00")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default() + " (body refused by size)")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_app_requests_get_their_status_and_change_nothing() {
    let net = Net::start("badapp", 2, NetOptions::default()).await;
    let (id, _) = net.open(1, 60, b"genesis").await;
    net.wait_until(0, id, "open seen on chain", |v| v.record.chain.phase == avocado_codec::phase::OPEN).await;
    let before = snapshot(&net, 0, id).await;
    let app = net.api(0).url().to_string();
    let token = std::fs::read_to_string(net.nodes[0].data_dir().join("app.token")).unwrap();
    let auth = vec![("authorization", format!("Bearer {}", token.trim()))];
    let updates = format!("{app}/v1/channels/{id}/updates");

    let mut cases: Vec<(&str, u16, (u16, String))> = Vec::new();
    cases.push(("missing token", 401, post(&updates, r#"{"data":"0x01"}"#, &[]).await));
    cases.push((
        "wrong token",
        401,
        post(&updates, r#"{"data":"0x01"}"#, &[("authorization", "Bearer nope".into())]).await,
    ));
    cases.push(("malformed JSON", 400, post(&updates, r#"{"data":"#, &auth).await));
    cases.push(("unknown field", 400, post(&updates, r#"{"data":"0x01","amount":5}"#, &auth).await));
    cases.push((
        "not a channel id",
        400,
        post(&format!("{app}/v1/channels/xyz/updates"), r#"{"data":"0x01"}"#, &auth).await,
    ));
    let nowhere = keccak256(b"nowhere");
    cases.push((
        "unknown channel",
        404,
        post(&format!("{app}/v1/channels/{nowhere}/updates"), r#"{"data":"0x01"}"#, &auth).await,
    ));
    let big = json!({ "data": Bytes::from(vec![0u8; 16 * 1024 + 1]) }).to_string();
    cases.push(("state data over 16 KiB", 422, post(&updates, big, &auth).await));
    let mut lonely = net.channel_request(9, 60, b"x");
    lonely["participants"] = json!([net.nodes[0].address]);
    lonely["peers"] = json!([net.nodes[0].peer_url]);
    cases.push(("one participant", 422, post(&format!("{app}/v1/channels"), lonely.to_string(), &auth).await));
    let short = net.channel_request(10, 5, b"x");
    cases.push((
        "dispute window under the policy",
        422,
        post(&format!("{app}/v1/channels"), short.to_string(), &auth).await,
    ));
    let again = net.channel_request(1, 60, b"genesis");
    cases.push(("the same channel again", 409, post(&format!("{app}/v1/channels"), again.to_string(), &auth).await));
    cases.push((
        "accept with nothing waiting",
        409,
        post(&format!("{app}/v1/channels/{id}/updates/1/accept"), "{}", &auth).await,
    ));
    cases.push((
        "conclude without a final state",
        409,
        post(&format!("{app}/v1/channels/{id}/conclude"), "{}", &auth).await,
    ));

    for (what, want, (got, message)) in &cases {
        assert_eq!(got, want, "{what}: {message}");
        assert!(!message.is_empty(), "{what}");
    }
    assert_eq!(snapshot(&net, 0, id).await, before, "the node's channel did not move");
    assert_eq!(net.api(0).channels().await.unwrap().len(), 1, "no channel was created");
    net.stop().await;
}
