#!/usr/bin/env bash
# The WASM binding's tests, from a fresh machine: builds the package (build.sh installs
# what it needs: the wasm32 target, wasm-bindgen-cli at the Cargo.lock version, npm dev
# dependencies) and runs, with `node --test`: the Node tests (shared vectors, API and bad
# input, the key set helper against a JWKS server on 127.0.0.1 over HTTP and HTTPS with
# a certificate made by openssl, keys files),
# the example worker in workerd (examples/worker: its tests, the key set helper with
# workerd's fetch, and the differential
# routing test) and the ESM build in headless Chromium (Debian's chromium, installed with
# apt-get when absent); tsc on the types. Idempotent; the last line is "wasm: N passed,
# M failed".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
step() { printf '\n==> wasm: %s\n' "$*"; }

"$here/build.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

passed=0 failed=0
mkdir -p test/.out

# node --test ends with "# pass N" and "# fail M"; adds them up.
run_node() {
  local name="$1"; shift
  step "$name"
  local log="test/.out/$name.log"
  node --test --test-reporter=tap "$@" >"$log" 2>&1 || true
  grep -E '^not ok|^# (tests|pass|fail)|^ *# outcomes ' "$log" | tail -n 20 || true
  local p f
  p="$(awk '/^# pass /{print $3}' "$log" | tail -n 1)"
  f="$(awk '/^# fail /{print $3}' "$log" | tail -n 1)"
  if [ -z "$p" ] || [ -z "$f" ]; then
    failed=$((failed + 1)); echo "FAIL: $name did not finish"; tail -n 30 "$log"
  else
    passed=$((passed + p)); failed=$((failed + f))
    [ "$f" -eq 0 ] || grep -B2 -A30 '^not ok' "$log" | head -n 120
  fi
}

step "rustfmt and clippy (wasm32, -D warnings)"
if cargo fmt -- --check; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: rustfmt"; fi
if nice -n 10 cargo clippy --release --target wasm32-unknown-unknown --locked --all-targets -- -D warnings; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL: clippy"
fi

# test/jwks.test.mjs makes a test certificate with openssl (Debian's, installed when absent).
if ! command -v openssl >/dev/null; then
  step "apt-get install openssl"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y --no-install-recommends openssl ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends openssl; }
fi
run_node node test/vectors.test.mjs test/api.test.mjs test/delegated.test.mjs test/jwks.test.mjs

step "TypeScript: tsc --strict on test/types-check.ts (the hand-written and generated types)"
if node_modules/.bin/tsc -p test/tsconfig.json; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: tsc"; fi

# examples/worker: workerd from npm, real HTTP on 127.0.0.1: the example's tests, and the
# differential test of the path admit decides on against the path the worker routes on
# (raw targets over sockets; prints the count of each outcome).
[ -x ../examples/worker/node_modules/.bin/workerd ] ||
  npm --prefix ../examples/worker install --no-audit --no-fund --loglevel=error
run_node workerd ../examples/worker/worker.test.mjs ../examples/worker/vectors.test.mjs ../examples/worker/jwks.test.mjs ../examples/worker/differential.test.mjs

# Headless Chromium (Debian's package) driven by playwright-core.
if ! command -v chromium >/dev/null; then
  step "apt-get install chromium"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y --no-install-recommends chromium ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends chromium; }
fi
run_node chromium test/browser.test.mjs

echo
echo "wasm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
