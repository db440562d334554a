#!/usr/bin/env bash
# Runs an example app: bindings-python/run-example.sh skillmeat|rag-modulo
# Builds and installs the package into bindings-python/.venv first when needed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
case "${1:-}" in
  skillmeat) app=skillmeat_app.py ;;
  rag-modulo|rag) app=rag_modulo_app.py ;;
  *) echo "usage: $0 skillmeat|rag-modulo" >&2; exit 2 ;;
esac
"$here/test.sh" --setup-only >&2
exec "$here/.venv/bin/python" "$here/../examples/python/$app"
