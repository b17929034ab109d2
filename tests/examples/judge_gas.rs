//! Prints the gas of each judge operation as whole transactions on the devnet's chain
//! (in-process, no RPC), for 2- and 3-party channels with a 64-byte state.
//!
//! `scripts/build-judge.sh && cargo run -p avocado-tests --example judge_gas`

use avocado_tests::{
    judge_scenarios::{Fixture, JudgeHarness},
    revm_judge::RevmJudge,
    stylus_judge::judge_bin,
};

fn main() {
    println!("{:<12} {:>8} {:>8}", "operation", "parties", "gas");
    for n in [2, 3] {
        let mut h = RevmJudge::new(judge_bin());
        let f = Fixture::new(n, 86_400);
        let s0 = f.state(0, &[1; 64], false);
        let s1 = f.state(1, &[2; 64], false);
        let s2 = f.state(2, &[3; 64], true);
        let calls = [
            ("open", f.open(&s0, &f.sign(&s0))),
            ("checkpoint", f.checkpoint(&s1, &f.sign(&s1))),
            ("challenge", f.challenge(&s1, &f.sign(&s1), &f.challenge_sig(&f.keys[0], 1))),
            ("conclude", f.conclude(&s2, &f.sign(&s2))),
        ];
        for (name, data) in calls {
            let out = h.send(data);
            assert!(out.result.is_ok(), "{name} failed");
            println!("{name:<12} {n:>8} {:>8}", out.gas_used.unwrap_or_default());
        }
    }
}
