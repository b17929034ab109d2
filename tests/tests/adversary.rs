//! A dishonest participant against a stock honest node, with the real judge and escrow WASM on
//! the devnet. Alice (the adversary, her own key, hand-made peer messages and direct chain calls)
//! tries each way an earlier review found to take Bob's money; each fails, and Bob's credit in the
//! escrow is checked on chain to the wei.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use avocado_cli::process::{NodeProcess, NodeSpec};
use avocado_client::app_client::ApiError;
use avocado_client::chain::ChainClient;
use avocado_client::message::{Message, Terms};
use avocado_client::node::Event;
use avocado_client::pay::PaymentView;
use avocado_client::signed::SignedState;
use avocado_codec::payment::{encode_accounts, Account, IAvocadoEscrow as E};
use avocado_codec::{ChannelParams, IAvocadoJudge as J, State};
use avocado_tests::adversary::{Answer, Mallory, Refusal};
use avocado_tests::nodes::{avocado_exe, Folder, TestChain};
use serde_json::json;

fn milli(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(15u64))
}

/// `[(balance, counted)]` of Bob (participant 0) and Alice (participant 1), in milli-ether.
fn accounts(bob: (u64, u64), alice: (u64, u64)) -> Bytes {
    let a = [bob, alice].map(|(b, c)| Account { balance: milli(b), counted: milli(c) });
    Bytes::from(encode_accounts(&a))
}

/// Bob's stock node (participant 0) and Alice (participant 1) in one payment channel.
struct World {
    chain: TestChain,
    escrow: Address,
    bob: NodeProcess,
    alice: Arc<Mallory>,
    alice_key: PrivateKeySigner,
    id: B256,
    terms: Terms,
    _folder: Folder,
}

impl World {
    async fn start(name: &str) -> Self {
        Self::start_with(name, 0).await
    }

    /// Bob's watchtower and counts rely on blocks `confirmations` deep.
    async fn start_with(name: &str, confirmations: u64) -> Self {
        let chain = TestChain::start().await;
        let escrow = chain.deploy("escrow").await;
        let bob_key = chain.funded_key(&format!("{name} bob")).await;
        let alice_key = chain.funded_key(&format!("{name} alice")).await;
        let folder = Folder::new(name);
        let spec = NodeSpec {
            exe: avocado_exe(),
            data_dir: folder.0.join("bob"),
            private_key: alloy_primitives::hex::encode(bob_key.to_bytes()),
            rpc_url: Some(chain.rpc.clone()),
            judge: chain.judge,
            // The devnet seals one block per transaction: logs are read up to the head unless a
            // test mines the blocks a depth needs.
            extra: ["--auto-accept", "--min-challenge", "30s", "--watch-every", "100ms", "--escrow"]
                .into_iter()
                .map(String::from)
                .chain([escrow.to_string(), "--confirmations".into(), confirmations.to_string()])
                .collect(),
            peer_port: 0,
            app_port: 0,
            nofile_limit: None,
        };
        let bob = NodeProcess::spawn(spec).await.expect("Bob's node starts");
        let alice = Mallory::start(vec![alice_key.clone()], chain.domain()).await;
        let opened = bob
            .api
            .post(
                "/v1/pay",
                json!({ "participants": [alice_key.address()], "peers": [alice.urls[0]],
                        "challengeDuration": 60, "nonce": 1 }),
            )
            .await
            .expect("Bob opens the channel");
        let id: B256 = serde_json::from_value(opened["channelId"].clone()).unwrap();
        let terms = bob.api.channel(id).await.unwrap().record.terms;
        Self { chain, escrow, bob, alice, alice_key, id, terms, _folder: folder }
    }

    fn params(&self) -> ChannelParams {
        (&self.terms).into()
    }

    fn honest(&self) -> Vec<(usize, String)> {
        vec![(0, self.bob.peer_url.clone())]
    }

    /// Bob's latest fully signed state.
    async fn bob_latest(&self) -> SignedState {
        let l = self.bob.api.channel(self.id).await.unwrap().latest.expect("a fully signed state");
        SignedState::try_from(&l).unwrap()
    }

    /// Alice deposits `amount` straight into the escrow.
    async fn alice_deposits(&self, amount: U256) {
        let call = E::depositCall { judge: self.chain.judge, params: (&self.params()).into() };
        let c = self.chain.client(&self.alice_key).await;
        c.transact(self.escrow, call.abi_encode(), amount).await.expect("Alice's deposit");
    }

