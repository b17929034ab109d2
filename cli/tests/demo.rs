//! `avocado demo` end to end: the embedded devnet with the real judge deployed and activated,
//! three node processes, a stale challenge answered by a watchtower, a cooperative close with the
//! final state's hash on chain.

use std::process::Command;

#[test]
fn demo_runs_to_a_final_state() {
    let code = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/judge/judge.bin");
    assert!(std::path::Path::new(code).exists(), "build the contracts first: scripts/build-contracts.sh");
    let escrow = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/escrow/escrow.bin");
    let out = Command::new(env!("CARGO_BIN_EXE_avocado"))
        .args(["demo", "--judge-code", code, "--escrow-code", escrow])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("activated through ArbWasm at Stylus version 2"), "{text}");
    assert!(text.contains("every node holds v33 on disk"), "{text}");
    assert!(text.contains("she challenges with the stale v"), "{text}");
    assert!(text.contains("watchtower answered v"), "{text}");
    assert!(text.contains("judge: Challenge at v33"), "the watchtower's answer is stored: {text}");
    assert!(text.contains("judge: Final at v34"), "{text}");
    assert!(text.contains("dataHash = keccak256(final balances)"), "{text}");
    assert!(text.contains("withdrawals = final balances, and add up to the deposits to the wei"), "{text}");
    for step in [
        "open (v0",
        "deposit (escrow)",
        "challenge (stale",
        "checkpoint (watchtower)",
        "conclude (final",
        "settle",
        "withdraw",
    ] {
        assert!(text.contains(step), "the gas of {step}: {text}");
    }
}

#[test]
fn demo_refuses_a_missing_program_with_one_clear_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_avocado"))
        .args(["demo", "--judge-code", "/nonexistent/judge.bin"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("avocado: cannot read /nonexistent/judge.bin"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
