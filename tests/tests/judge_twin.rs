//! The judge scenario suite against the judge's Solidity twin, the Stylus judge's gas baseline:
//! the committed creation code of `tests/solidity/AvocadoJudgeTwin.sol` (compiled by
//! `scripts/build-solidity.sh`) on the devnet's revm chain. A twin that behaved differently from
//! the Stylus judge would make the gas comparison meaningless; these tests keep it honest.

use alloy_primitives::{keccak256, Address, U256};
use alloy_sol_types::SolCall;
use avocado_codec::{Domain, IAvocadoJudge as I};
use avocado_tests::{
    judge_scenarios::{Fixture, JudgeHarness, CHAIN_ID, JUDGE},
    revm_judge::{send, RevmJudge},
    stylus_judge::judge_bin,
    twin_judge,
};
use revm::primitives::TxKind;

avocado_tests::judge_scenario_tests!(twin_judge::deploy());

/// Deployed the ordinary way (a creation transaction), the twin signs for its own address: the
/// constructor's cached domain separator is that address's and this chain's.
#[test]
fn deployed_by_transaction_uses_its_own_domain() {
    let mut chain = twin_judge::fresh_chain();
    let (at, gas) = twin_judge::deploy_by_transaction(&mut chain);
    assert_ne!(at, JUDGE);
    let runtime = chain.code(at);
    println!("twin: creation gas {gas}, runtime code {} bytes", runtime.len());
    assert!(runtime.len() <= 24_576, "over the EVM's code size limit");
    let mut h = RevmJudge { chain, judge: at };
    let domain = Domain::new(CHAIN_ID, at);
    let out = h.view(I::domainSeparatorCall {}.abi_encode()).unwrap();
    assert_eq!(I::domainSeparatorCall::abi_decode_returns(&out).unwrap(), domain.separator());
    // A state signed for this address is accepted here.
    let f = Fixture::with(domain, vec![0, 1], 0, 600);
    let out = h.view(I::channelIdCall { params: f.params.clone() }.abi_encode()).unwrap();
    assert_eq!(I::channelIdCall::abi_decode_returns(&out).unwrap(), f.id);
    let s = f.state(0, b"hello", false);
    let out = h.send(f.open(&s, &f.sign(&s)));
    assert!(out.result.is_ok(), "{:?}", out.result);
}

/// The twin's runtime code at [`JUDGE`] is the same whether its constructor ran there or the
/// code is read back from a real deployment, apart from the immutables that name the address.
#[test]
fn placed_code_is_deployed_code() {
    let mut chain = twin_judge::fresh_chain();
    let (at, _) = twin_judge::deploy_by_transaction(&mut chain);
    let deployed = chain.code(at);
    let placed = twin_judge::runtime_code_at(&mut chain, at);
    assert_eq!(deployed, placed);
}

/// Same storage as the Stylus judge, slot for slot and word for word: the same operations on
/// both leave the same (slot, value) changes at [`JUDGE`].
#[test]
fn storage_layout_is_the_stylus_judges() {
    let mut stylus = RevmJudge::new(judge_bin());
    let mut twin = twin_judge::deploy();
    let f = Fixture::new(3, 600);
    let s0 = f.state(0, &[7u8; 64], false);
    let s1 = f.state(1, &[8u8; 64], false);
    let s2 = f.state(2, &[9u8; 64], true);
    let calls = [
        f.open(&s0, &f.sign(&s0)),
        f.checkpoint(&s1, &f.sign(&s1)),
        f.challenge(&s1, &f.sign(&s1), &f.challenge_sig(&f.keys[2], 1)),
        f.conclude(&s2, &f.sign(&s2)),
    ];
    let mut slots = Vec::new();
    for data in calls {
        let a = send(&mut stylus.chain, TxKind::Call(JUDGE), data.clone(), U256::ZERO);
        let b = send(&mut twin.chain, TxKind::Call(JUDGE), data, U256::ZERO);
        assert!(a.is_success() && b.is_success());
        let at_judge = |changes: &[(Address, U256, U256)]| {
            changes.iter().filter(|(a, _, _)| *a == JUDGE).map(|(_, k, v)| (*k, *v)).collect::<Vec<_>>()
        };
        assert_eq!(at_judge(&a.storage_changes), at_judge(&b.storage_changes));
        slots.extend(at_judge(&b.storage_changes).into_iter().map(|(k, _)| k));
    }
    // Where Solidity puts `mapping(bytes32 => Channel)` at slot 0: keccak256(id . 0) and the next.
    let base = U256::from_be_bytes(keccak256([f.id.as_slice(), &[0u8; 32]].concat()).0);
    slots.sort();
    slots.dedup();
    assert_eq!(slots, vec![base, base + U256::from(1)]);
    for slot in [base, base + U256::from(1)] {
        assert_eq!(stylus.chain.storage(JUDGE, slot), twin.chain.storage(JUDGE, slot));
    }
    // The packed word after conclude: version 2, finalizesAt from the challenge, flags 3.
    let word = twin.chain.storage(JUDGE, base).to_be_bytes::<32>();
    assert_eq!(u64::from_be_bytes(word[..8].try_into().unwrap()), 2);
    assert_eq!(word[16], 3);
}
