#!/usr/bin/env bash
# Builds both Stylus contracts: target/judge/judge.{wasm,bin} and target/escrow/escrow.{wasm,bin}.
set -euo pipefail
here="$(dirname "$0")"
"$here/build-wasm.sh" avocado-judge judge
"$here/build-wasm.sh" avocado-escrow escrow
