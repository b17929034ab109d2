//! The judge scenario suite, run natively: the contract's Rust code (`avocado_judge::run`, the
//! same function the program's entrypoint calls) on an in-memory model of the hostios it uses,
//! with a real ecrecover precompile (k256, accepting high-s as the precompile does).

use std::collections::HashMap;

use alloy_primitives::{Address, LogData, B256};
use avocado_codec::{signature::Signature, signer};
use avocado_judge::Host;
use avocado_tests::judge_scenarios::{self as sc, JudgeHarness, Outcome};

/// The chain as the judge sees it: storage, the block, and the logs of the current call.
#[derive(Clone, Default)]
struct Chain {
    storage: HashMap<B256, B256>,
    time: u64,
    logs: Vec<LogData>,
}

impl Chain {
    fn ecrecover(input: &[u8; 128]) -> Option<[u8; 32]> {
        // Ethereum semantics: any malformed input gives empty output, never a revert.
        let digest = B256::from_slice(&input[..32]);
        if input[32..63].iter().any(|b| *b != 0) || !(input[63] == 27 || input[63] == 28) {
            return None;
        }
        let sig = Signature { r: B256::from_slice(&input[64..96]), s: B256::from_slice(&input[96..128]), v: input[63] };
        let addr = recover_any_s(&digest, &sig)?;
        let mut out = [0u8; 32];
        out[12..].copy_from_slice(addr.as_slice());
        Some(out)
    }
}

fn recover_any_s(digest: &B256, sig: &Signature) -> Option<Address> {
    use k256::ecdsa::{RecoveryId, Signature as E, VerifyingKey};
    let e = E::from_scalars(sig.r.0, sig.s.0).ok()?;
    let key = VerifyingKey::recover_from_prehash(digest.as_slice(), &e, RecoveryId::new(sig.v == 28, false)).ok()?;
    Some(signer::address_of(&key))
}

impl Host for Chain {
    fn load(&mut self, key: &B256) -> B256 {
        self.storage.get(key).copied().unwrap_or_default()
    }
    fn store(&mut self, key: &B256, value: &B256) {
        self.storage.insert(*key, *value);
    }
    fn timestamp(&mut self) -> u64 {
        self.time
    }
    fn chain_id(&mut self) -> u64 {
        sc::CHAIN_ID
    }
    fn this(&mut self) -> Address {
        sc::JUDGE
    }
    fn no_value(&mut self) -> bool {
        true
    }
    fn ecrecover(&mut self, input: &[u8; 128]) -> Option<[u8; 32]> {
        Self::ecrecover(input)
    }
    fn log(&mut self, record: &[u8], topics: usize) {
        let t = record[..32 * topics].chunks(32).map(B256::from_slice).collect();
        self.logs.push(LogData::new_unchecked(t, record[32 * topics..].to_vec().into()));
    }
}

fn native() -> Chain {
    Chain { time: sc::GENESIS_TIME, ..Chain::default() }
}

impl JudgeHarness for Chain {
    fn set_time(&mut self, timestamp: u64) {
        self.time = timestamp;
    }
    fn time(&self) -> u64 {
        self.time
    }
    fn send(&mut self, calldata: Vec<u8>) -> Outcome {
        let mut call = Chain { logs: Vec::new(), ..self.clone() };
        let result = avocado_judge::run(&mut call, &calldata);
        if result.is_err() {
            // The chain drops a reverted call's writes and logs; so does this harness.
            return Outcome { result, logs: vec![], slots_written: Some(0), gas_used: None };
        }
        let slots_written =
            call.storage.iter().filter(|(k, v)| self.storage.get(*k).copied().unwrap_or_default() != **v).count();
        let logs = std::mem::take(&mut call.logs);
        *self = call;
        Outcome { result, logs, slots_written: Some(slots_written), gas_used: None }
    }
}

avocado_tests::judge_scenario_tests!(native());

/// Every error encodes as `alloy-sol-types` encodes the committed interface's error.
#[test]
fn errors_encode_as_the_interface_says() {
    use alloy_primitives::U256;
    use alloy_sol_types::SolError;
    use avocado_codec::IAvocadoJudge as I;
    use avocado_judge::JudgeError as E;
    let id = B256::repeat_byte(7);
    let u = |n: usize| U256::from(n);
    let cases: Vec<(E, Vec<u8>)> = vec![
        (E::InvalidParticipantCount(1), I::InvalidParticipantCount { count: u(1) }.abi_encode()),
        (E::InvalidParticipant(3), I::InvalidParticipant { index: u(3) }.abi_encode()),
        (E::InvalidChallengeDuration(0), I::InvalidChallengeDuration { duration: 0 }.abi_encode()),
        (
            E::WrongChannel { expected: id, given: B256::ZERO },
            I::WrongChannel { expected: id, given: B256::ZERO }.abi_encode(),
        ),
        (E::StateTooLarge(16385), I::StateTooLarge { size: u(16385), limit: u(16384) }.abi_encode()),
        (
            E::InvalidSignaturesLength { length: 127, participants: 2 },
            I::InvalidSignaturesLength { length: u(127), participants: u(2) }.abi_encode(),
        ),
        (E::InvalidSignature(2), I::InvalidSignature { index: u(2) }.abi_encode()),
        (E::InvalidChallengerSignature, I::InvalidChallengerSignature {}.abi_encode()),
        (
            E::NotParticipant(Address::repeat_byte(4)),
            I::NotParticipant { signer: Address::repeat_byte(4) }.abi_encode(),
        ),
        (E::StaleVersion { stored: 5, given: 3 }, I::StaleVersion { stored: 5, given: 3 }.abi_encode()),
        (E::ChannelExists(id), I::ChannelExists { channelId: id }.abi_encode()),
        (E::ChannelFinal(id), I::ChannelFinal { channelId: id }.abi_encode()),
        (
            E::ChallengeInProgress { id, finalizes_at: 9 },
            I::ChallengeInProgress { channelId: id, finalizesAt: 9 }.abi_encode(),
        ),
        (E::NotFinalState, I::NotFinalState {}.abi_encode()),
        (E::ChannelNotFinal(id), I::ChannelNotFinal { channelId: id }.abi_encode()),
    ];
    assert_eq!(cases.len(), I::IAvocadoJudgeErrors::SELECTORS.len(), "one case per error of the interface");
    for (ours, theirs) in cases {
        assert_eq!(ours.encode(), theirs, "{ours:?}");
    }
    assert!(E::Malformed.encode().is_empty() && E::Unsupported.encode().is_empty());
}

/// Malformed calldata for every function reverts with no data and changes nothing.
#[test]
fn malformed_calldata_reverts_without_data() {
    use alloy_sol_types::SolCall;
    use avocado_codec::IAvocadoJudge as I;
    let mut h = native();
    let f = sc::Fixture::new(2, 60);
    let s = f.state(1, b"x", false);
    let good = f.checkpoint(&s, &f.sign(&s));
    for cut in [0, 3, 4, 36, 100, good.len() - 1] {
        let out = h.send(good[..cut].to_vec());
        assert_eq!(out.result, Err(vec![]), "cut at {cut}");
    }
    let mut wild = good.clone();
    wild[4 + 31] = 0xff; // the params' offset points past the end
    assert_eq!(h.send(wild).result, Err(vec![]));
    let short_status = I::statusCall { channelId: f.id }.abi_encode()[..35].to_vec();
    assert_eq!(h.send(short_status).result, Err(vec![]));
    assert!(h.storage.is_empty());
    assert!(h.send(good).result.is_ok());
}
