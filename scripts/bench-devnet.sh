#!/usr/bin/env bash
# Benchmarks the devnet beside anvil (npm @foundry-rs/anvil) in one run: boot time, transfers
# per second, judge checkpoints per second, gas per judge operation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-contracts.sh
if [ ! -x target/tools/node_modules/.bin/anvil ]; then
    mkdir -p target/tools
    (cd target/tools && npm install --no-audit --no-fund --silent @foundry-rs/anvil@1.7.1 >/dev/null)
fi
cargo build --locked --release -p avocado-devnet --bin avocado-devnet
cargo run --locked --release -p avocado-tests --example devnet_bench -- \
    target/release/avocado-devnet target/tools/node_modules/.bin/anvil target/judge/judge.bin
