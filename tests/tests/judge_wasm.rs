//! The judge scenario suite, run against the compiled program: `target/judge/judge.bin` (built
//! by `scripts/build-judge.sh`) activated with Nitro's rules and executed by the devnet's Stylus
//! host, calldata encoded by the codec's `sol!` bindings. This is the program that gets deployed.

use avocado_devnet::stylus;
use avocado_tests::stylus_judge::{judge_bin, StylusJudge};

avocado_tests::judge_scenario_tests!(StylusJudge::new(judge_bin()).expect("the judge activates"));

#[test]
fn judge_passes_nitro_activation_rules() {
    let wasm = stylus::unpack(judge_bin()).unwrap();
    let info = stylus::validate(&wasm).unwrap();
    assert!(judge_bin().len() <= 24_576);
    assert!(info.imports.iter().all(|i| stylus::hostio::HOSTIOS.iter().any(|h| h.name == i)));
    assert!(info.imports.contains(&"static_call_contract".to_string()));
}

/// The same suite on the devnet's revm chain: real transactions, ArbWasm activation, revm's
/// journal around every Stylus frame.
mod on_chain {
    use avocado_tests::revm_judge::RevmJudge;

    avocado_tests::judge_scenario_tests!(RevmJudge::new(super::judge_bin()));
}
