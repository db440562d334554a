#!/usr/bin/env bash
# The gateway tests: real nginx and real Caddy in front of an echo upstream, every
# request decided by `admit serve` (examples/gateway/README.md says what is covered).
# Installs nginx, caddy and wrk when missing (scripts/install-gateways), builds the admit
# binary (cargo build -p admit-cli), creates examples/gateway/.venv with pytest
# (test-requirements.txt), and runs the tests. Idempotent; fast when done.
#   examples/gateway/test.sh                  everything
#   examples/gateway/test.sh -k caddy         extra arguments go to pytest
# ADMIT_BIN picks another admit binary (then nothing is built); PYTHON the interpreter
# for the venv (default python3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

"$root/scripts/install-gateways"

if [ -z "${ADMIT_BIN:-}" ]; then
  echo "==> cargo build -p admit-cli" >&2
  (cd "$root" && cargo build --locked -p admit-cli >&2)
  export ADMIT_BIN="$root/target/debug/admit"
fi

venv="$here/.venv"
py="$venv/bin/python"
stamp="$venv/.admit-reqs"
if [ ! -x "$py" ]; then
  echo "==> creating $venv" >&2
  "${PYTHON:-python3}" -m venv "$venv"
fi
if ! cmp -s "$here/test-requirements.txt" "$stamp"; then
  echo "==> installing test tools (test-requirements.txt)" >&2
  "$py" -m pip install --quiet --disable-pip-version-check -r "$here/test-requirements.txt"
  cp "$here/test-requirements.txt" "$stamp"
fi

echo "==> pytest examples/gateway/tests" >&2
cd "$here"
set +e
"$py" -m pytest tests "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$code"
