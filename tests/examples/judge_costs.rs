//! What each judge operation costs, 2- and 3-party, 64-byte state: calldata bytes, the L2 gas of
//! the whole transaction on the devnet's chain (Nitro's ink prices and call overhead), and the
//! L1 gas Nitro adds to it for posting the transaction's data (brotli size × 16 units at the L1
//! price, bought at the base fee; `gasUsedForL1` in receipts).
//!
//! `scripts/build-judge.sh && cargo run -p avocado-tests --example judge_costs`

use alloy_primitives::U256;
use avocado_tests::{
    judge_scenarios::Fixture,
    revm_judge::{self, RevmJudge},
    stylus_judge::judge_bin,
};
use revm::primitives::TxKind;

fn main() {
    println!("{:<12} {:>8} {:>9} {:>8} {:>8} {:>8}", "operation", "parties", "calldata", "nonzero", "L2 gas", "L1 gas");
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
            let (bytes, nonzero) = (data.len(), data.iter().filter(|b| **b != 0).count());
            let judge = h.judge;
            let out = revm_judge::send(&mut h.chain, TxKind::Call(judge), data, U256::ZERO);
            assert!(out.is_success(), "{name} failed");
            println!("{name:<12} {n:>8} {bytes:>9} {nonzero:>8} {:>8} {:>8}", out.l2_gas_used(), out.gas_used_for_l1);
        }
    }
}
