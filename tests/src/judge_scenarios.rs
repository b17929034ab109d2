//! The judge's behaviour, rule by rule, written once and run against every way the judge can be
//! executed: natively on the SDK's test VM, as the compiled WASM on the devnet's Stylus host,
//! and (later) over JSON-RPC. A scenario speaks only ABI: calldata in, return or revert data and
//! logs out. That is what catches selector, encoding and codegen differences between the Rust
//! source and the program that is actually deployed.

use alloy_primitives::{address, keccak256, Address, Bytes, LogData, B256, U256};
use alloy_sol_types::{SolCall, SolEvent, SolInterface};
use avocado_codec::{
    limits::{MAX_CHALLENGE_DURATION, MAX_DATA_LEN},
    phase, signer, Challenge, ChannelParams, Domain, IAvocadoJudge as I, State,
};
use k256::ecdsa::SigningKey;

/// Chain id every harness starts with (the Nitro devnode's).
pub const CHAIN_ID: u64 = 412_346;
/// Address every harness deploys the judge at (the committed vectors use it too).
pub const JUDGE: Address = address!("a6e41ffd769491a42a6e5ce453259b93983a22ef");
/// Block timestamp every harness starts at.
pub const GENESIS_TIME: u64 = 1_700_000_000;

/// What one transaction did.
#[derive(Debug)]
pub struct Outcome {
    /// Return data on success, revert data on failure.
    pub result: Result<Vec<u8>, Vec<u8>>,
    /// Logs of a successful call.
    pub logs: Vec<LogData>,
    /// Storage slots whose value changed, if the harness can tell.
    pub slots_written: Option<usize>,
    /// Gas used by execution (L2; without the L1 poster cost a chain adds), if the harness meters.
    pub gas_used: Option<u64>,
}

/// One way of running the judge at [`JUDGE`] on chain [`CHAIN_ID`].
pub trait JudgeHarness {
    /// Sets `block.timestamp` for the following calls.
    fn set_time(&mut self, timestamp: u64);
    /// Current `block.timestamp`.
    fn time(&self) -> u64;
    /// Runs `calldata` as a transaction; a revert changes nothing.
    fn send(&mut self, calldata: Vec<u8>) -> Outcome;
    /// Runs `calldata` as a read-only call.
    fn view(&mut self, calldata: Vec<u8>) -> Result<Vec<u8>, Vec<u8>> {
        self.send(calldata).result
    }
}

/// A test key.
pub fn key(i: usize) -> SigningKey {
    SigningKey::from_slice(keccak256(format!("avocado-scenario-key-{i}")).as_slice()).unwrap()
}

/// A channel with known keys, and helpers to sign its states.
pub struct Fixture {
    /// The judge's domain.
    pub domain: Domain,
    /// The channel's terms.
    pub params: ChannelParams,
    /// Participants' keys, in participant order.
    pub keys: Vec<SigningKey>,
    /// The channel id.
    pub id: B256,
}

impl Fixture {
    /// `n` participants (keys 0..n), challenge duration `duration`.
    pub fn new(n: usize, duration: u64) -> Self {
        Self::with(Domain::new(CHAIN_ID, JUDGE), (0..n).collect(), 0, duration)
    }

    /// Full control over the domain, key indices and nonce.
    pub fn with(domain: Domain, keys: Vec<usize>, nonce: u64, duration: u64) -> Self {
        let keys: Vec<SigningKey> = keys.into_iter().map(key).collect();
        let params = ChannelParams {
            participants: keys.iter().map(|k| signer::address_of(k.verifying_key())).collect(),
            nonce,
            challengeDuration: duration,
            executive: Address::ZERO,
        };
        let id = domain.channel_id(&params);
        Self { domain, params, keys, id }
    }

    /// The state `version` with `data`.
    pub fn state(&self, version: u64, data: &[u8], is_final: bool) -> State {
        State { channelId: self.id, version, data: Bytes::copy_from_slice(data), isFinal: is_final }
    }

    /// Every participant's compact signature of `state`, concatenated.
    pub fn sign(&self, state: &State) -> Bytes {
        self.sign_with(&self.domain, state, &self.keys)
    }

    /// Signatures of `state` under `domain` by `keys`, compact, concatenated.
    pub fn sign_with(&self, domain: &Domain, state: &State, keys: &[SigningKey]) -> Bytes {
        let digest = domain.state_digest(state);
        keys.iter().flat_map(|k| signer::sign(k, &digest).to_compact()).collect::<Vec<u8>>().into()
    }

