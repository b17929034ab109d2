//! cargo-stylus 0.10.10 accepts the judge crate: its `get-initcode` builds the judge its own way,
//! and the deployable code inside that init code activates under Nitro's rules and behaves like
//! ours. Needs cargo-stylus, so it is opt-in: `scripts/test.sh` runs it with `--ignored`.

use std::process::Command;

use alloy_primitives::{hex, Address, LogData};
use avocado_devnet::stylus::{self, MemoryEvm, Program, Status};
use avocado_tests::judge_scenarios::{self as sc, JudgeHarness, Outcome};

/// EVM init code cargo-stylus prepends: `PUSH32 len, DUP1, PUSH1 43, PUSH1 0, CODECOPY, PUSH1 0, RETURN, 0x00`.
fn split_initcode(init: &[u8]) -> &[u8] {
    assert_eq!(init[0], 0x7f, "PUSH32 of the code length");
    let len = u64::from_be_bytes(init[25..33].try_into().unwrap()) as usize;
    assert_eq!(&init[33..43], &[0x80, 0x60, 0x2b, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3, 0x00]);
    assert_eq!(init.len(), 43 + len);
    &init[43..]
}

struct Host(MemoryEvm);

impl JudgeHarness for Host {
    fn set_time(&mut self, t: u64) {
        self.0.block.timestamp = t;
    }
    fn time(&self) -> u64 {
        self.0.block.timestamp
    }
    fn send(&mut self, calldata: Vec<u8>) -> Outcome {
        let r = self.0.transact(Address::repeat_byte(1), sc::JUDGE, &calldata, 30_000_000);
        let result = match r.outcome.status {
            Status::Success => Ok(r.outcome.output),
            Status::Revert => Err(r.outcome.output),
            other => panic!("{other:?}"),
        };
        let logs = r.logs.into_iter().map(|l| LogData::new_unchecked(l.topics, l.data.into())).collect();
        Outcome { result, logs, slots_written: Some(r.slots_written), gas_used: Some(r.outcome.gas_used) }
    }
}

#[test]
#[ignore = "needs cargo-stylus 0.10.10 (several minutes to install); scripts/test.sh runs it"]
fn cargo_stylus_builds_an_equivalent_judge() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = std::env::temp_dir().join(format!("avocado-initcode-{}.hex", std::process::id()));
    let status = Command::new(format!("{root}/scripts/stylus.sh"))
        .args(["get-initcode", "--output"])
        .arg(&out)
        .status()
        .expect("run scripts/stylus.sh");
    assert!(status.success(), "cargo stylus get-initcode failed");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let init = hex::decode(text.trim()).unwrap();
    let code = split_initcode(&init);
    assert!(stylus::is_stylus(code));
    println!("cargo-stylus deployable judge: {} bytes", code.len());
    for (name, scenario) in sc::ALL {
        println!("scenario {name}");
        let program = Program::activate(code).expect("cargo-stylus' build of the judge activates");
        let mut evm = MemoryEvm::new();
        evm.block.chain_id = sc::CHAIN_ID;
        evm.block.timestamp = sc::GENESIS_TIME;
        evm.deploy(sc::JUDGE, program);
        scenario(&mut Host(evm));
    }
}
