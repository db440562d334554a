#!/usr/bin/env bash
# The playground's browser test: builds it (build.sh), then test.mjs serves it with
# scripts/playground and drives Debian's headless Chromium with playwright-core (from the
# committed package-lock.json here). Installs what it needs, idempotent and quick when
# done. Screenshots: docs/playground/.out/. Last line: "playground: N passed, M failed".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
step() { printf '\n==> playground: %s\n' "$*"; }

if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  step "apt-get install chromium"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y --no-install-recommends chromium ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends chromium; }
fi
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci (playwright-core)"
  npm ci --no-audit --no-fund --loglevel=error
fi

step "build"
./build.sh

step "headless Chromium (test.mjs)"
mkdir -p .out
log=.out/test.log
node --test --test-reporter=tap test.mjs >"$log" 2>&1 || true
grep -E '^not ok|^# (tests|pass|fail)' "$log" || true
passed="$(awk '/^# pass /{print $3}' "$log" | tail -n 1)"
failed="$(awk '/^# fail /{print $3}' "$log" | tail -n 1)"
if [ -z "$passed" ] || [ -z "$failed" ]; then
  tail -n 40 "$log"; echo "playground: 0 passed, 1 failed (the test did not finish)"; exit 1
fi
[ "$failed" -eq 0 ] || grep -A40 '^not ok' "$log" | head -n 120
echo "screenshots: $(ls "$here"/.out/*.png 2>/dev/null | tr '\n' ' ')"
echo "playground: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
