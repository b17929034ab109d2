//! `avocado demo` end to end: the real judge deployed and activated on the embedded devnet, a
//! stale challenge answered, a cooperative close with the final state's hash on chain.

use std::process::Command;

#[test]
fn demo_runs_to_a_final_state() {
    let code = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/judge/judge.bin");
    assert!(std::path::Path::new(code).exists(), "build the judge first: scripts/build-judge.sh");
    let out = Command::new(env!("CARGO_BIN_EXE_avocado")).args(["demo", "--judge-code", code]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("activated through ArbWasm at Stylus version 2"), "{text}");
    assert!(text.contains("status: Challenge at v10"), "the watchtower's answer is stored: {text}");
    assert!(text.contains("status: Final at v11"), "{text}");
    assert!(text.contains("= keccak256(final data)"), "{text}");
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