    /// 65-byte signatures of `state`.
    pub fn sign65(&self, state: &State) -> Bytes {
        let digest = self.domain.state_digest(state);
        self.keys.iter().flat_map(|k| signer::sign(k, &digest).to_bytes()).collect::<Vec<u8>>().into()
    }

    /// Participant `who`'s signature of `Challenge{id, version}`.
    pub fn challenge_sig(&self, who: &SigningKey, version: u64) -> Bytes {
        let digest = self.domain.challenge_digest(&Challenge { channelId: self.id, version });
        Bytes::copy_from_slice(&signer::sign(who, &digest).to_compact())
    }

    /// Calldata of `open`.
    pub fn open(&self, state: &State, sigs: &Bytes) -> Vec<u8> {
        I::openCall { params: self.params.clone(), state: state.clone(), sigs: sigs.clone() }.abi_encode()
    }

    /// Calldata of `checkpoint`.
    pub fn checkpoint(&self, state: &State, sigs: &Bytes) -> Vec<u8> {
        I::checkpointCall { params: self.params.clone(), state: state.clone(), sigs: sigs.clone() }.abi_encode()
    }

    /// Calldata of `challenge`.
    pub fn challenge(&self, state: &State, sigs: &Bytes, challenger_sig: &Bytes) -> Vec<u8> {
        I::challengeCall {
            params: self.params.clone(),
            state: state.clone(),
            sigs: sigs.clone(),
            challengerSig: challenger_sig.clone(),
        }
        .abi_encode()
    }

    /// Calldata of `conclude`.
    pub fn conclude(&self, state: &State, sigs: &Bytes) -> Vec<u8> {
        I::concludeCall { params: self.params.clone(), state: state.clone(), sigs: sigs.clone() }.abi_encode()
    }
}

/// `status(id)` through the harness.
pub fn status(h: &mut dyn JudgeHarness, id: B256) -> I::statusReturn {
    let out = h.view(I::statusCall { channelId: id }.abi_encode()).expect("status never reverts");
    I::statusCall::abi_decode_returns(&out).expect("status returns (uint8,uint64,uint64,bytes32)")
}

/// Sends `calldata`, asserts success, and returns the logs.
pub fn ok(h: &mut dyn JudgeHarness, calldata: Vec<u8>) -> Vec<LogData> {
    let out = h.send(calldata);
    match out.result {
        Ok(_) => out.logs,
        Err(data) => panic!("call reverted: {:?}", decode_error(&data)),
    }
}

/// Decodes revert data as one of the judge's errors.
pub fn decode_error(data: &[u8]) -> Result<I::IAvocadoJudgeErrors, String> {
    I::IAvocadoJudgeErrors::abi_decode(data)
        .map_err(|e| format!("undecodable revert data 0x{}: {e}", alloy_primitives::hex::encode(data)))
}

/// Sends `calldata`, asserts it reverts with `expected`, and that the channel `id` is unchanged.
pub fn fails(h: &mut dyn JudgeHarness, id: B256, calldata: Vec<u8>, expected: I::IAvocadoJudgeErrors) {
    let before = status(h, id);
    let out = h.send(calldata);
    match out.result {
        Ok(_) => panic!("call succeeded, expected {expected:?}"),
        Err(data) => assert_eq!(decode_error(&data), Ok(expected)),
    }
    assert!(out.logs.is_empty(), "a reverted call left logs");
    let after = status(h, id);
    assert_eq!(
        (before.phase, before.version, before.finalizesAt, before.dataHash),
        (after.phase, after.version, after.finalizesAt, after.dataHash),
        "a reverted call changed the channel"
    );
}

fn decode<E: SolEvent>(log: &LogData) -> E {
    E::decode_log_data(log).expect("event decodes")
}

fn u(n: usize) -> U256 {
    U256::from(n)
}

