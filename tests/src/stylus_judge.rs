//! A judge harness over the devnet's Stylus host: deployable code activated under Nitro's rules
//! and run by wasmi on an in-memory chain. Used by the WASM scenario tests for our own build
//! (`target/judge/judge.bin`) and for cargo-stylus' build of the same crate.

use alloy_primitives::{Address, LogData};
use avocado_devnet::stylus::{ActivationError, MemoryEvm, Program, Status};

use crate::judge_scenarios::{JudgeHarness, Outcome, CHAIN_ID, GENESIS_TIME, JUDGE};

/// `target/judge/judge.bin`, the deployable judge `scripts/build-judge.sh` writes, read once.
pub fn judge_bin() -> &'static [u8] {
    static CODE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CODE.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/judge/judge.bin");
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}. Build the judge first: scripts/build-judge.sh", path.display()))
    })
}

/// Gas given to every transaction.
pub const GAS: u64 = 30_000_000;

/// The judge program on an in-memory chain.
pub struct StylusJudge {
    /// The chain.
    pub evm: MemoryEvm,
}

impl StylusJudge {
    /// Activates `code` (`EF F0 00 00` + brotli) and deploys it at [`JUDGE`].
    pub fn new(code: &[u8]) -> Result<Self, ActivationError> {
        let mut evm = MemoryEvm::new();
        evm.block.chain_id = CHAIN_ID;
        evm.block.timestamp = GENESIS_TIME;
        evm.deploy(JUDGE, Program::activate(code)?);
        Ok(Self { evm })
    }
}

impl JudgeHarness for StylusJudge {
    fn set_time(&mut self, timestamp: u64) {
        self.evm.block.timestamp = timestamp;
    }
    fn time(&self) -> u64 {
        self.evm.block.timestamp
    }
    fn send(&mut self, calldata: Vec<u8>) -> Outcome {
        let r = self.evm.transact(Address::repeat_byte(0x5e), JUDGE, &calldata, GAS);
        let result = match r.outcome.status {
            Status::Success => Ok(r.outcome.output),
            Status::Revert => Err(r.outcome.output),
            ref other => panic!("the judge must revert cleanly, not {other:?}"),
        };
        let logs = r.logs.into_iter().map(|l| LogData::new_unchecked(l.topics, l.data.into())).collect();
        Outcome { result, logs, slots_written: Some(r.slots_written), gas_used: Some(r.outcome.gas_used) }
    }
}
