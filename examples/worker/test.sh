#!/usr/bin/env bash
# The example worker under workerd (npm), tested with real HTTP requests on 127.0.0.1.
# Needs the package built (bindings-wasm/build.sh). The last line of node's TAP output
# has the counts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
[ -x node_modules/.bin/workerd ] || npm install --no-audit --no-fund --loglevel=error
node --test --test-reporter=tap worker.test.mjs