fn assert_status(h: &mut dyn JudgeHarness, id: B256, phase: u8, version: u64, finalizes_at: u64, data: &[u8]) {
    let s = status(h, id);
    assert_eq!((s.phase, s.version, s.finalizesAt, s.dataHash), (phase, version, finalizes_at, keccak256(data)));
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Each takes a fresh harness.

/// Opens a 2-party channel; checks status and both events.
pub fn open_two_party(h: &mut dyn JudgeHarness) {
    open_n(h, 2);
}

/// Opens a 3-party channel.
pub fn open_three_party(h: &mut dyn JudgeHarness) {
    open_n(h, 3);
}

fn open_n(h: &mut dyn JudgeHarness, n: usize) {
    let f = Fixture::new(n, 3600);
    let unknown = status(h, f.id);
    assert_eq!(
        (unknown.phase, unknown.version, unknown.finalizesAt, unknown.dataHash),
        (phase::NONE, 0, 0, B256::ZERO)
    );
    let s = f.state(0, b"genesis", false);
    let logs = ok(h, f.open(&s, &f.sign(&s)));
    assert_eq!(logs.len(), 2);
    let opened: I::ChannelOpened = decode(&logs[0]);
    assert_eq!(opened.channelId, f.id);
    assert_eq!(opened.participants, f.params.participants);
    assert_eq!((opened.nonce, opened.challengeDuration, opened.executive), (0, 3600, Address::ZERO));
    let cp: I::StateCheckpointed = decode(&logs[1]);
    assert_eq!((cp.channelId, cp.version, cp.data.as_ref()), (f.id, 0, &b"genesis"[..]));
    assert_status(h, f.id, phase::OPEN, 0, 0, b"genesis");
}

/// `open` on a known channel reverts `ChannelExists`.
pub fn open_twice(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(2, 3600);
    let s = f.state(0, b"", false);
    ok(h, f.open(&s, &f.sign(&s)));
    let s1 = f.state(1, b"", false);
    fails(
        h,
        f.id,
        f.open(&s1, &f.sign(&s1)),
        I::IAvocadoJudgeErrors::ChannelExists(I::ChannelExists { channelId: f.id }),
    );
}

/// Newer states replace older ones; the stored version is a no-op; older ones revert.
pub fn checkpoint_versions(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(2, 3600);
    // Never opened: checkpoint registers the channel.
    let s1 = f.state(1, b"one", false);
    let logs = ok(h, f.checkpoint(&s1, &f.sign(&s1)));
    let cp: I::StateCheckpointed = decode(&logs[0]);
    assert_eq!((cp.version, cp.data.as_ref()), (1, &b"one"[..]));
    assert_status(h, f.id, phase::OPEN, 1, 0, b"one");
    let s5 = f.state(5, b"five", false);
    ok(h, f.checkpoint(&s5, &f.sign(&s5)));
    assert_status(h, f.id, phase::OPEN, 5, 0, b"five");
    // Equal version: a no-op, no event, even with other data.
    let again = ok(h, f.checkpoint(&s5, &f.sign(&s5)));
    assert!(again.is_empty());
    let s5b = f.state(5, b"other five", false);
    assert!(ok(h, f.checkpoint(&s5b, &f.sign(&s5b))).is_empty());
    assert_status(h, f.id, phase::OPEN, 5, 0, b"five");
    // Stale.
    let s3 = f.state(3, b"three", false);
    fails(
        h,
        f.id,
        f.checkpoint(&s3, &f.sign(&s3)),
        I::IAvocadoJudgeErrors::StaleVersion(I::StaleVersion { stored: 5, given: 3 }),
    );
    // 65-byte signatures are accepted too.
    let s6 = f.state(6, b"six", false);
    ok(h, f.checkpoint(&s6, &f.sign65(&s6)));
    assert_status(h, f.id, phase::OPEN, 6, 0, b"six");
}

/// A signature by the wrong key, in the wrong order, or of another state reverts with its index.
pub fn wrong_signers(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(3, 3600);
    let s = f.state(1, b"x", false);
    let digest = f.domain.state_digest(&s);
    let good: Vec<[u8; 64]> = f.keys.iter().map(|k| signer::sign(k, &digest).to_compact()).collect();
    let outsider = signer::sign(&key(99), &digest).to_compact();
    let cat =
        |parts: &[&[u8; 64]]| -> Bytes { parts.iter().flat_map(|p| p.iter().copied()).collect::<Vec<u8>>().into() };
    let bad = |i: usize| I::IAvocadoJudgeErrors::InvalidSignature(I::InvalidSignature { index: u(i) });
    fails(h, f.id, f.checkpoint(&s, &cat(&[&good[0], &outsider, &good[2]])), bad(1));
    fails(h, f.id, f.checkpoint(&s, &cat(&[&good[1], &good[0], &good[2]])), bad(0));
    fails(h, f.id, f.checkpoint(&s, &cat(&[&good[0], &good[1], &good[1]])), bad(2));
    // Signatures of another version.
    let other = f.state(2, b"x", false);
    fails(h, f.id, f.checkpoint(&s, &f.sign(&other)), bad(0));
    ok(h, f.checkpoint(&s, &cat(&[&good[0], &good[1], &good[2]])));
}

/// The high-s twin of a valid signature, and signatures recovering to nothing, revert.
pub fn malleable_and_unrecoverable(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(2, 3600);
    let s = f.state(1, b"x", false);
    let digest = f.domain.state_digest(&s);
    let sig0 = signer::sign(&f.keys[0], &digest);
    let sig1 = signer::sign(&f.keys[1], &digest).to_bytes();
    // s' = n - s with the other parity recovers the same key, but is not canonical.
    let n = U256::from_be_bytes(avocado_codec::signature::HALF_ORDER.0) * U256::from(2) + U256::from(1);
    let s_twin = n - U256::from_be_bytes(sig0.s.0);
    let mut twin = sig0.to_bytes();
    twin[32..64].copy_from_slice(&s_twin.to_be_bytes::<32>());
    twin[64] = if sig0.v == 27 { 28 } else { 27 };
    let blob: Bytes = [twin.as_slice(), sig1.as_slice()].concat().into();
    let bad0 = I::IAvocadoJudgeErrors::InvalidSignature(I::InvalidSignature { index: u(0) });
    fails(h, f.id, f.checkpoint(&s, &blob), bad0.clone());
    // r that is not the x of any curve point: the precompile returns nothing.
    let mut junk = sig0.to_bytes();
    junk[..32].fill(0xff);
    let blob: Bytes = [junk.as_slice(), sig1.as_slice()].concat().into();
    fails(h, f.id, f.checkpoint(&s, &blob), bad0.clone());
    // v outside {27, 28}.
    let mut bad_v = sig0.to_bytes();
    bad_v[64] = 29;
    let blob: Bytes = [bad_v.as_slice(), sig1.as_slice()].concat().into();
    fails(h, f.id, f.checkpoint(&s, &blob), bad0);
    // Wrong lengths: one byte short, mixed widths, empty.
    let len_err = |len: usize| {
        I::IAvocadoJudgeErrors::InvalidSignaturesLength(I::InvalidSignaturesLength {
            length: u(len),
            participants: u(2),
        })
    };
    let good = f.sign(&s);
    fails(h, f.id, f.checkpoint(&s, &good.slice(..127)), len_err(127));
    let mixed: Bytes = [sig0.to_compact().as_slice(), sig1.as_slice()].concat().into();
    fails(h, f.id, f.checkpoint(&s, &mixed), len_err(129));
    fails(h, f.id, f.checkpoint(&s, &Bytes::new()), len_err(0));
}

/// Participant count, zero and duplicate participants, challenge duration bounds.
pub fn bad_params(h: &mut dyn JudgeHarness) {
    let try_params =
        |h: &mut dyn JudgeHarness, participants: Vec<Address>, duration: u64, expected: I::IAvocadoJudgeErrors| {
            let params =
                ChannelParams { participants, nonce: 0, challengeDuration: duration, executive: Address::ZERO };
            let id = Domain::new(CHAIN_ID, JUDGE).channel_id(&params);
            let state = State { channelId: id, version: 0, data: Bytes::new(), isFinal: false };
            let call = I::openCall { params, state, sigs: Bytes::new() }.abi_encode();
            fails(h, id, call, expected);
        };
    let addr = |i: usize| signer::address_of(key(i).verifying_key());
    try_params(
        h,
        vec![addr(0)],
        60,
        I::IAvocadoJudgeErrors::InvalidParticipantCount(I::InvalidParticipantCount { count: u(1) }),
    );
    try_params(
        h,
        vec![],
        60,
        I::IAvocadoJudgeErrors::InvalidParticipantCount(I::InvalidParticipantCount { count: u(0) }),
    );
    let many: Vec<Address> = (1..=256u32).map(|i| Address::left_padding_from(&i.to_be_bytes())).collect();
    try_params(
        h,
        many,
        60,
        I::IAvocadoJudgeErrors::InvalidParticipantCount(I::InvalidParticipantCount { count: u(256) }),
    );
    try_params(
        h,
        vec![addr(0), Address::ZERO],
        60,
        I::IAvocadoJudgeErrors::InvalidParticipant(I::InvalidParticipant { index: u(1) }),
    );
    try_params(
        h,
        vec![addr(0), addr(1), addr(0)],
        60,
        I::IAvocadoJudgeErrors::InvalidParticipant(I::InvalidParticipant { index: u(2) }),
    );
    try_params(
        h,
        vec![addr(0), addr(1)],
        0,
        I::IAvocadoJudgeErrors::InvalidChallengeDuration(I::InvalidChallengeDuration { duration: 0 }),
    );
    let too_long = MAX_CHALLENGE_DURATION + 1;
    try_params(
        h,
        vec![addr(0), addr(1)],
        too_long,
        I::IAvocadoJudgeErrors::InvalidChallengeDuration(I::InvalidChallengeDuration { duration: too_long }),
    );
    // The longest allowed duration works.
    let f = Fixture::new(2, MAX_CHALLENGE_DURATION);
    let s = f.state(0, b"", false);
    ok(h, f.open(&s, &f.sign(&s)));
}

/// 255 participants (the maximum) open and checkpoint.
pub fn max_participants(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(255, 60);
    let s = f.state(0, b"many", false);
    ok(h, f.open(&s, &f.sign(&s)));
    let s1 = f.state(1, b"many more", false);
    ok(h, f.checkpoint(&s1, &f.sign(&s1)));
    assert_status(h, f.id, phase::OPEN, 1, 0, b"many more");
}

/// Data of exactly 16 KiB is accepted, one byte more is not.
pub fn data_limit(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(2, 60);
    let big = vec![0xa5u8; MAX_DATA_LEN];
    let s = f.state(1, &big, false);
    let logs = ok(h, f.checkpoint(&s, &f.sign(&s)));
    let cp: I::StateCheckpointed = decode(&logs[0]);
    assert_eq!(cp.data.len(), MAX_DATA_LEN);
    let bigger = vec![0xa5u8; MAX_DATA_LEN + 1];
    let s2 = f.state(2, &bigger, false);
    fails(
        h,
        f.id,
        f.checkpoint(&s2, &f.sign(&s2)),
        I::IAvocadoJudgeErrors::StateTooLarge(I::StateTooLarge { size: u(MAX_DATA_LEN + 1), limit: u(MAX_DATA_LEN) }),
    );
}

/// A state whose channel id is not the id of the params reverts `WrongChannel`.
pub fn wrong_channel(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(2, 60);
    let mut s = f.state(1, b"x", false);
    s.channelId = B256::repeat_byte(7);
    fails(
        h,
        f.id,
        f.checkpoint(&s, &f.sign(&s)),
        I::IAvocadoJudgeErrors::WrongChannel(I::WrongChannel { expected: f.id, given: s.channelId }),
    );
}

/// Signatures made for another chain, another judge or another channel are worthless here.
pub fn replays(h: &mut dyn JudgeHarness) {
    let here = Fixture::new(2, 60);
    let bad0 = I::IAvocadoJudgeErrors::InvalidSignature(I::InvalidSignature { index: u(0) });
    for domain in [Domain::new(CHAIN_ID + 1, JUDGE), Domain::new(CHAIN_ID, Address::repeat_byte(0x42))] {
        let there = Fixture::with(domain, vec![0, 1], 0, 60);
        // Replayed verbatim: its channel id is not this chain's / judge's id for the same terms.
        let s = there.state(1, b"x", false);
        fails(
            h,
            here.id,
            here.checkpoint(&s, &there.sign(&s)),
            I::IAvocadoJudgeErrors::WrongChannel(I::WrongChannel { expected: here.id, given: there.id }),
        );
        // Relabelled with this id: the signatures were made under the other domain.
        let relabelled = here.state(1, b"x", false);
        fails(
            h,
            here.id,
            here.checkpoint(&relabelled, &here.sign_with(&domain, &relabelled, &here.keys)),
            bad0.clone(),
        );
    }
    // Same participants, another channel (nonce 1): its signatures do not carry over.
    let sibling = Fixture::with(Domain::new(CHAIN_ID, JUDGE), vec![0, 1], 1, 60);
    let theirs = sibling.state(1, b"x", false);
    let sigs = sibling.sign(&theirs);
    ok(h, sibling.checkpoint(&theirs, &sigs));
    let mine = here.state(1, b"x", false);
    fails(h, here.id, here.checkpoint(&mine, &sigs), bad0);
}

/// The dispute clock: challenge, checkpoints during it, and the deadline at -1, 0, +1.
pub fn challenge_deadline(h: &mut dyn JudgeHarness) {
    let d = 1000;
    let f = Fixture::new(2, d);
    let s2 = f.state(2, b"two", false);
    ok(h, f.open(&s2, &f.sign(&s2)));
    let t0 = h.time();
    let s3 = f.state(3, b"three", false);
    let logs = ok(h, f.challenge(&s3, &f.sign(&s3), &f.challenge_sig(&f.keys[1], 3)));
    let ev: I::ChallengeStarted = decode(&logs[0]);
    let bob = signer::address_of(f.keys[1].verifying_key());
    assert_eq!(
        (ev.channelId, ev.challenger, ev.version, ev.finalizesAt, ev.data.as_ref()),
        (f.id, bob, 3, t0 + d, &b"three"[..])
    );
    assert_status(h, f.id, phase::CHALLENGE, 3, t0 + d, b"three");
    // A newer state during the dispute is stored; the deadline does not move.
    h.set_time(t0 + d - 1);
    let s4 = f.state(4, b"four", false);
    ok(h, f.checkpoint(&s4, &f.sign(&s4)));
    assert_status(h, f.id, phase::CHALLENGE, 4, t0 + d, b"four");
    let fin_err = I::IAvocadoJudgeErrors::ChannelNotFinal(I::ChannelNotFinal { channelId: f.id });
    assert_eq!(decode_error(&h.view(I::finalStateCall { channelId: f.id }.abi_encode()).unwrap_err()), Ok(fin_err));
    // At the deadline it is final, with no transaction.
    h.set_time(t0 + d);
    assert_status(h, f.id, phase::FINAL, 4, t0 + d, b"four");
    let out = h.view(I::finalStateCall { channelId: f.id }.abi_encode()).unwrap();
    let fs = I::finalStateCall::abi_decode_returns(&out).unwrap();
    assert_eq!((fs.version, fs.dataHash), (4, keccak256(b"four")));
    let s5 = f.state(5, b"five", false);
    let final_err = I::IAvocadoJudgeErrors::ChannelFinal(I::ChannelFinal { channelId: f.id });
    fails(h, f.id, f.checkpoint(&s5, &f.sign(&s5)), final_err.clone());
    h.set_time(t0 + d + 1);
    assert_status(h, f.id, phase::FINAL, 4, t0 + d, b"four");
    fails(h, f.id, f.checkpoint(&s5, &f.sign(&s5)), final_err.clone());
    fails(h, f.id, f.challenge(&s5, &f.sign(&s5), &f.challenge_sig(&f.keys[0], 5)), final_err.clone());
    let s6 = f.state(6, b"six", true);
    fails(h, f.id, f.conclude(&s6, &f.sign(&s6)), final_err);
}

/// A second challenge, a stale one, one by an outsider or with a bad signature: all revert.
pub fn challenge_errors(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(3, 600);
    let s5 = f.state(5, b"five", false);
    ok(h, f.checkpoint(&s5, &f.sign(&s5)));
    let s3 = f.state(3, b"three", false);
    fails(
        h,
        f.id,
        f.challenge(&s3, &f.sign(&s3), &f.challenge_sig(&f.keys[0], 3)),
        I::IAvocadoJudgeErrors::StaleVersion(I::StaleVersion { stored: 5, given: 3 }),
    );
    let outsider = key(42);
    fails(
        h,
        f.id,
        f.challenge(&s5, &f.sign(&s5), &f.challenge_sig(&outsider, 5)),
        I::IAvocadoJudgeErrors::NotParticipant(I::NotParticipant {
            signer: signer::address_of(outsider.verifying_key()),
        }),
    );
    fails(
        h,
        f.id,
        f.challenge(&s5, &f.sign(&s5), &Bytes::from(vec![1u8; 10])),
        I::IAvocadoJudgeErrors::InvalidChallengerSignature(I::InvalidChallengerSignature {}),
    );
    // A challenger signature for another version names someone else (almost surely nobody here).
    let wrong_version = f.challenge_sig(&f.keys[2], 6);
    let out = h.send(f.challenge(&s5, &f.sign(&s5), &wrong_version));
    assert!(matches!(decode_error(&out.result.unwrap_err()), Ok(I::IAvocadoJudgeErrors::NotParticipant(_))));
    // Equal version is allowed, by the third participant.
    let t0 = h.time();
    ok(h, f.challenge(&s5, &f.sign(&s5), &f.challenge_sig(&f.keys[2], 5)));
    assert_status(h, f.id, phase::CHALLENGE, 5, t0 + 600, b"five");
    let s6 = f.state(6, b"six", false);
    fails(
        h,
        f.id,
        f.challenge(&s6, &f.sign(&s6), &f.challenge_sig(&f.keys[0], 6)),
        I::IAvocadoJudgeErrors::ChallengeInProgress(I::ChallengeInProgress { channelId: f.id, finalizesAt: t0 + 600 }),
    );
}

/// A challenge on a channel the judge never saw starts the clock from it.
pub fn challenge_unopened(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(2, 60);
    let s = f.state(9, b"nine", false);
    let t0 = h.time();
    ok(h, f.challenge(&s, &f.sign(&s), &f.challenge_sig(&f.keys[0], 9)));
    assert_status(h, f.id, phase::CHALLENGE, 9, t0 + 60, b"nine");
}

/// Cooperative close: `isFinal` is required; the channel is Final at once, also mid-dispute.
pub fn conclude(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(2, 600);
    let s1 = f.state(1, b"one", false);
    ok(h, f.open(&s1, &f.sign(&s1)));
    fails(h, f.id, f.conclude(&s1, &f.sign(&s1)), I::IAvocadoJudgeErrors::NotFinalState(I::NotFinalState {}));
    let s2 = f.state(2, b"done", true);
    let logs = ok(h, f.conclude(&s2, &f.sign(&s2)));
    let ev: I::ChannelConcluded = decode(&logs[0]);
    assert_eq!((ev.channelId, ev.version, ev.data.as_ref()), (f.id, 2, &b"done"[..]));
    assert_status(h, f.id, phase::FINAL, 2, 0, b"done");
    let fs =
        I::finalStateCall::abi_decode_returns(&h.view(I::finalStateCall { channelId: f.id }.abi_encode()).unwrap())
            .unwrap();
    assert_eq!((fs.version, fs.dataHash), (2, keccak256(b"done")));
    let s3 = f.state(3, b"after", true);
    let final_err = I::IAvocadoJudgeErrors::ChannelFinal(I::ChannelFinal { channelId: f.id });
    fails(h, f.id, f.conclude(&s3, &f.sign(&s3)), final_err.clone());
    fails(h, f.id, f.checkpoint(&s3, &f.sign(&s3)), final_err);

    // During a dispute, a final state ends it at once.
    let g = Fixture::with(Domain::new(CHAIN_ID, JUDGE), vec![0, 1, 2], 5, 600);
    let s4 = g.state(4, b"four", false);
    let t0 = h.time();
    ok(h, g.challenge(&s4, &g.sign(&s4), &g.challenge_sig(&g.keys[0], 4)));
    let stale = g.state(3, b"three", true);
    fails(
        h,
        g.id,
        g.conclude(&stale, &g.sign(&stale)),
        I::IAvocadoJudgeErrors::StaleVersion(I::StaleVersion { stored: 4, given: 3 }),
    );
    let s5 = g.state(5, b"closed", true);
    ok(h, g.conclude(&s5, &g.sign(&s5)));
    assert_status(h, g.id, phase::FINAL, 5, t0 + 600, b"closed");
}

/// `channelId`, `domainSeparator` and `status` of an unknown channel.
pub fn views(h: &mut dyn JudgeHarness) {
    let f = Fixture::new(3, 60);
    let out = h.view(I::channelIdCall { params: f.params.clone() }.abi_encode()).unwrap();
    assert_eq!(I::channelIdCall::abi_decode_returns(&out).unwrap(), f.id);
    let out = h.view(I::domainSeparatorCall {}.abi_encode()).unwrap();
    assert_eq!(I::domainSeparatorCall::abi_decode_returns(&out).unwrap(), f.domain.separator());
    let s = status(h, B256::repeat_byte(3));
    assert_eq!((s.phase, s.version, s.finalizesAt, s.dataHash), (phase::NONE, 0, 0, B256::ZERO));
    let err = h.view(I::finalStateCall { channelId: B256::repeat_byte(3) }.abi_encode()).unwrap_err();
    assert_eq!(
        decode_error(&err),
        Ok(I::IAvocadoJudgeErrors::ChannelNotFinal(I::ChannelNotFinal { channelId: B256::repeat_byte(3) }))
    );
    // Unknown selector: reverts with no data.
    assert!(h.send(vec![0xde, 0xad, 0xbe, 0xef]).result.is_err());
}

/// The committed codec vectors: states made for this judge are accepted, the others refused.
pub fn committed_vectors(h: &mut dyn JudgeHarness) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/codec.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut accepted = 0;
    for c in doc["cases"].as_array().unwrap() {
        let params = ChannelParams {
            participants: c["params"]["participants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().parse().unwrap())
                .collect(),
            nonce: c["params"]["nonce"].as_u64().unwrap(),
            challengeDuration: c["params"]["challengeDuration"].as_u64().unwrap(),
            executive: c["params"]["executive"].as_str().unwrap().parse().unwrap(),
        };
        let state = State {
            channelId: c["channelId"].as_str().unwrap().parse().unwrap(),
            version: c["state"]["version"].as_u64().unwrap(),
            data: alloy_primitives::hex::decode(c["state"]["data"].as_str().unwrap()).unwrap().into(),
            isFinal: c["state"]["isFinal"].as_bool().unwrap(),
        };
        let sigs: Vec<u8> = c["compactSignatures"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| alloy_primitives::hex::decode(s.as_str().unwrap()).unwrap())
            .collect();
        let call = I::checkpointCall { params, state: state.clone(), sigs: sigs.into() }.abi_encode();
        let ours = c["domain"]["chainId"].as_u64() == Some(CHAIN_ID)
            && c["domain"]["judge"].as_str().unwrap().parse::<Address>().unwrap() == JUDGE;
        let out = h.send(call);
        if ours {
            assert!(out.result.is_ok(), "{}: {:?}", c["name"], decode_error(&out.result.unwrap_err()));
            accepted += 1;
        } else {
            assert!(
                matches!(decode_error(&out.result.unwrap_err()), Ok(I::IAvocadoJudgeErrors::WrongChannel(_))),
                "{}",
                c["name"]
            );
        }
    }
    assert!(accepted >= 6);
}

/// Storage slots written by each operation (2-party, 64-byte states): open and checkpoint write
/// the packed word and the data hash; a challenge with the stored state moves only the packed
/// word; conclude with a new state writes both.
pub fn storage_per_operation(h: &mut dyn JudgeHarness) {
    let report = slots_per_operation(h);
    if report.iter().any(|(_, n)| n.is_none()) {
        // Over JSON-RPC nothing reports which slots a transaction wrote; the native, WASM and
        // chain harnesses check this.
        return;
    }
    println!("storage slots written per operation (2-party, 64-byte state): {report:?}");
    assert_eq!(report, vec![("open", Some(2)), ("checkpoint", Some(2)), ("challenge", Some(1)), ("conclude", Some(2))]);
}

/// Runs open, checkpoint, challenge, conclude and reports the slots each wrote.
pub fn slots_per_operation(h: &mut dyn JudgeHarness) -> Vec<(&'static str, Option<usize>)> {
    let f = Fixture::new(2, 600);
    let s0 = f.state(0, &[0u8; 64], false);
    let s1 = f.state(1, &[1u8; 64], false);
    let s2 = f.state(2, &[2u8; 64], true);
    let open = h.send(f.open(&s0, &f.sign(&s0)));
    let cp = h.send(f.checkpoint(&s1, &f.sign(&s1)));
    let ch = h.send(f.challenge(&s1, &f.sign(&s1), &f.challenge_sig(&f.keys[0], 1)));
    let co = h.send(f.conclude(&s2, &f.sign(&s2)));
    for o in [&open, &cp, &ch, &co] {
        assert!(o.result.is_ok());
    }
    vec![
        ("open", open.slots_written),
        ("checkpoint", cp.slots_written),
        ("challenge", ch.slots_written),
        ("conclude", co.slots_written),
    ]
}

/// A scenario: it takes a fresh harness and panics on any deviation.
pub type Scenario = fn(&mut dyn JudgeHarness);

/// Every scenario, by name, for harnesses that run them in a loop.
pub const ALL: &[(&str, Scenario)] = &[
    ("open_two_party", open_two_party),
    ("open_three_party", open_three_party),
    ("open_twice", open_twice),
    ("checkpoint_versions", checkpoint_versions),
    ("wrong_signers", wrong_signers),
    ("malleable_and_unrecoverable", malleable_and_unrecoverable),
    ("bad_params", bad_params),
    ("max_participants", max_participants),
    ("data_limit", data_limit),
    ("wrong_channel", wrong_channel),
    ("replays", replays),
    ("challenge_deadline", challenge_deadline),
    ("challenge_errors", challenge_errors),
    ("challenge_unopened", challenge_unopened),
    ("conclude", conclude),
    ("views", views),
    ("committed_vectors", committed_vectors),
    ("storage_per_operation", storage_per_operation),
];

/// Declares one `#[test]` per scenario, each on a fresh harness from `$make`.
#[macro_export]
macro_rules! judge_scenario_tests {
    ($make:expr) => {
        $crate::judge_scenario_tests!(@each $make;
            open_two_party open_three_party open_twice checkpoint_versions wrong_signers
            malleable_and_unrecoverable bad_params max_participants data_limit wrong_channel
            replays challenge_deadline challenge_errors challenge_unopened conclude views
            committed_vectors storage_per_operation);
    };
    (@each $make:expr; $($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                let mut harness = $make;
                $crate::judge_scenarios::$name(&mut harness);
            }
        )*
    };
}
