//! What each judge operation costs, beside the Solidity a user would write instead.
//!
//! For 2 and 3 parties and 64-byte and 1 KiB states (incompressible bytes), each operation (open, checkpoint,
//! challenge, conclude) as a whole transaction on the devnet's chain:
//! - calldata bytes, and brotli-compressed calldata bytes (quality 11, window 22): on Arbitrum
//!   the L1 part of the fee follows the compressed size;
//! - L2 gas of the Stylus judge, uncached and cached (after `ArbWasmCache.cacheProgram`, so
//!   only the cached-program initialisation is charged), and of the Solidity twin
//!   (`tests/solidity/AvocadoJudgeTwin.sol`);
//! - the ratios Stylus / twin (below 1 means the Stylus judge is cheaper).
//!
//! Each (parties, state size) row set runs the same signed calldata, in the same order, on three
//! fresh, otherwise identical chains: Stylus uncached, Stylus cached, twin.
//!
//! ```sh
//! scripts/bench-judge.sh                                   # builds everything, checks the twin, prints this
//! cargo run -p avocado-tests --example judge_costs         # after scripts/build-contracts.sh
//! cargo run -p avocado-tests --example judge_costs -- --no-cached   # or AVOCADO_COSTS_NO_CACHED=1
//! ```
//!
//! `--no-cached` leaves the cached column out, for a chain without ArbWasmCache's
//! `cacheProgram`; without it, a refused `cacheProgram` ends the run with an error.

use std::io::Write;

use alloy_primitives::{keccak256, Address, U256};
use alloy_sol_types::{sol, SolCall};
use avocado_devnet::chain::{arbos::ARB_WASM_CACHE, Chain, Executed};
use avocado_tests::{
    judge_scenarios::{Fixture, JUDGE},
    revm_judge::{send, RevmJudge},
    stylus_judge::judge_bin,
    twin_judge,
};
use revm::primitives::TxKind;

sol! {
    /// Nitro's ArbWasmCache precompile (0x72), the part used here: a cache manager or the
    /// chain owner caches an activated program (nitro-contracts `src/precompiles/ArbWasmCache.sol`).
    interface ArbWasmCacheAbi {
        function cacheProgram(address addr) external;
    }
}

const PARTIES: [usize; 2] = [2, 3];
const STATE_SIZES: [usize; 2] = [64, 1024];
const OPERATIONS: [&str; 4] = ["open", "checkpoint", "challenge", "conclude"];

/// The L2 part of a transaction's gas: the receipt's gas minus the L1 component (the poster
/// cost Nitro charges in gas for the compressed transaction's L1 bytes).
fn l2_gas(r: &Executed) -> u64 {
    // The receipt's gas includes the L1 poster cost (Nitro's `gasUsedForL1`); the table compares
    // execution, which is L2 alone. The L1 part is the brotli column's business.
    r.l2_gas_used()
}

/// The calldata of the four operations on a fresh `n`-party channel with `size`-byte states.
fn calls(n: usize, size: usize) -> Vec<Vec<u8>> {
    let f = Fixture::new(n, 86_400);
    let s0 = f.state(0, &state_data(0, size), false);
    let s1 = f.state(1, &state_data(1, size), false);
    let s2 = f.state(2, &state_data(2, size), true);
    vec![
        f.open(&s0, &f.sign(&s0)),
        f.checkpoint(&s1, &f.sign(&s1)),
        f.challenge(&s1, &f.sign(&s1), &f.challenge_sig(&f.keys[0], 1)),
        f.conclude(&s2, &f.sign(&s2)),
    ]
}

/// `size` bytes that do not compress (a keccak chain): the compressed sizes are upper bounds,
/// and every byte is non-zero but one in 256 or so, as in real signatures and hashes.
fn state_data(version: u64, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut h = keccak256(format!("judge-costs-state-{version}"));
    while out.len() < size {
        out.extend_from_slice(h.as_slice());
        h = keccak256(h);
    }
    out.truncate(size);
    out
}

