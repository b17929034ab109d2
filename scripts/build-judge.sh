#!/usr/bin/env bash
# Builds the judge: target/judge/judge.wasm (raw program) and target/judge/judge.bin (deployable).
set -euo pipefail
exec "$(dirname "$0")/build-wasm.sh" avocado-judge judge
