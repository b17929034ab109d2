#!/usr/bin/env bash
# Compiles the judge's Solidity twin (tests/solidity/AvocadoJudgeTwin.sol), the benchmark
# baseline of the Stylus judge, and checks that the committed creation code
# (tests/solidity/AvocadoJudgeTwin.bin, hex) is what solc produces.
#
#   scripts/build-twin.sh            # compile and compare; exit 1 if the committed file differs
#   scripts/build-twin.sh --write    # compile and rewrite the committed file
#
# The compiler is the npm `solc` package (solc-js, the official compiler built to JavaScript),
# pinned below and installed into target/npm; the tests never need it, they read the committed
# bytecode. Settings: the optimizer on with 10,000 runs (a judge is called far more often than it
# is deployed; 200 runs, solc's default, costs about 500 gas more per call and 1,100 bytes less),
# the IR code generator (via-IR: the legacy one runs out of stack slots on the calldata structs, and
# solc's own advice is to switch), EVM version cancun, solc's metadata hash appended as usual.
set -euo pipefail

die() { echo "build-twin: $*" >&2; exit 1; }

SOLC_VERSION=0.8.37
OPTIMIZER_RUNS=10000
EVM_VERSION=cancun

write=false
case "${1:-}" in
    "") ;;
    --write) write=true ;;
    *) die "usage: scripts/build-twin.sh [--write]" ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
command -v node >/dev/null || die "node is needed (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm is needed (Debian: apt-get install npm)"

prefix="$root/target/npm"
installed="$(node -p "require('$prefix/node_modules/solc/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$SOLC_VERSION" ]; then
    echo "installing solc $SOLC_VERSION (npm) into target/npm" >&2
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --silent "solc@$SOLC_VERSION" >/dev/null \
        || die "npm could not install solc@$SOLC_VERSION"
fi

source=tests/solidity/AvocadoJudgeTwin.sol
committed=tests/solidity/AvocadoJudgeTwin.bin
fresh="$(mktemp)"
trap 'rm -f "$fresh"' EXIT

SOLC_DIR="$prefix/node_modules/solc" RUNS="$OPTIMIZER_RUNS" EVM="$EVM_VERSION" OUT="$fresh" node - <<'EOF' || die "solc failed"
const fs = require('fs');
const solc = require(process.env.SOLC_DIR);
const sources = {};
for (const path of ['codec/sol/IAvocadoJudge.sol', 'tests/solidity/AvocadoJudgeTwin.sol']) {
    sources[path] = { content: fs.readFileSync(path, 'utf8') };
}
const input = {
    language: 'Solidity',
    sources,
    settings: {
        optimizer: { enabled: true, runs: Number(process.env.RUNS) },
        viaIR: true,
        evmVersion: process.env.EVM,
        outputSelection: { 'tests/solidity/AvocadoJudgeTwin.sol': { AvocadoJudgeTwin: ['evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of out.errors || []) {
    console.error(e.formattedMessage || e.message);
    if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);
const evm = out.contracts['tests/solidity/AvocadoJudgeTwin.sol'].AvocadoJudgeTwin.evm;
fs.writeFileSync(process.env.OUT, evm.bytecode.object + '\n');
console.error(`solc ${solc.version()}: creation code ${evm.bytecode.object.length / 2} bytes, runtime ${evm.deployedBytecode.object.length / 2} bytes`);
EOF

if $write; then
    cp "$fresh" "$committed"
    echo "wrote $committed"
elif ! cmp -s "$fresh" "$committed"; then
    die "$committed is not what solc $SOLC_VERSION produces from $source: run scripts/build-twin.sh --write"
else
    echo "$committed matches solc $SOLC_VERSION's output"
fi
