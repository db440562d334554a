#!/usr/bin/env bash
# Builds the npm package from a fresh machine (idempotent, quick when done):
#   - installs the wasm32-unknown-unknown target and wasm-bindgen-cli at exactly the
#     wasm-bindgen version in bindings-wasm/Cargo.lock (with cargo; skipped when present),
#   - installs the package's dev dependencies from the npm registry (binaryen's wasm-opt),
#   - builds the crate in release, runs wasm-bindgen (--target web: one glue file that
#     js/node.js, js/web.js and js/workerd.js each initialise their own way),
#   - shrinks the .wasm with wasm-opt -Oz and prints its raw and gzipped sizes
#     (ADMIT_WASM_OPT=speed: the core at opt-level 3, larger and faster); wasm-bindgen
#     and wasm-opt are skipped when pkg/ was made from the same .wasm (pkg/.stamp),
#   - ADMIT_WASM_CRYPTO picks the core's crypto backend: `host` (the default: HMAC in
#     Rust, RSA/ECDSA/Ed25519 verified by the host's WebCrypto) or `rust-crypto` (every
#     signature checked inside the .wasm by RustCrypto's crates; a larger module).
# Run it as `npm --prefix bindings-wasm run build` or `bindings-wasm/build.sh`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
step() { printf '\n==> wasm: %s\n' "$*"; }

command -v cargo >/dev/null || { echo "cargo is needed (https://rustup.rs)" >&2; exit 1; }
command -v npm >/dev/null || { echo "node 20+ and npm are needed" >&2; exit 1; }

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
wb_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$wb_version" ] || { echo "no wasm-bindgen in bindings-wasm/Cargo.lock" >&2; exit 1; }
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wb_version"; then
  step "cargo install wasm-bindgen-cli $wb_version"
  # --locked first; if the CLI's own lock file names a crate version the registry no
  # longer serves (yanked), resolve afresh at the same CLI version.
  nice -n 10 cargo install wasm-bindgen-cli --version "$wb_version" --locked ||
    nice -n 10 cargo install wasm-bindgen-cli --version "$wb_version"
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ package.json -nt node_modules/.package-lock.json ]; then
  step "npm install (dev dependencies)"
  npm install --no-audit --no-fund --loglevel=error
fi

# ADMIT_WASM_OPT=size (the default) builds everything at opt-level "z". ADMIT_WASM_OPT=speed
# builds the core at opt-level 3, where the generic code a decision runs (Vec and str
# helpers, SHA-2) is instantiated: about 15% larger gzipped, and the cheap decisions
# 1.3-4.4 us faster in Node (figures: bench/README.md). Both end with wasm-opt -Oz.
case "${ADMIT_WASM_OPT:-size}" in
  size) profile=() ;;
  speed) profile=(--config 'profile.release.package.admit.opt-level=3') ;;
  *) echo "ADMIT_WASM_OPT must be size or speed, not ${ADMIT_WASM_OPT}" >&2; exit 2 ;;
esac

# ADMIT_WASM_CRYPTO=host (the default) verifies RSA, ECDSA and Ed25519 signatures with the
# host's WebCrypto (js/engine.js awaits crypto.subtle.verify); rust-crypto links
# RustCrypto's rsa, p256/p384 ECDSA and ed25519-dalek into the .wasm and verifies there,
# synchronously. The JS API is the same.
crypto="${ADMIT_WASM_CRYPTO:-host}"
case "$crypto" in
  host) features=() ;;
  rust-crypto) features=(--no-default-features --features rust-crypto) ;;
  *) echo "ADMIT_WASM_CRYPTO must be host or rust-crypto, not ${crypto}" >&2; exit 2 ;;
esac

step "cargo build --release --target wasm32-unknown-unknown ${profile[*]} ${features[*]} (crypto: $crypto)"
nice -n 10 cargo build --release --target wasm32-unknown-unknown --locked "${profile[@]}" "${features[@]}"

raw="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/admit_wasm.wasm"
# wasm-bindgen and wasm-opt take most of the time: skipped when pkg/ was made from this
# very .wasm with the same tools and options.
stamp="$(sha256sum "$raw" | cut -d' ' -f1) wasm-bindgen $wb_version $(node_modules/.bin/wasm-opt --version) ${ADMIT_WASM_OPT:-size} $crypto"
if [ -f pkg/.stamp ] && [ -f pkg/admit_wasm_bg.wasm ] && [ "$(cat pkg/.stamp)" = "$stamp" ]; then
  step "pkg/ is up to date (made from this .wasm): wasm-bindgen and wasm-opt skipped"
  made="made before from the same .wasm"
else
  step "wasm-bindgen $wb_version --target web"
  rm -rf pkg.tmp
  wasm-bindgen --target web --out-dir pkg.tmp --out-name admit_wasm "$raw"

  step "wasm-opt -Oz (binaryen from npm)"
  made="$(wc -c <pkg.tmp/admit_wasm_bg.wasm) before wasm-opt"
  node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    pkg.tmp/admit_wasm_bg.wasm -o pkg.tmp/admit_wasm_bg.opt.wasm
  mv pkg.tmp/admit_wasm_bg.opt.wasm pkg.tmp/admit_wasm_bg.wasm
  printf '%s\n' "$stamp" >pkg.tmp/.stamp
  rm -rf pkg && mv pkg.tmp pkg
fi

size="$(wc -c <pkg/admit_wasm_bg.wasm)"
gz="$(gzip -9c pkg/admit_wasm_bg.wasm | wc -c)"
echo "pkg/admit_wasm_bg.wasm: $size bytes raw ($made), $gz bytes gzipped (-9); crypto: $crypto"
# The target is under 250 KB gzipped; ADMIT_WASM_MAX_GZ (bytes) makes it fatal.
if [ "$gz" -ge 256000 ]; then echo "warning: the gzipped .wasm is over 250 KB" >&2; fi
if [ -n "${ADMIT_WASM_MAX_GZ:-}" ] && [ "$gz" -gt "$ADMIT_WASM_MAX_GZ" ]; then
  echo "the gzipped .wasm ($gz bytes) is over ADMIT_WASM_MAX_GZ ($ADMIT_WASM_MAX_GZ)" >&2; exit 1
fi
