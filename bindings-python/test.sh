#!/usr/bin/env bash
# Builds the admit wheel, installs it into bindings-python/.venv with FastAPI, uvicorn
# (and httptools, its second HTTP parser; websockets and wsproto, its WebSocket
# implementations), httpx, pytest, PyJWT and mypy, and runs the Python tests.
# Idempotent; fast when done.
#   bindings-python/test.sh                 build, install, run every test
#   bindings-python/test.sh --setup-only    build and install, run nothing
#   bindings-python/test.sh -k vectors      extra arguments go to pytest
# PYTHON picks the interpreter for the venv (default python3, 3.9 or later).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

venv="$here/.venv"
py="$venv/bin/python"
# Pinned test tools; the package itself needs nothing at run time (FastAPI is optional).
reqs=(
  "maturin==1.16.0"
  "fastapi==0.163.2"
  "uvicorn==0.54.0"
  "httptools==0.9.0"
  "httpx==0.28.1"
  "pytest==9.2.0"
  "pyjwt[crypto]==2.15.1"
  "mypy==2.4.1"
  "websockets==17.4"
  "wsproto==1.3.2"
)
stamp="$venv/.admit-reqs"

if [ ! -x "$py" ]; then
  echo "==> creating $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${reqs[*]}" ]; then
  echo "==> installing test tools"
  "$py" -m pip install --quiet --disable-pip-version-check "${reqs[@]}"
  echo "${reqs[*]}" > "$stamp"
fi

# Rebuild the wheel when a source is newer than the installed copy.
marker="$venv/.admit-installed"
newest="$(find src python Cargo.toml pyproject.toml ../core/src ../core/Cargo.toml -type f -newer "$marker" 2>/dev/null | head -1 || true)"
if [ ! -f "$marker" ] || [ -n "$newest" ]; then
  echo "==> building the wheel (maturin, release)"
  rm -rf dist
  "$venv/bin/maturin" build --release --locked -o dist -i "$py" 1>&2
  "$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps dist/admit-*.whl
  touch "$marker"
fi

if [ "${1:-}" = "--setup-only" ]; then
  exit 0
fi

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
