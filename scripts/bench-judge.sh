#!/usr/bin/env bash
# The judge's costs beside its Solidity twin, in one run: builds both Stylus contracts, compiles
# the committed Solidity (the twin among it) with npm solc and checks the committed bytecode is
# what it produces, runs the judge scenario suite against the twin, and prints the table of
# `judge_costs` (calldata, compressed calldata, L2 gas uncached and cached, the twin's gas, the
# ratios).
#
#   scripts/bench-judge.sh                 # the whole table
#   scripts/bench-judge.sh --no-cached     # without the cached column (a devnet without ArbWasmCache.cacheProgram)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0

scripts/build-contracts.sh
scripts/build-solidity.sh
cargo test --locked -p avocado-tests --test judge_twin
cargo run --locked -q -p avocado-tests --example judge_costs -- "$@"
