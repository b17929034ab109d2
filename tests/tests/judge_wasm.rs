//! The judge scenario suite, run against the compiled program: `target/judge/judge.bin` (built
//! by `scripts/build-judge.sh`) activated with Nitro's rules and executed by the devnet's Stylus
//! host, calldata encoded by the codec's `sol!` bindings. This is the program that gets deployed.

use std::{path::PathBuf, sync::OnceLock};

use alloy_primitives::{Address, LogData};
use avocado_devnet::stylus::{self, MemoryEvm, Program, Status};
use avocado_tests::judge_scenarios::{self as sc, JudgeHarness, Outcome};

const GAS: u64 = 30_000_000;

fn judge_bin() -> &'static [u8] {
    static CODE: OnceLock<Vec<u8>> = OnceLock::new();
    CODE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/judge/judge.bin");
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e}. Build the judge first: scripts/build-judge.sh", path.display())
        })
    })
}

struct Wasm {
    evm: MemoryEvm,
}

fn wasm() -> Wasm {
    let program = Program::activate(judge_bin()).expect("the judge activates");
    let mut evm = MemoryEvm::new();
    evm.block.chain_id = sc::CHAIN_ID;
    evm.block.timestamp = sc::GENESIS_TIME;
    evm.deploy(sc::JUDGE, program);
    Wasm { evm }
}

impl JudgeHarness for Wasm {
    fn set_time(&mut self, timestamp: u64) {
        self.evm.block.timestamp = timestamp;
    }
    fn time(&self) -> u64 {
        self.evm.block.timestamp
    }
    fn send(&mut self, calldata: Vec<u8>) -> Outcome {
        let r = self.evm.transact(Address::repeat_byte(0x5e), sc::JUDGE, &calldata, GAS);
        let result = match r.outcome.status {
            Status::Success => Ok(r.outcome.output),
            Status::Revert => Err(r.outcome.output),
            ref other => panic!("the judge must revert cleanly, not {other:?}"),
        };
        let logs = r.logs.into_iter().map(|l| LogData::new_unchecked(l.topics, l.data.into())).collect();
        Outcome { result, logs, slots_written: Some(r.slots_written), gas_used: Some(r.outcome.gas_used) }
    }
}

avocado_tests::judge_scenario_tests!(wasm());

#[test]
fn storage_slots_per_operation() {
    let report = sc::storage_per_operation(&mut wasm());
    println!("storage slots written per operation (WASM): {report:?}");
    assert_eq!(report, vec![("open", Some(2)), ("checkpoint", Some(2)), ("challenge", Some(1)), ("conclude", Some(2))]);
}

#[test]
fn judge_passes_nitro_activation_rules() {
    let wasm = stylus::unpack(judge_bin()).unwrap();
    let info = stylus::validate(&wasm).unwrap();
    assert!(judge_bin().len() <= 24_576);
    assert!(info.imports.iter().all(|i| stylus::hostio::HOSTIOS.iter().any(|h| h.name == i)));
    assert!(info.imports.contains(&"static_call_contract".to_string()));
}