    /// Alice proposes `data` as `version` on `base`.
    async fn alice_proposes(
        &self,
        base: &SignedState,
        version: u64,
        data: Bytes,
        is_final: bool,
    ) -> Result<SignedState, Refusal> {
        let state = State { channelId: self.id, version, data, isFinal: is_final };
        self.alice.propose(&self.terms, base, state, &self.honest()).await
    }

    async fn view(&self) -> PaymentView {
        self.bob.api.get(&format!("/v1/pay/{}", self.id)).await.unwrap()
    }

    async fn escrow_read<C: SolCall>(&self, call: C) -> C::Return {
        let out = self.chain.client(&self.alice_key).await.read(self.escrow, call.abi_encode()).await.unwrap();
        C::abi_decode_returns(&out).unwrap()
    }

    /// Settles the channel with the final data (Alice pays for it) and returns the credits of
    /// Bob and Alice.
    async fn settle(&self, data: Bytes) -> (U256, U256) {
        let call = E::settleCall { judge: self.chain.judge, params: (&self.params()).into(), data };
        let c = self.chain.client(&self.alice_key).await;
        c.transact(self.escrow, call.abi_encode(), U256::ZERO).await.expect("settles");
        let bob = self.escrow_read(E::creditCall { account: self.bob.address }).await;
        let alice = self.escrow_read(E::creditCall { account: self.alice_key.address() }).await;
        (bob, alice)
    }
}

fn assert_refused(r: Result<SignedState, Refusal>, status: u16, words: &str) {
    match r {
        Ok(s) => panic!("Bob's node signed v{} — expected a refusal ({status}, {words:?})", s.state.version),
        Err(e) => {
            assert_eq!(e.status, status, "{}", e.message);
            assert!(e.message.contains(words), "expected {words:?} in {}", e.message);
        }
    }
}

/// Findings 1 and 2: Bob deposits, Alice refuses to count it, then tries to take it — by a
/// proposal Bob's node would sign, and by settling the latest state. Neither works: the deposit
/// comes back to Bob. Deposits during the dispute are refused by Bob's node before any
/// transaction.
#[tokio::test(flavor = "multi_thread")]
async fn a_deposit_the_others_refuse_to_count_stays_its_depositors() {
    let w = World::start("adv-count").await;
    let v0 = w.bob_latest().await;
    // Alice deposits 3 and counts it; then pays all 3 to Bob.
    w.alice_deposits(milli(3)).await;
    let v1 = w.alice_proposes(&v0, 1, accounts((0, 0), (3, 3)), false).await.expect("Bob signs a fair count");
    w.alice.deliver(&v1, &w.honest()).await;
    let v2 = w.alice_proposes(&v1, 2, accounts((3, 0), (0, 3)), false).await.expect("Bob signs a payment to him");
    w.alice.deliver(&v2, &w.honest()).await;
    assert_eq!(w.bob_latest().await, v2);

    // Bob deposits 5; Alice refuses to count it.
    w.alice.answer_with(Answer::Refuse);
    let err = w.bob.api.post(&format!("/v1/pay/{}/deposit", w.id), json!({ "amount": milli(5) })).await.unwrap_err();
    assert!(matches!(&err, ApiError::Status { status: 409, message } if message.contains("not counted")), "{err}");
    let v = w.view().await;
    assert_eq!(v.deposits, vec![milli(5), milli(3)]);
    assert_eq!(v.counted, vec![U256::ZERO, milli(3)]);

    // Alice's ways to take it, each refused by Bob's node: counting Bob's deposit into her
    // balance, counting it as hers, or just adding to her balance.
    let steal = w.alice_proposes(&v2, 3, accounts((3, 5), (5, 3)), false).await;
    assert_refused(steal, 422, "takes");
    let as_hers = w.alice_proposes(&v2, 3, accounts((3, 0), (5, 8)), false).await;
    assert_refused(as_hers, 422, "escrow holds");
    let inflate = w.alice_proposes(&v2, 3, accounts((3, 0), (5, 3)), false).await;
    assert_refused(inflate, 422, "add up to");
    assert_eq!(w.bob_latest().await, v2, "Bob's node holds what it held");

    // Alice settles the latest state by a dispute. While it runs, Bob's node makes no deposit.
    w.chain.challenge_with(&w.alice_key, w.params(), &v2).await.expect("Alice challenges");
    let err = w.bob.api.post(&format!("/v1/pay/{}/deposit", w.id), json!({ "amount": milli(1) })).await.unwrap_err();
    assert!(matches!(&err, ApiError::Status { status: 409, message } if message.contains("dispute")), "{err}");
    assert_eq!(w.escrow_read(E::depositedCall { channelId: w.id, participant: w.bob.address }).await, milli(5));
    w.chain.travel(61).await;
    let (bob, alice) = w.settle(v2.state.data.clone()).await;
    assert_eq!(bob, milli(8), "Bob: the 3 Alice paid him + his own uncounted 5, to the wei");
    assert_eq!(alice, U256::ZERO, "Alice spent her deposit and gets nothing of Bob's");
    w.chain.stop().await;
}

