//! The judge's Solidity twin (`tests/solidity/AvocadoJudgeTwin.sol`) on the devnet's revm
//! chain: the benchmark baseline of the Stylus judge, held to the same scenario suite.
//!
//! The tests never run solc: they read the creation code `scripts/build-solidity.sh` compiled and
//! committed beside the source. The committed vectors are signed for [`JUDGE`], so the twin is
//! placed there as a `CREATE` landing at that address would leave it: its creation code runs
//! with `address(this) == JUDGE` (as an `eth_call` to that code, so the constructor fills its
//! immutables — the cached domain separator — for that address and this chain), and the
//! runtime code it returns becomes the account's code. [`deploy_by_transaction`] deploys it the
//! ordinary way instead, at whatever address the deployer's nonce gives.

use alloy_primitives::{Address, Bytes, U256};
use avocado_devnet::chain::{Chain, ChainConfig, DEV_ACCOUNT};
use revm::primitives::TxKind;

use crate::{
    judge_scenarios::{CHAIN_ID, GENESIS_TIME, JUDGE},
    revm_judge::{send, RevmJudge},
};

/// The twin's creation code, as committed (`tests/solidity/AvocadoJudgeTwin.bin`, hex).
pub fn creation_code() -> Vec<u8> {
    let hex = include_str!("../solidity/AvocadoJudgeTwin.bin");
    alloy_primitives::hex::decode(hex.trim()).expect("AvocadoJudgeTwin.bin is hex (scripts/build-solidity.sh --write)")
}

/// A fresh chain as every judge harness starts it: [`CHAIN_ID`], clock pinned at [`GENESIS_TIME`].
pub fn fresh_chain() -> Chain {
    let mut chain =
        Chain::new(&ChainConfig { chain_id: CHAIN_ID, genesis_timestamp: GENESIS_TIME, ..Default::default() });
    chain.pinned_timestamp = Some(GENESIS_TIME);
    chain
}

/// The runtime code the twin's constructor returns when it runs at `at` on `chain`.
pub fn runtime_code_at(chain: &mut Chain, at: Address) -> Bytes {
    let saved = chain.code(at);
    chain.set_code(at, creation_code().into());
    let r = chain.view(DEV_ACCOUNT, at, Vec::new()).expect("a valid call");
    chain.set_code(at, saved);
    assert!(r.is_success(), "the twin's constructor failed: {:?}", r.result);
    r.output()
}

/// Places the twin's runtime code at [`JUDGE`] on `chain`.
pub fn install(chain: &mut Chain) {
    let runtime = runtime_code_at(chain, JUDGE);
    chain.set_code(JUDGE, runtime);
}

/// The twin at [`JUDGE`] on a fresh chain, driven through [`RevmJudge`]'s transactions.
pub fn deploy() -> RevmJudge {
    let mut chain = fresh_chain();
    install(&mut chain);
    RevmJudge { chain, judge: JUDGE }
}

/// Deploys the twin with a creation transaction from the development account; returns the
/// contract's address and the transaction's gas.
pub fn deploy_by_transaction(chain: &mut Chain) -> (Address, u64) {
    let r = send(chain, TxKind::Create, creation_code(), U256::ZERO);
    assert!(r.is_success(), "the twin's creation failed: {:?}", r.result);
    (r.contract_address.expect("a created contract"), r.gas_used())
}
