#!/usr/bin/env bash
# Validates docs/policy.schema.json against the parser (docs/schema-test/README.md):
# `admit schema` prints the committed file; every shipped policy validates in taplo (TOML)
# and Python jsonschema (its tree, and its JSON form); a family of broken policies,
# generated from the schema's properties, is refused by jsonschema, by taplo and by
# `admit check`. Installs what it needs here (npm: @taplo/cli from the committed lock;
# a venv with jsonschema), idempotent and quick when done. Last line: "schema: ok" or
# "schema: FAILED".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/.out"
cd "$root"
step() { printf '\n==> schema: %s\n' "$*"; }
failed=0

if [ ! -x "$here/node_modules/.bin/taplo" ]; then
  step "npm ci (@taplo/cli)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! "$here/.venv/bin/python" -c 'import jsonschema' 2>/dev/null; then
  step "python venv with jsonschema"
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
taplo=("$here/node_modules/.bin/taplo" lint --colors never --no-auto-config)

step "cargo build -p admit-cli; the schema test (committed file current, closed objects, descriptions from docs/policy.md)"
cargo build --locked -q -p admit-cli
cargo test --locked -q -p admit-cli --test schema
cargo test --locked -q -p admit-cli --bin admit schema::
admit="$root/target/debug/admit"

rm -rf "$out" && mkdir -p "$out"
step "jsonschema: shipped policies; the broken family against jsonschema and admit check"
"$here/.venv/bin/python" "$here/check_schema.py" "$admit" "$out" || failed=1

step "taplo: the example policies (by their #:schema line)"
examples=()
for f in examples/policies/*.toml; do
  case "$f" in *.test.toml|*-keys.toml) continue ;; esac
  head -n 1 "$f" | grep -qx '#:schema ../../docs/policy.schema.json' || { echo "FAIL: $f has no #:schema line"; failed=1; }
  examples+=("$f")
done
"${taplo[@]}" "${examples[@]}" 2>&1 | grep -v ' INFO ' || true
"${taplo[@]}" "${examples[@]}" >/dev/null 2>&1 || { echo "FAIL: taplo refused an example policy"; failed=1; }

step "taplo: the fixture policies (--schema); those a vector expects to fail to load are refused"
refused_by_design=" tests/fixtures/policies/api-key-secret-default.toml tests/fixtures/policies/secret-default.toml "
for f in tests/fixtures/policies/*.toml; do
  if "${taplo[@]}" --schema "file://$root/docs/policy.schema.json" "$f" >"$out/taplo-one.log" 2>&1; then
    case "$refused_by_design" in *" $f "*) echo "FAIL: taplo accepted $f, which has a secret's default"; failed=1 ;; esac
  else
    case "$refused_by_design" in
      *" $f "*) ;;
      *) echo "FAIL: taplo refused $f"; grep -E '^error' "$out/taplo-one.log" | head -n 3; failed=1 ;;
    esac
  fi
done

step "taplo: every broken policy is refused"
total="$(find "$out/mutants" -name '*.toml' | wc -l)"
"${taplo[@]}" --schema "file://$root/docs/policy.schema.json" "$out"/mutants/*.toml >"$out/taplo-mutants.log" 2>&1 || true
refused="$(grep -c 'invalid file' "$out/taplo-mutants.log" || true)"
echo "taplo refused $refused of $total broken policies"
[ "$total" -gt 0 ] && [ "$refused" -eq "$total" ] || { echo "FAIL: taplo accepted a broken policy"; failed=1; }

if [ "$failed" -eq 0 ]; then echo "schema: ok"; else echo "schema: FAILED"; exit 1; fi
