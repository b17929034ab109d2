#!/usr/bin/env bash
# The main job: builds the judge's WASM (installing the toolchain it needs) and runs the demo
# on the embedded chain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-contracts.sh
cargo run --locked --quiet -p avocado-cli --bin avocado -- demo "$@"
