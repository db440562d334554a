#!/usr/bin/env bash
# benches/decide_instructions.sh BINARY...: instructions per decision of native_decide
# builds (e.g. one at main, one on a branch), counted by valgrind: deterministic, unlike
# time on a shared machine. The difference of two runs of 4000 and 24000 iterations
# (each run decides 5.1 x its iterations: a warm-up of a tenth, then 5 rounds).
set -euo pipefail
cd "$(dirname "$0")/.."
tok="$(python3 -c 'import json;print(json.load(open("tests/fixtures/tokens.json"))["rag_valid"])')"
count() { # binary iterations case-args...
  local bin="$1" n="$2"; shift 2
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" "$@" --iterations "$n" 2>&1 |
    sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}
per() { # binary case-args...
  local bin="$1"; shift
  local a b; a=$(count "$bin" 4000 "$@"); b=$(count "$bin" 24000 "$@")
  python3 -c "print(round(($b - $a) / (5.1 * 20000)))"
}
key=(--case key --policy examples/policies/fetchml.toml --path /api/v1/jobs/bob/7 --peer 127.0.0.1 --header "X-API-Key: demo-researcher-key")
jwt=(--case jwt --policy examples/policies/rag-modulo.toml --env "JWT_SECRET_KEY=test-only-rag-modulo-secret-0123456789abcdef" --path /api/collections --header "Authorization: Bearer $tok")
for b in "$@"; do
  echo "$(basename "$b"): API key $(per "$b" "${key[@]}") instructions/decision, JWT HS256 $(per "$b" "${jwt[@]}")"
done
