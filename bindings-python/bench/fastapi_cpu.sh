#!/usr/bin/env bash
# Runs bench/fastapi_cpu.py: uvicorn CPU per request of a FastAPI app guarded by admit
# against HTTPBearer + PyJWT (RS256 and HS256) and APIKeyHeader + SHA-256 (API keys),
# loaded by wrk. Builds the wheel into .venv (test.sh --setup-only) and installs wrk
# (Debian) when it is missing.
#   bindings-python/bench/fastapi_cpu.sh [--seconds 1] [--rounds 8] [--only TEXT,...]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/test.sh" --setup-only
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
exec "$here/.venv/bin/python" "$here/bench/fastapi_cpu.py" "$@"