/// Finding 3: a final state is final on chain the moment it is fully signed, so Bob's node signs
/// one only as the direct successor of the latest fully signed state, says so on its event stream,
/// and signs nothing for the channel afterwards — Alice cannot erase later payments by concluding
/// it.
#[tokio::test(flavor = "multi_thread")]
async fn a_final_state_ends_what_a_node_signs() {
    let w = World::start("adv-final").await;
    let events = Arc::new(Mutex::new(Vec::new()));
    {
        let (api, events) = (w.bob.api.clone(), events.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = api
                .follow_events_from(
                    move || {
                        let _ = tx.send(());
                    },
                    |e| {
                        events.lock().unwrap().push(e);
                        true
                    },
                )
                .await;
        });
        rx.await.unwrap();
    }
    let d = w.bob.api.post(&format!("/v1/pay/{}/deposit", w.id), json!({ "amount": milli(4) })).await.unwrap();
    assert_eq!(d["version"], 1);
    let v1 = w.bob_latest().await;
    w.alice_deposits(milli(2)).await;
    let v2 = w.alice_proposes(&v1, 2, accounts((4, 4), (2, 2)), false).await.expect("a fair count");
    w.alice.deliver(&v2, &w.honest()).await;

    // A final state that skips a version: refused.
    let skip = w.alice_proposes(&v2, 4, accounts((4, 4), (2, 2)), true).await;
    assert_refused(skip, 409, "directly follow");
    // Alice pays Bob 1 in v3 and withholds the fully signed state; a final v4 on v2 would bury it.
    let v3 = w.alice_proposes(&v2, 3, accounts((5, 4), (1, 2)), false).await.expect("a payment to Bob");
    let buried = w.alice_proposes(&v2, 4, accounts((4, 4), (2, 2)), true).await;
    assert_refused(buried, 409, "never settled");
    // With v3 delivered, a final v4 is its direct successor: signed, and reported.
    w.alice.deliver(&v3, &w.honest()).await;
    let fin = w.alice_proposes(&v3, 4, accounts((5, 4), (1, 2)), true).await.expect("Bob signs the final state");
    for _ in 0..100 {
        if events.lock().unwrap().iter().any(|e| matches!(e, Event::FinalSigned { version: 4, .. })) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::FinalSigned { version: 4, channel_id, .. } if *channel_id == w.id)),
        "Bob's event stream reports the final signature"
    );
    // Alice withholds it and goes on: a payment to Bob on v3 or on the final v4, Bob's own
    // payment — nothing more is signed for this channel.
    let more = w.alice_proposes(&v3, 5, accounts((6, 4), (0, 2)), false).await;
    assert_refused(more, 409, "final");
    let after = w.alice_proposes(&fin, 5, accounts((6, 4), (0, 2)), false).await;
    assert_refused(after, 409, "final");
    let err = w.bob.api.post(&format!("/v1/pay/{}/send", w.id), json!({ "amount": milli(1) })).await.unwrap_err();
    assert!(matches!(&err, ApiError::Status { status: 409, message } if message.contains("final")), "{err}");

    // Alice concludes the final state she withheld: Bob gets all it gives him.
    let call = J::concludeCall { params: w.params(), state: fin.state.clone(), sigs: fin.sigs() };
    w.chain.client(&w.alice_key).await.send(call.abi_encode()).await.expect("conclude");
    let (bob, alice) = w.settle(fin.state.data.clone()).await;
    assert_eq!((bob, alice), (milli(5), milli(1)), "to the wei");
    w.chain.stop().await;
}