/// Runs `calls` in order on `chain` against [`JUDGE`]; the L2 gas of each.
fn run(chain: &mut Chain, calls: &[Vec<u8>], what: &str) -> Vec<u64> {
    calls
        .iter()
        .zip(OPERATIONS)
        .map(|(data, op)| {
            let r = send(chain, TxKind::Call(JUDGE), data.clone(), U256::ZERO);
            if !r.is_success() {
                fail(&format!("{what}: {op} failed: {:?}", r.result));
            }
            l2_gas(&r)
        })
        .collect()
}

/// Caches the program at `program` through ArbWasmCache, from the development account (the
/// devnet's chain owner).
fn cache_program(chain: &mut Chain, program: Address) {
    let r = send(
        chain,
        TxKind::Call(ARB_WASM_CACHE),
        ArbWasmCacheAbi::cacheProgramCall { addr: program }.abi_encode(),
        U256::ZERO,
    );
    if !r.is_success() {
        fail(&format!(
            "ArbWasmCache.cacheProgram({program}) was refused ({:?}): this devnet cannot price cached \
             programs; run with --no-cached (or AVOCADO_COSTS_NO_CACHED=1) to leave that column out",
            r.result
        ));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("judge_costs: {msg}");
    std::process::exit(1);
}

fn brotli_len(data: &[u8]) -> usize {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        w.write_all(data).expect("compressing into a Vec cannot fail");
    }
    out.len()
}

fn ratio(a: u64, b: u64) -> String {
    format!("{:.2}", a as f64 / b as f64)
}

fn main() {
    let mut with_cached = std::env::var("AVOCADO_COSTS_NO_CACHED").map_or(true, |v| v.is_empty() || v == "0");
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--no-cached" => with_cached = false,
            other => fail(&format!("unknown argument {other:?} (the only one is --no-cached)")),
        }
    }
    let judge = judge_bin();
    let mut chain = twin_judge::fresh_chain();
    let (_, twin_creation_gas) = twin_judge::deploy_by_transaction(&mut chain);
    let twin_runtime = twin_judge::runtime_code_at(&mut chain, JUDGE).len();
    println!(
        "Stylus judge: {} B deployable (judge.bin). Solidity twin: {twin_runtime} B runtime, created for {twin_creation_gas} gas.",
        judge.len()
    );
    println!("L2 gas = receipt gas minus the L1 component; ratio < 1: the Stylus judge is cheaper than the twin.");
    println!();
    let dash = "-";
    println!(
        "{:>7} {:>6} {:<10} {:>8} {:>7} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "parties", "state", "operation", "calldata", "brotli", "uncached", "cached", "solidity", "unc/sol", "cach/sol"
    );
    for n in PARTIES {
        for size in STATE_SIZES {
            let calls = calls(n, size);
            let uncached = run(&mut RevmJudge::new(judge).chain, &calls, "Stylus judge (uncached)");
            let cached = with_cached.then(|| {
                let mut h = RevmJudge::new(judge);
                cache_program(&mut h.chain, JUDGE);
                run(&mut h.chain, &calls, "Stylus judge (cached)")
            });
            let twin = run(&mut twin_judge::deploy().chain, &calls, "Solidity twin");
            for (i, op) in OPERATIONS.iter().enumerate() {
                let (c, u, s) = (cached.as_ref().map(|c| c[i]), uncached[i], twin[i]);
                println!(
                    "{n:>7} {size:>6} {op:<10} {:>8} {:>7} {u:>9} {:>9} {s:>9} {:>8} {:>8}",
                    calls[i].len(),
                    brotli_len(&calls[i]),
                    c.map_or(dash.to_string(), |c| c.to_string()),
                    ratio(u, s),
                    c.map_or(dash.to_string(), |c| ratio(c, s)),
                );
            }
        }
    }
}
