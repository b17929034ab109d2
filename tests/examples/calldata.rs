//! Prints the calldata size of each judge operation for 2- and 3-party channels with a 64-byte
//! state: on Arbitrum the L1 data fee of calldata usually dominates a transaction's cost.
//!
//! `cargo run -p avocado-tests --example calldata`

use avocado_tests::judge_scenarios::Fixture;

fn main() {
    println!("{:<12} {:>8} {:>8} {:>8}", "operation", "parties", "bytes", "nonzero");
    for n in [2, 3] {
        let f = Fixture::new(n, 86_400);
        let s = f.state(1, &[0x5a; 64], false);
        let fin = f.state(2, &[0x5a; 64], true);
        let rows = [
            ("open", f.open(&s, &f.sign(&s))),
            ("checkpoint", f.checkpoint(&s, &f.sign(&s))),
            ("challenge", f.challenge(&s, &f.sign(&s), &f.challenge_sig(&f.keys[0], 1))),
            ("conclude", f.conclude(&fin, &f.sign(&fin))),
        ];
        for (name, data) in rows {
            let nonzero = data.iter().filter(|b| **b != 0).count();
            println!("{name:<12} {n:>8} {:>8} {nonzero:>8}", data.len());
        }
    }
}
