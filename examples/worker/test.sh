#!/usr/bin/env bash
# The example worker under workerd (npm), tested with real HTTP requests on 127.0.0.1:
# worker.test.mjs (the example's behaviour), vectors.test.mjs (every shared vector, run
# inside workerd) and differential.test.mjs (raw targets over sockets: admit's rule and
# owner against the handler the router ran). Needs the package built
# (bindings-wasm/build.sh; bindings-wasm/test.sh builds it and runs all three). The last
# lines of node's TAP output have the counts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
[ -x node_modules/.bin/workerd ] || npm install --no-audit --no-fund --loglevel=error
node --test --test-reporter=tap worker.test.mjs vectors.test.mjs jwks.test.mjs differential.test.mjs
