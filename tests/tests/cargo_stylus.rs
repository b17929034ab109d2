//! cargo-stylus 0.10.10 accepts both contract crates: its `get-initcode` builds each its own way,
//! the deployable code inside that init code activates under Nitro's rules, and its judge
//! behaves like ours. Needs cargo-stylus 0.10.10, so it is opt-in: `scripts/test.sh` installs it
//! once and then runs these with `--ignored`. They never install it themselves (both would at
//! once): without it they fail and say how to install it.

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

/// The cargo-stylus these tests need; fails with the command that installs it.
const CARGO_STYLUS: &str = "0.10.10";

fn require_cargo_stylus() {
    let version = Command::new("cargo")
        .args(["stylus", "--version"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string());
    match version {
        Some(v) if v.contains(CARGO_STYLUS) => {}
        found => panic!(
            "cargo-stylus {CARGO_STYLUS} is needed ({}): install it once with \
             `cargo install --locked cargo-stylus@{CARGO_STYLUS}` (scripts/test.sh does, before the tests)",
            found.map_or("`cargo stylus` is not installed".to_string(), |v| format!("found `{v}`")),
        ),
    }
}

/// cargo-stylus' own build of `contract` (judge or escrow): its deployable code.
fn cargo_stylus_build(contract: &str) -> Vec<u8> {
    require_cargo_stylus();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = std::env::temp_dir().join(format!("avocado-initcode-{contract}-{}.hex", std::process::id()));
    let status = Command::new(format!("{root}/scripts/stylus.sh"))
        .args(["get-initcode", "--output"])
        .arg(&out)
        .env("AVOCADO_CONTRACT", contract)
        .env("AVOCADO_STYLUS_NO_INSTALL", "1")
        .status()
        .expect("run scripts/stylus.sh");
    assert!(status.success(), "cargo stylus get-initcode failed for {contract}");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let init = hex::decode(text.trim()).unwrap();
    split_initcode(&init).to_vec()
}

#[test]
#[ignore = "needs cargo-stylus 0.10.10, which scripts/test.sh installs once before running it"]
fn cargo_stylus_builds_an_activatable_escrow() {
    let code = cargo_stylus_build("escrow");
    println!("cargo-stylus deployable escrow: {} bytes", code.len());
    stylus::Program::activate(&code).expect("cargo-stylus' build of the escrow activates under Nitro's rules");
}

#[test]
#[ignore = "needs cargo-stylus 0.10.10, which scripts/test.sh installs once before running it"]
fn cargo_stylus_builds_an_equivalent_judge() {
    let code = &cargo_stylus_build("judge")[..];
    assert!(stylus::is_stylus(code));
    println!("cargo-stylus deployable judge: {} bytes", code.len());
    for (name, scenario) in sc::ALL {
        println!("scenario {name}");
        scenario(&mut StylusJudge::new(code).expect("cargo-stylus' build of the judge activates"));
    }
}
