#!/usr/bin/env bash
# Builds the admit wheel (build-wheel.sh: manylinux, abi3), installs it into
# bindings-python/.venv with the pinned test tools (test-requirements.txt: FastAPI,
# uvicorn and httptools, its second HTTP parser, websockets and wsproto, its WebSocket
# implementations, httpx, pytest, PyJWT, mypy, fastapi-swagger), installs Debian's
# chromium when missing (ensure-chromium.sh), and runs the Python tests. Idempotent;
# fast when done: the wheel is rebuilt only when a source
# changed (cargo then rebuilds only what changed), and reinstalled only when rebuilt.
#   bindings-python/test.sh                 build, install, run every test
#   bindings-python/test.sh --setup-only    build and install, run nothing
#   bindings-python/test.sh -k vectors      extra arguments go to pytest
# PYTHON picks the interpreter for the venv (default python3, 3.9 or later).
# test-wheel.sh runs the same tests on the same wheel in a fresh venv without Rust.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

venv="$here/.venv"
py="$venv/bin/python"
stamp="$venv/.admit-reqs"

if [ ! -x "$py" ]; then
  echo "==> creating $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi
if ! cmp -s test-requirements.txt "$stamp"; then
  echo "==> installing test tools (test-requirements.txt)"
  "$py" -m pip install --quiet --disable-pip-version-check -r test-requirements.txt
  cp test-requirements.txt "$stamp"
fi

"$here/build-wheel.sh" >&2
wheel="$(ls "$here"/dist/admit-*.whl)"
# Reinstall when the wheel is not the one installed (its hash in the marker).
marker="$venv/.admit-installed"
sum="$(sha256sum "$wheel")"
if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$sum" ]; then
  echo "==> installing $(basename "$wheel")"
  "$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "$sum" > "$marker"
fi

if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi

"$here/ensure-chromium.sh"

echo "==> pytest"
set +e
"$py" -m pytest tests "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$code"
