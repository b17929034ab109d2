#!/usr/bin/env bash
# Runs cargo-stylus 0.10.10 on the judge crate with the toolchain that works on this machine:
#
#   scripts/stylus.sh export-abi
#   scripts/stylus.sh get-initcode --output initcode.hex
#   scripts/stylus.sh deploy --no-verify --endpoint http://localhost:8547 --private-key <key>
#
# With rustup's wasm32 target installed, cargo-stylus runs as it is. Without it, it runs on
# Debian's rustc-web with std rebuilt for the MVP CPU (see scripts/build-wasm.sh). Installs
# cargo-stylus with `cargo install --locked` when it is missing, unless AVOCADO_STYLUS_NO_INSTALL
# is set (the tests set it: scripts/test.sh installs it once, before them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! cargo stylus --version 2>/dev/null | grep -q '0\.10\.10'; then
    if [ -n "${AVOCADO_STYLUS_NO_INSTALL:-}" ]; then
        echo "stylus.sh: cargo-stylus 0.10.10 is missing: cargo install --locked cargo-stylus@0.10.10" >&2
        exit 1
    fi
    echo "installing cargo-stylus 0.10.10 (cargo install --locked; several minutes)" >&2
    cargo install cargo-stylus --version 0.10.10 --locked >&2
fi

contract="${AVOCADO_CONTRACT:-judge}"  # judge or escrow
cd "$root/$contract"
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    exec cargo stylus "$@" --contract "avocado-$contract"
fi
"$root/scripts/build-wasm.sh" --toolchain-only >/dev/null
features="+bulk-memory,+sign-ext,+mutable-globals,+nontrapping-fptoint"
export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19
# export-abi builds for the host; everything else builds the program.
if [ "${1:-}" != "export-abi" ]; then
    export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-cpu=mvp -C target-feature=$features -Zunstable-options -Cpanic=immediate-abort"
fi
exec cargo stylus "$@" --contract "avocado-$contract"