/// Finding 8: a rejection names the digest of the state it rejects; one naming anything else —
/// a replay of an earlier rejection with the same version — changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_rejection_names_what_it_rejects() {
    let w = World::start("adv-reject").await;
    let d = w.bob.api.post(&format!("/v1/pay/{}/deposit", w.id), json!({ "amount": milli(2) })).await.unwrap();
    assert_eq!(d["version"], 1);
    w.alice.answer_with(Answer::Ignore);
    let api = w.bob.api.clone();
    let id = w.id;
    let send = |amount| {
        let api = api.clone();
        tokio::spawn(async move { api.post(&format!("/v1/pay/{id}/send"), json!({ "amount": amount })).await })
    };
    let seen = w.alice.asked().len();
    let first = send(milli(1));
    let asked = wait_asked(&w.alice, seen + 1).await;
    let v = asked.version;
    // A rejection of another state with the same version: refused, the proposal goes on.
    let other = State { data: accounts((0, 2), (2, 0)), ..asked.clone() };
    let replay = Message::RejectUpdate {
        channel_id: id,
        version: v,
        digest: w.chain.domain().state_digest(&other),
        reason: "replayed".into(),
    };
    let r = w.alice.send(0, &w.bob.peer_url, &replay).await.unwrap_err();
    assert_eq!(r.status, 409, "{}", r.message);
    // Alice's real signature settles it.
    let accept = Message::AcceptUpdate {
        channel_id: id,
        version: v,
        signature: Bytes::from(w.alice.sign(0, &asked).to_bytes().to_vec()),
    };
    w.alice.send(0, &w.bob.peer_url, &accept).await.expect("accepted");
    let done = first.await.unwrap().expect("Bob's payment settles");
    assert_eq!(done["version"], v);
    // A rejection naming the proposal ends it.
    let second = send(milli(1));
    let asked = wait_asked(&w.alice, seen + 2).await;
    let reject = Message::RejectUpdate {
        channel_id: id,
        version: asked.version,
        digest: w.chain.domain().state_digest(&asked),
        reason: "no".into(),
    };
    w.alice.send(0, &w.bob.peer_url, &reject).await.expect("taken");
    let err = second.await.unwrap().unwrap_err();
    assert!(matches!(&err, ApiError::Status { status: 409, .. }), "{err}");
    assert_eq!(w.view().await.balances, vec![milli(1), milli(1)]);
    w.chain.stop().await;
}

/// Waits until Alice was asked to sign `n` honest proposals; returns the last.
async fn wait_asked(alice: &Mallory, n: usize) -> State {
    for _ in 0..500 {
        let asked = alice.asked();
        if asked.len() >= n {
            return asked[n - 1].0.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("Alice was never asked to sign proposal {n}");
}

/// A count may rely only on a deposit that is confirmed: one a reorganisation could still remove
/// would leave a state the escrow refuses to settle. Bob (2 confirmations) refuses Alice's count
/// of a deposit made in the last block, signs it two blocks later, and counts his own deposit
/// only once it is two blocks deep.
#[tokio::test(flavor = "multi_thread")]
async fn a_count_waits_for_its_deposit_to_be_confirmed() {
    let w = World::start_with("adv-confirm", 2).await;
    let v0 = w.bob_latest().await;
    w.alice_deposits(milli(3)).await;
    let early = w.alice_proposes(&v0, 1, accounts((0, 0), (3, 3)), false).await;
    assert_refused(early, 422, "escrow holds 0");
    w.chain.mine(2).await;
    let v1 = w.alice_proposes(&v0, 2, accounts((0, 0), (3, 3)), false).await.expect("confirmed: Bob signs");
    w.alice.deliver(&v1, &w.honest()).await;
    // Bob's own deposit: counted once two blocks are mined on top of it.
    let api = w.bob.api.clone();
    let id = w.id;
    let deposit =
        tokio::spawn(async move { api.post(&format!("/v1/pay/{id}/deposit"), json!({ "amount": milli(5) })).await });
    for _ in 0..100 {
        if w.escrow_read(E::depositedCall { channelId: w.id, participant: w.bob.address }).await == milli(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!deposit.is_finished(), "Bob counts nothing before his deposit is confirmed");
    w.chain.mine(2).await;
    let done = deposit.await.unwrap().expect("counted");
    assert_eq!(done["version"], 3);
    assert_eq!(w.view().await.counted, vec![milli(5), milli(3)]);
    w.chain.stop().await;
}
