#!/usr/bin/env bash
# Compiles every Solidity contract the tests run and checks that the committed creation code
# (hex, beside each source) is what solc produces:
#
#   tests/solidity/AvocadoJudgeTwin.bin   the judge's Solidity twin, the Stylus judge's gas baseline
#   tests/solidity/tokens/<Token>.bin     the test tokens (standard, no return value, fee on
#                                         transfer, blocklist, false instead of revert)
#
#   scripts/build-solidity.sh            # compile and compare; exit 1 if a committed file differs
#   scripts/build-solidity.sh --write    # compile and rewrite the committed files
#
# The compiler is the npm `solc` package (solc-js, the official compiler built to JavaScript),
# pinned below and installed into target/npm; the tests never need it, they read the committed
# bytecode. Each unit below is compiled on its own, with its own settings (they are part of the
# metadata hash solc appends, so changing them rewrites the bytecode):
#
# - the twin: optimizer on with 10,000 runs (a judge is called far more often than it is
#   deployed; 200 runs, solc's default, costs about 500 gas more per call and 1,100 bytes less),
#   the IR code generator (via-IR: the legacy one runs out of stack slots on the calldata structs,
#   and solc's own advice is to switch), EVM version cancun;
# - the tokens: optimizer on with 200 runs, the legacy code generator, EVM version cancun (their
#   gas is nobody's benchmark; they only have to behave like deployed tokens).
set -euo pipefail

die() { echo "build-solidity: $*" >&2; exit 1; }

SOLC_VERSION=0.8.37

write=false
case "${1:-}" in
    "") ;;
    --write) write=true ;;
    *) die "usage: scripts/build-solidity.sh [--write]" ;;
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

SOLC_DIR="$prefix/node_modules/solc" SOLC_VERSION="$SOLC_VERSION" WRITE="$write" node - <<'EOF'
const fs = require('fs');
const solc = require(process.env.SOLC_DIR);
const write = process.env.WRITE === 'true';

// What to compile: the sources of one compilation, its settings, and each contract's creation
// code file.
const units = [
    {
        name: 'judge twin',
        sources: ['codec/sol/IAvocadoJudge.sol', 'tests/solidity/AvocadoJudgeTwin.sol'],
        settings: { optimizer: { enabled: true, runs: 10000 }, viaIR: true, evmVersion: 'cancun' },
        contracts: [['tests/solidity/AvocadoJudgeTwin.sol', 'AvocadoJudgeTwin', 'tests/solidity/AvocadoJudgeTwin.bin']],
    },
    {
        name: 'test tokens',
        sources: ['tests/solidity/tokens/TestTokens.sol'],
        settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun' },
        contracts: ['StandardToken', 'NoReturnToken', 'FeeToken', 'BlockingToken', 'FalseToken'].map((c) => [
            'tests/solidity/tokens/TestTokens.sol',
            c,
            `tests/solidity/tokens/${c}.bin`,
        ]),
    },
];

let stale = [];
for (const unit of units) {
    const sources = {};
    for (const path of unit.sources) sources[path] = { content: fs.readFileSync(path, 'utf8') };
    const outputSelection = {};
    for (const [source, contract] of unit.contracts) {
        (outputSelection[source] ??= {})[contract] = ['evm.bytecode.object', 'evm.deployedBytecode.object'];
    }
    const input = { language: 'Solidity', sources, settings: { ...unit.settings, outputSelection } };
    const out = JSON.parse(solc.compile(JSON.stringify(input)));
    let failed = false;
    for (const e of out.errors || []) {
        console.error(e.formattedMessage || e.message);
        if (e.severity === 'error') failed = true;
    }
    if (failed) {
        console.error(`build-solidity: solc failed on the ${unit.name}`);
        process.exit(1);
    }
    for (const [source, contract, file] of unit.contracts) {
        const evm = out.contracts[source][contract].evm;
        const hex = evm.bytecode.object + '\n';
        const sizes = `creation code ${hex.length >> 1} bytes, runtime ${evm.deployedBytecode.object.length >> 1} bytes`;
        if (write) {
            fs.writeFileSync(file, hex);
            console.log(`wrote ${file} (${contract}: ${sizes})`);
        } else if (!fs.existsSync(file)) {
            stale.push(file);
            console.error(`${file} is missing`);
        } else if (fs.readFileSync(file, 'utf8') !== hex) {
            stale.push(file);
            console.error(`${file} is not what solc ${solc.version()} produces from ${source}`);
        } else {
            console.log(`${file} matches (${contract}: ${sizes})`);
        }
    }
}
if (stale.length > 0) {
    console.error(`build-solidity: ${stale.length} committed file(s) differ: run scripts/build-solidity.sh --write`);
    process.exit(1);
}
EOF
