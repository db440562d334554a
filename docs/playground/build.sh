#!/usr/bin/env bash
# Builds the playground into docs/playground/dist/ (gitignored): the WASM package
# (bindings-wasm/build.sh: idempotent, quick when pkg/ is current), the page's own files,
# the package's web entry and .wasm, and examples.json made from examples/policies and
# tests/vectors (make-examples.mjs). Usage: docs/playground/build.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wasm="$root/bindings-wasm"

"$wasm/build.sh"

dist="$here/dist"
rm -rf "$dist.tmp"
mkdir -p "$dist.tmp/admit/js" "$dist.tmp/admit/pkg"
cp "$here"/index.html "$here"/playground.css "$here"/playground.js "$here"/jwt.js "$here"/state.js "$dist.tmp/"
cp "$wasm"/js/*.js "$dist.tmp/admit/js/"
cp "$wasm"/pkg/admit_wasm.js "$wasm"/pkg/admit_wasm_bg.wasm "$dist.tmp/admit/pkg/"
node "$here/make-examples.mjs" "$dist.tmp/examples.json"
rm -rf "$dist" && mv "$dist.tmp" "$dist"
echo "playground: built $dist"
