//! A judge harness over the devnet's revm chain: the judge's code placed at [`JUDGE`] (the
//! address the committed vectors are signed for; deployment through init code is tested on its
//! own), activated through ArbWasm with its data fee, and called with real transactions from a
//! funded account, as on Arbitrum.

use alloy_primitives::{Address, Bytes, LogData, U256};
use alloy_sol_types::SolCall;
use avocado_devnet::{
    chain::{arbos, Chain, ChainConfig, Executed, DEV_ACCOUNT},
    stylus,
};
use revm::{context_interface::result::ExecutionResult, primitives::TxKind};

use crate::judge_scenarios::{JudgeHarness, Outcome, CHAIN_ID, GENESIS_TIME, JUDGE};

/// The judge on the devnet's chain.
pub struct RevmJudge {
    /// The chain.
    pub chain: Chain,
    /// Where the judge was deployed.
    pub judge: Address,
}

/// Sends a transaction from the funded development account.
pub fn send(chain: &mut Chain, to: TxKind, data: Vec<u8>, value: U256) -> Executed {
    chain.send(DEV_ACCOUNT, to, data, value).expect("a valid transaction")
}

impl RevmJudge {
    /// Places `code` (`EF F0 00 00` + brotli) at [`JUDGE`] on a fresh chain and activates it.
    pub fn new(code: &[u8]) -> Self {
        let mut chain =
            Chain::new(&ChainConfig { chain_id: CHAIN_ID, genesis_timestamp: GENESIS_TIME, ..Default::default() });
        chain.pinned_timestamp = Some(GENESIS_TIME);
        assert!(stylus::is_stylus(code), "not Stylus code");
        chain.set_code(JUDGE, Bytes::copy_from_slice(code));
        let judge = JUDGE;
        let r = send(
            &mut chain,
            TxKind::Call(arbos::ARB_WASM),
            arbos::ArbWasm::activateProgramCall { program: judge }.abi_encode(),
            U256::from(10u64).pow(U256::from(17u64)),
        );
        assert!(r.is_success(), "activation failed: {:?}", r.result);
        Self { chain, judge }
    }
}

impl JudgeHarness for RevmJudge {
    fn set_time(&mut self, timestamp: u64) {
        self.chain.pinned_timestamp = Some(timestamp);
    }
    fn time(&self) -> u64 {
        self.chain.next_timestamp()
    }
    fn send(&mut self, calldata: Vec<u8>) -> Outcome {
        let r = send(&mut self.chain, TxKind::Call(self.judge), calldata, U256::ZERO);
        let slots_written = r.storage_changes.iter().filter(|(a, _, _)| *a == self.judge).count();
        let gas_used = Some(r.l2_gas_used());
        let (result, logs) = match r.result {
            ExecutionResult::Success { output, logs, .. } => {
                (Ok(output.into_data().to_vec()), logs.into_iter().map(|l| l.data).collect::<Vec<LogData>>())
            }
            ExecutionResult::Revert { output, .. } => (Err(output.to_vec()), vec![]),
            ExecutionResult::Halt { reason, .. } => panic!("the judge halted: {reason:?}"),
        };
        Outcome { result, logs, slots_written: Some(slots_written), gas_used }
    }
}
