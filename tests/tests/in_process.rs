//! Three nodes in one process, no socket anywhere: the real node shell and protocol core, the
//! in-process peer transport, and the devnet library's chain running the real judge WASM
//! (`target/judge/judge.bin`), each node signing and paying for its own transactions.
//!
//! One channel's whole life: open on chain, updates, a checkpoint, a participant that challenges
//! with a stale state, the watchtower of another answering it (one pass, called directly), and a
//! cooperative close concluded during the dispute. The judge's `status` (phase, version, data
//! hash, deadline) is asserted after every step, and its event log at the end.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::SolCall;
use avocado_client::chain::{ChainClient, ChainError, ChannelStatusOnChain, JudgeEvent, Revert};
use avocado_client::message::Terms;
use avocado_client::node::peer::InProcess;
use avocado_client::node::{Bounds, Event, Node, NodeConfig, Outcome, Policy};
use avocado_client::signed::SignedState;
use avocado_client::store::{ChannelStatus, MemStore, RedbStore, Store};
use avocado_codec::{phase, signer, Challenge, Domain, IAvocadoJudge as I};
use avocado_tests::devnet_chain::{devnet_with_judge, DevnetChain};
use avocado_tests::judge_scenarios::{CHAIN_ID, JUDGE};
use avocado_tests::stylus_judge::judge_bin;
use k256::ecdsa::SigningKey;

/// The dispute window (seconds of the chain's clock, which moves one second a block).
const WINDOW: u64 = 3_600;

/// How long a proposal waits for every signature (in process, it never needs that long).
const WAIT: Duration = Duration::from_secs(10);

/// The watchtower's poll interval: participant `i` waits `i × 3 × POLL` before answering.
const POLL: Duration = Duration::from_millis(20);

struct Participant {
    key: SigningKey,
    node: Arc<Node>,
    chain: Arc<DevnetChain>,
}

fn key(i: u8) -> SigningKey {
    SigningKey::from_slice(&[0x40 + i; 32]).expect("a valid key")
}

fn status(phase: u8, version: u64, finalizes_at: u64, data: &[u8]) -> ChannelStatusOnChain {
    ChannelStatusOnChain { phase, version, finalizes_at, data_hash: keccak256(data) }
}

fn signed(o: Outcome) -> SignedState {
    match o {
        Outcome::Signed(s) => s,
        Outcome::Pending { version } => panic!("v{version} is not fully signed"),
    }
}

/// Waits (a few seconds at most) until `node` holds the fully signed `version` of `id`.
async fn holds(node: &Node, id: B256, version: u64) {
    for _ in 0..200 {
        if node.store().latest(id).unwrap().is_some_and(|s| s.state.version >= version) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} never got v{version} of {id}", node.address());
}

