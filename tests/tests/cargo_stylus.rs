//! cargo-stylus 0.10.10 accepts both contract crates: its `get-initcode` builds each its own way,
//! the deployable code inside that init code activates under Nitro's rules, and its judge
//! behaves like ours. Needs cargo-stylus, so it is opt-in: `scripts/test.sh` runs it with `--ignored`.

use std::process::Command;

use alloy_primitives::hex;
use avocado_devnet::stylus;
use avocado_tests::{judge_scenarios as sc, stylus_judge::StylusJudge};

/// EVM init code cargo-stylus prepends: `PUSH32 len, DUP1, PUSH1 43, PUSH1 0, CODECOPY, PUSH1 0, RETURN, 0x00`.
fn split_initcode(init: &[u8]) -> &[u8] {
    assert_eq!(init[0], 0x7f, "PUSH32 of the code length");
    let len = u64::from_be_bytes(init[25..33].try_into().unwrap()) as usize;
    assert_eq!(&init[33..43], &[0x80, 0x60, 0x2b, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3, 0x00]);
    assert_eq!(init.len(), 43 + len);
    &init[43..]
}

/// cargo-stylus' own build of `contract` (judge or escrow): its deployable code.
fn cargo_stylus_build(contract: &str) -> Vec<u8> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = std::env::temp_dir().join(format!("avocado-initcode-{contract}-{}.hex", std::process::id()));
    let status = Command::new(format!("{root}/scripts/stylus.sh"))
        .args(["get-initcode", "--output"])
        .arg(&out)
        .env("AVOCADO_CONTRACT", contract)
        .status()
        .expect("run scripts/stylus.sh");
    assert!(status.success(), "cargo stylus get-initcode failed for {contract}");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let init = hex::decode(text.trim()).unwrap();
    split_initcode(&init).to_vec()
}

#[test]
#[ignore = "needs cargo-stylus 0.10.10 (several minutes to install); scripts/test.sh runs it"]
fn cargo_stylus_builds_an_activatable_escrow() {
    let code = cargo_stylus_build("escrow");
    println!("cargo-stylus deployable escrow: {} bytes", code.len());
    stylus::Program::activate(&code).expect("cargo-stylus' build of the escrow activates under Nitro's rules");
}

#[test]
#[ignore = "needs cargo-stylus 0.10.10 (several minutes to install); scripts/test.sh runs it"]
fn cargo_stylus_builds_an_equivalent_judge() {
    let code = &cargo_stylus_build("judge")[..];
    assert!(stylus::is_stylus(code));
    println!("cargo-stylus deployable judge: {} bytes", code.len());
    for (name, scenario) in sc::ALL {
        println!("scenario {name}");
        scenario(&mut StylusJudge::new(code).expect("cargo-stylus' build of the judge activates"));
    }
}
