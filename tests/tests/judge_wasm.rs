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

/// The judge's `checkpoint` (two parties, 64 bytes of state, a channel already registered) on the
/// devnet's chain, uncached and cached: caching saves exactly the judge's `initGas`, what
/// `ArbWasm.programInitGas` reports as `gas − gasWhenCached` (Nitro's `CallProgram` charges
/// `cachedGas` only for a cached program).
#[test]
fn judge_checkpoint_gas_cached_and_uncached() {
    use alloy_primitives::U256;
    use alloy_sol_types::SolCall;
    use avocado_devnet::chain::{
        arbos::{ArbWasm, ARB_WASM, ARB_WASM_CACHE},
        cache::ArbWasmCache,
        DEV_ACCOUNT,
    };
    use avocado_tests::{
        judge_scenarios::{Fixture, JudgeHarness, JUDGE},
        revm_judge::{send, RevmJudge},
    };
    use revm::primitives::TxKind;

    let mut uncached = RevmJudge::new(judge_bin());
    let f = Fixture::new(2, 3600);
    let s1 = f.state(1, &[7u8; 64], false);
    assert!(uncached.send(f.checkpoint(&s1, &f.sign(&s1))).result.is_ok());
    let s2 = f.state(2, &[9u8; 64], false);
    let checkpoint = f.checkpoint(&s2, &f.sign(&s2));

    let mut cached = RevmJudge { chain: uncached.chain.clone(), judge: uncached.judge };
    let cache = ArbWasmCache::cacheProgramCall { addr: JUDGE }.abi_encode();
    assert!(send(&mut cached.chain, TxKind::Call(ARB_WASM_CACHE), cache, U256::ZERO).is_success());

    let gas_uncached = uncached.send(checkpoint.clone()).gas_used.unwrap();
    let gas_cached = cached.send(checkpoint).gas_used.unwrap();
    let out = uncached
        .chain
        .view(DEV_ACCOUNT, ARB_WASM, ArbWasm::programInitGasCall { program: JUDGE }.abi_encode())
        .unwrap()
        .output();
    let init = ArbWasm::programInitGasCall::abi_decode_returns(&out).unwrap();
    eprintln!(
        "judge checkpoint (2 parties, 64 B): {gas_uncached} gas uncached, {gas_cached} cached \
         (programInitGas: {} / {} when cached)",
        init.gas, init.gasWhenCached
    );
    assert_eq!(gas_uncached - gas_cached, init.gas - init.gasWhenCached);
}
