#!/usr/bin/env bash
# Builds a Stylus contract crate of this workspace into the program Nitro activates.
#
#   scripts/build-wasm.sh <package> <name>
#   scripts/build-wasm.sh --toolchain-only     # only install what the build needs
#
# writes target/<name>/<name>.wasm (the raw program) and target/<name>/<name>.bin (the deployable
# code: EF F0 00 00 followed by brotli quality 11 of the program) and prints both sizes.
#
# Toolchain: rustup's wasm32-unknown-unknown target when it is installed; otherwise Debian's
# rustc-web with rust-web-src, rebuilding std for the target (installed here through apt-get
# when missing). Either way the program is built for the MVP CPU plus the four features Nitro
# accepts, because rustc's defaults (reference-types, multivalue) fail activation.
set -euo pipefail

die() { echo "build-wasm: $*" >&2; exit 1; }

toolchain_only=false
if [ "${1:-}" = "--toolchain-only" ]; then
    toolchain_only=true
else
    [ $# -eq 2 ] || die "usage: scripts/build-wasm.sh <package> <name> | --toolchain-only"
fi
package="${1:-}"
name="${2:-}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

features="+bulk-memory,+sign-ext,+mutable-globals,+nontrapping-fptoint"
wasm_target_dir="$root/target/wasm"
out_dir="$root/target/$name"

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
        sudo="sudo"
    fi
    echo "installing ${missing[*]} (apt-get)" >&2
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get could not install ${missing[*]}"
}

# Tools for every path: binaryen (wasm-opt), wabt (wasm-objdump), brotli.
apt_install binaryen wabt brotli

# A 64 KiB stack instead of rustc's 1 MiB: Nitro charges every call for the program's initial
# memory (two pages free, then about 1,000 gas a page), so 17 pages would cost ~15,000 gas a call.
rustflags="-C target-cpu=mvp -C target-feature=$features -C link-arg=-zstack-size=65536"
# No panic locations (file names, lines) and no `Debug` formatting in the program: a bounds check
# that fails traps either way, and nobody reads its message on chain. Both flags are unstable, so
# the build runs with RUSTC_BOOTSTRAP=1 on either toolchain (they change no code path, only what
# a panic would print). Measured in judge/README.md.
rustflags="$rustflags -Zlocation-detail=none -Zfmt-debug=none"
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "toolchain: rustup's wasm32-unknown-unknown target" >&2
    cargo_cmd=(env RUSTC_BOOTSTRAP=1 cargo)
    build_std=()
    linker_env=()
else
    echo "toolchain: Debian rustc-web with build-std (no rustup wasm32 target here)" >&2
    apt_install rustc-web cargo-web rust-web-src lld-19
    cargo_cmd=(env PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo)
    # std is rebuilt for the MVP CPU too, and with immediate-abort panics: no formatting
    # machinery for panic messages reaches the program.
    build_std=(-Zbuild-std=std,panic_abort)
    rustflags="$rustflags -Zunstable-options -Cpanic=immediate-abort"
    linker_env=(CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19)
fi

$toolchain_only && exit 0

# The `wasm` profile (root Cargo.toml) is release with opt-level "z", abort, strip.
env "${linker_env[@]}" CARGO_TARGET_DIR="$wasm_target_dir" \
    CARGO_ENCODED_RUSTFLAGS="$(printf '%s' "$rustflags" | tr ' ' '\037')" \
    "${cargo_cmd[@]}" build --locked --profile wasm --target wasm32-unknown-unknown \
    "${build_std[@]}" -p "$package" --lib \
    || die "cargo could not build $package for wasm32-unknown-unknown"

lib="$(echo "$package" | tr - _).wasm"
raw="$wasm_target_dir/wasm32-unknown-unknown/wasm/$lib"
[ -f "$raw" ] || die "the build produced no $raw"

mkdir -p "$out_dir"
wasm="$out_dir/$name.wasm"
bin="$out_dir/$name.bin"
# wasm-opt with exactly Nitro's feature set; it also drops custom sections.
wasm-opt -Oz --mvp-features --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --strip-debug --strip-producers "$raw" -o "$wasm" \
    || die "wasm-opt failed on $raw"

# Quick structural check (the devnet's validator is the strict one): imports only from
# vm_hooks, the two exports Nitro needs, no start function. The dump is read from a here-string,
# not piped from echo: `grep -q` stops reading at its first match, and under pipefail the echo
# then killed by SIGPIPE would fail the check on a busy machine.
dump="$(wasm-objdump -x "$wasm")"
if grep -E '^ - func\[[0-9]+\] .* <- ' <<<"$dump" | grep -v ' <- vm_hooks\.' >/dev/null; then
    die "$name.wasm imports from a module other than vm_hooks"
fi
grep -q '"user_entrypoint"' <<<"$dump" || die "$name.wasm does not export user_entrypoint"
grep -q '"memory"' <<<"$dump" || die "$name.wasm does not export memory"
grep -q '^Start' <<<"$dump" && die "$name.wasm has a start function"

{ printf '\xef\xf0\x00\x00'; brotli -q 11 -w 22 -c "$wasm"; } > "$bin"

wasm_size=$(stat -c %s "$wasm")
bin_size=$(stat -c %s "$bin")
echo "$name.wasm: $wasm_size bytes (raw program)"
echo "$name.bin:  $bin_size bytes (deployable code, limit 24576)"
[ "$bin_size" -le 24576 ] || die "$name.bin is over Nitro's 24576-byte code limit"
