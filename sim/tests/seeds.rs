//! A bounded run of the simulation: every seed's invariants hold.

use avocado_sim::{run, shrink, Config};

/// Seeds each `cargo test` runs (more with `avocado-sim --seeds N`).
const SEEDS: u64 = 64;
const STEPS: usize = 1_500;

#[test]
fn invariants_hold_for_bounded_seeds() {
    let mut proposals = 0;
    let mut settled = 0;
    for seed in 0..SEEDS {
        match run(seed, Config::for_seed(seed, STEPS)) {
            Ok(s) => {
                proposals += s.proposals;
                settled += s.settled;
            }
            Err(f) => panic!("{}", shrink(f)),
        }
    }
    // The runs did real work: proposals were made and most of them settled.
    assert!(proposals > SEEDS as usize * 5, "only {proposals} proposals in {SEEDS} seeds");
    assert!(settled > 0, "nothing settled in {SEEDS} seeds");
}

/// The same seed replays exactly.
#[test]
fn a_seed_replays_exactly() {
    let a = run(7, Config::for_seed(7, 800));
    let b = run(7, Config::for_seed(7, 800));
    assert_eq!(a.map_err(|f| f.to_string()), b.map_err(|f| f.to_string()));
}