/// `challenge` of `s` by `who`, as a participant builds it (a stale `s` is the attack).
fn challenge_call(terms: &Terms, domain: &Domain, s: &SignedState, who: &SigningKey) -> Vec<u8> {
    let c = Challenge { channelId: s.state.channelId, version: s.state.version };
    let challenger = signer::sign(who, &domain.challenge_digest(&c));
    I::challengeCall {
        params: terms.into(),
        state: s.state.clone(),
        sigs: s.sigs(),
        challengerSig: challenger.to_compact().to_vec().into(),
    }
    .abi_encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_in_one_process_live_a_channel_on_the_real_judge() {
    let keys: Vec<SigningKey> = (0..3).map(key).collect();
    let addresses: Vec<Address> = keys.iter().map(|k| signer::address_of(k.verifying_key())).collect();
    let activator = key(9);
    let mut funded = addresses.clone();
    funded.push(signer::address_of(activator.verifying_key()));
    let ether = U256::from(10u64).pow(U256::from(18u64));
    let devnet = devnet_with_judge(judge_bin(), &funded, ether * U256::from(100u64), &activator)
        .await
        .expect("the judge activates");

    // Alice keeps her channels in a redb file, Bob and Carol in memory.
    let dir = std::env::temp_dir().join(format!("avocado-in-process-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let transport = Arc::new(InProcess::new());
    let domain = Domain::new(CHAIN_ID, JUDGE);
    let people: Vec<Participant> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let store: Arc<dyn Store> = if i == 0 {
                Arc::new(RedbStore::open(&dir.join("alice.redb")).unwrap())
            } else {
                Arc::new(MemStore::new())
            };
            let chain = Arc::new(DevnetChain::new(devnet.clone(), JUDGE, k.clone()));
            assert_eq!(chain.address(), addresses[i]);
            let config = NodeConfig {
                key: k.clone(),
                domain,
                peer_url: format!("inproc://{i}"),
                policy: Policy { min_challenge_duration: 60, auto_accept: true },
                peer_timeout: Duration::from_secs(2),
                escrow: None,
                // Every block counts at once: the devnet never reorganises.
                watch: avocado_client::node::watch::WatchConfig { confirmations: 0, ws_url: None },
                bounds: Bounds::default(),
            };
            let dyn_chain: Arc<dyn ChainClient> = chain.clone();
            let node = Node::with_transport(config, store, Some(dyn_chain), transport.clone());
            transport.register(&format!("inproc://{i}"), &node);
            tokio::spawn(node.clone().run_outbox());
            Participant { key: k.clone(), node, chain }
        })
        .collect();
    let [alice, bob, carol] = [&people[0], &people[1], &people[2]];
    let mut alice_events = alice.node.subscribe();

    // ----- open --------------------------------------------------------------------------------
    let terms =
        Terms { participants: addresses.clone(), nonce: 7, challenge_duration: WINDOW, executive: Address::ZERO };
    let peers: Vec<String> = (0..3).map(|i| format!("inproc://{i}")).collect();
    let (id, o) = alice.node.propose_channel(terms.clone(), peers, Bytes::from_static(b"v0"), WAIT).await.unwrap();
    let v0 = signed(o);
    assert_eq!((v0.state.version, v0.signatures.len()), (0, 3));
    let open = alice.node.open_on_chain(id).await.unwrap();
    assert!(open.gas_used > 21_000 && open.gas_price > 0, "{open:?}");
    assert_eq!(alice.chain.status(id).await.unwrap(), status(phase::OPEN, 0, 0, b"v0"));
    // The others get the fully signed v0 announced shortly after Alice stored it.
    for p in &people {
        holds(&p.node, id, 0).await;
    }
    // Each watchtower's first pass: its cursor starts at the head, its status read is due.
    for p in &people {
        assert!(p.node.watch_once(POLL).await.is_empty());
        assert_eq!(p.node.store().channel(id).unwrap().unwrap().chain.phase, phase::OPEN);
    }

    // ----- updates, by each participant in turn, and a checkpoint -------------------------------
    let mut states = vec![v0];
    let mut checkpointed_at = 0;
    for v in 1..=4u64 {
        let by = &people[v as usize % 3].node;
        let data = Bytes::from(format!("v{v}").into_bytes());
        let s = signed(by.propose_update(id, data, false, WAIT).await.unwrap());
        assert_eq!(s.state.version, v);
        states.push(s);
        if v == 2 {
            holds(&bob.node, id, 2).await;
            let (version, receipt) = bob.node.checkpoint(id).await.unwrap();
            assert_eq!((version, receipt.block), (2, open.block + 1));
            checkpointed_at = receipt.block;
            assert_eq!(alice.chain.status(id).await.unwrap(), status(phase::OPEN, 2, 0, b"v2"));
        }
    }
    for p in &people {
        holds(&p.node, id, 4).await;
        assert_eq!(p.node.store().latest(id).unwrap().unwrap(), states[4]);
    }
    // Fully signed off chain, not posted: the judge still holds v2.
    assert_eq!(alice.chain.status(id).await.unwrap(), status(phase::OPEN, 2, 0, b"v2"));

    // ----- Carol challenges with stale states --------------------------------------------------
    // Older than what the judge holds: refused with the judge's typed error, nothing mined.
    let head = alice.chain.head().await.unwrap();
    let too_old = challenge_call(&terms, &domain, &states[1], &carol.key);
    match carol.chain.send(too_old).await {
        Err(ChainError::Reverted(Revert::Judge(I::IAvocadoJudgeErrors::StaleVersion(e)))) => {
            assert_eq!((e.stored, e.given), (2, 1))
        }
        other => panic!("expected StaleVersion(2, 1), got {other:?}"),
    }
    assert_eq!(alice.chain.head().await.unwrap(), head, "a refused call mines nothing");
    // v2, what the judge holds, is older than v4: the dispute starts on it.
    let before = carol.chain.balance(addresses[2]).await.unwrap();
    let stale = carol.chain.send(challenge_call(&terms, &domain, &states[2], &carol.key)).await.unwrap();
    // Carol's own account paid for it, exactly gas × price.
    assert_eq!(before - carol.chain.balance(addresses[2]).await.unwrap(), stale.fee());
    let challenged_at = alice.chain.head().await.unwrap();
    assert_eq!(challenged_at.number, stale.block);
    let deadline = challenged_at.timestamp + WINDOW;
    assert_eq!(alice.chain.status(id).await.unwrap(), status(phase::CHALLENGE, 2, deadline, b"v2"));

    // ----- Alice's watchtower answers in one pass ----------------------------------------------
    let errors = alice.node.watch_once(POLL).await;
    assert!(errors.is_empty(), "{errors:?}");
    let answered = loop {
        match alice_events.try_recv().expect("the watchtower reported its answer") {
            Event::Answered { channel_id, stale_version, version, receipt } => {
                assert_eq!((channel_id, stale_version, version), (id, 2, 4));
                break receipt;
            }
            _ => continue,
        }
    };
    assert_eq!(answered.block, stale.block + 1);
    // The answer stores v4 and does not move the deadline.
    assert_eq!(alice.chain.status(id).await.unwrap(), status(phase::CHALLENGE, 4, deadline, b"v4"));
    let record = alice.node.store().channel(id).unwrap().unwrap();
    assert_eq!((record.chain.phase, record.chain.version, record.chain.finalizes_at), (phase::CHALLENGE, 4, deadline));
    // Bob's watchtower sees the dispute and the answer in the logs, and has nothing to post.
    let head = alice.chain.head().await.unwrap();
    assert!(bob.node.watch_once(POLL).await.is_empty());
    assert_eq!(alice.chain.head().await.unwrap(), head, "Bob sent nothing");
    let record = bob.node.store().channel(id).unwrap().unwrap();
    assert_eq!((record.chain.phase, record.chain.version, record.chain.finalizes_at), (phase::CHALLENGE, 4, deadline));

    // ----- cooperative close, during the dispute -----------------------------------------------
    let (version, concluded) = bob.node.close(id, Some(Bytes::from_static(b"final")), WAIT).await.unwrap();
    assert_eq!(version, 5);
    let final_state = bob.node.store().latest(id).unwrap().unwrap();
    assert!(final_state.state.isFinal && final_state.state.version == 5);
    let s = alice.chain.status(id).await.unwrap();
    assert_eq!((s.phase, s.version, s.data_hash), (phase::FINAL, 5, keccak256(b"final")));
    for p in &people {
        assert!(p.node.watch_once(POLL).await.is_empty());
        let record = p.node.store().channel(id).unwrap().unwrap();
        assert_eq!((record.status, record.chain.phase, record.chain.version), (ChannelStatus::Closed, phase::FINAL, 5));
    }

    // ----- what the judge logged, as every watchtower read it ----------------------------------
    let head = alice.chain.head().await.unwrap();
    assert_eq!(head.number, concluded.block);
    let events = alice.chain.events(0, head.number).await.unwrap();
    // `open` logs the channel, then its version 0.
    assert_eq!(
        events,
        vec![
            (open.block, JudgeEvent::Opened { channel: id }),
            (open.block, JudgeEvent::Checkpointed { channel: id, version: 0 }),
            (checkpointed_at, JudgeEvent::Checkpointed { channel: id, version: 2 }),
            (
                stale.block,
                JudgeEvent::ChallengeStarted {
                    channel: id,
                    challenger: addresses[2],
                    version: 2,
                    finalizes_at: deadline
                }
            ),
            (answered.block, JudgeEvent::Checkpointed { channel: id, version: 4 }),
            (concluded.block, JudgeEvent::Concluded { channel: id, version: 5 }),
        ]
    );

    // ----- reads at a past block, block hashes ------------------------------------------------
    let status_call = I::statusCall { channelId: id }.abi_encode();
    let at_challenge = alice.chain.read_at(JUDGE, status_call.clone(), stale.block).await.unwrap();
    let s = I::statusCall::abi_decode_returns(&at_challenge).unwrap();
    assert_eq!((s.phase, s.version, s.dataHash), (phase::CHALLENGE, 2, keccak256(b"v2")));
    let now = alice.chain.read_at(JUDGE, status_call, head.number).await.unwrap();
    assert_eq!(I::statusCall::abi_decode_returns(&now).unwrap().version, 5);
    assert_eq!(alice.chain.block_hash(head.number).await.unwrap(), Some(head.hash));
    assert_eq!(alice.chain.block_hash(head.number + 1).await.unwrap(), None);
    assert_ne!(alice.chain.block_hash(stale.block).await.unwrap(), Some(B256::ZERO));

    drop(people);
    let _ = std::fs::remove_dir_all(&dir);
}
