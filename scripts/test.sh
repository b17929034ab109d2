#!/usr/bin/env bash
# Runs every test of the project from a fresh clone: builds the judge's WASM (installing the
# toolchain it needs), installs cargo-stylus once, then runs the native, WASM and end-to-end
# suites, and prints one closing line `N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

# A one-off build: incremental caches would only take disk space.
export CARGO_INCREMENTAL=0

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

scripts/build-contracts.sh

# cargo-stylus 0.10.10, installed here once and before any test: the cargo_stylus test builds
# both contracts with it at the same time and fails when it is missing rather than install it.
if ! cargo stylus --version 2>/dev/null | grep -q '0\.10\.10'; then
    echo "installing cargo-stylus 0.10.10 (cargo install --locked; several minutes)"
    cargo install --locked cargo-stylus@0.10.10
fi

run() {
    echo "+ $*"
    # Keep going on failure so the summary counts everything; the exit code is kept below.
    if ! "$@" 2>&1 | tee -a "$log"; then
        failed_cmds=$((failed_cmds + 1))
    fi
}
failed_cmds=0

# The committed Solidity creation code (the judge's twin, the test tokens) must be what its
# sources compile to (npm solc, installed into target/npm once): the tests only read the bytecode.
run scripts/build-solidity.sh
# End-to-end tests start `avocado node` processes: the binary must exist before they run.
run cargo build --locked -p avocado-cli --bin avocado
run cargo test --workspace --locked --no-fail-fast
# The exported-ABI check needs the SDK's export feature, which must never reach the WASM build.
run cargo test --locked -p avocado-judge --features export-abi --test abi
run cargo test --locked -p avocado-escrow --features export-abi --test abi
# cargo-stylus 0.10.10 (installed above) must accept both contract crates.
run cargo test --locked -p avocado-tests --test cargo_stylus -- --ignored
# Tools nobody here wrote against the devnet: cargo-stylus deploys, foundry's cast drives the judge.
if [ ! -x target/tools/node_modules/.bin/cast ]; then
    command -v npm >/dev/null || { echo "test.sh: npm is needed to install foundry's cast" >&2; exit 1; }
    echo "installing cast (npm @foundry-rs/cast) into target/tools"
    mkdir -p target/tools
    (cd target/tools && npm install --no-audit --no-fund --silent @foundry-rs/cast@1.7.1 >/dev/null)
fi
run cargo test --locked -p avocado-tests --test devnet_tools -- --ignored

passed=$(grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
echo
echo "tests: ${passed} passed, ${failed} failed"
if [ "$failed_cmds" -ne 0 ] || [ "$failed" -ne 0 ]; then
    exit 1
fi
