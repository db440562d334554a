#!/usr/bin/env bash
# Runs bench/bench.py: builds the wheel into .venv (test.sh --setup-only) and the native
# timing program (benches/examples/native_decide.rs), then prints the figures. `--quick`
# for a short run.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/test.sh" --setup-only
(cd "$here/.." && cargo build --release --locked -p admit-benches --example native_decide)
exec "$here/.venv/bin/python" "$here/bench/bench.py" "$@"
