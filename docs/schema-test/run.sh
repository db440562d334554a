#!/usr/bin/env bash
# Validates docs/policy.schema.json and docs/keys-file.schema.json against the parser
# (docs/schema-test/README.md): `admit schema` prints the committed files; every shipped
# policy and keys file validates in taplo (TOML) and Python jsonschema (its tree, which
# is its JSON form); a family of broken policies and keys files, generated from the
# schemas' properties, is refused by jsonschema, by taplo and by `admit check`. Installs what it needs here (npm: @taplo/cli from the committed lock;
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

step "taplo: the example policies and keys file (by their #:schema line)"
examples=()
for f in examples/policies/*.toml; do
  case "$f" in
    *.test.toml) continue ;;
    *-keys.toml) want='#:schema ../../docs/keys-file.schema.json' ;;
    *) want='#:schema ../../docs/policy.schema.json' ;;
  esac
  head -n 1 "$f" | grep -qxF "$want" || { echo "FAIL: $f does not start with $want"; failed=1; }
  examples+=("$f")
done
if "${taplo[@]}" "${examples[@]}" >"$out/taplo-examples.log" 2>&1; then
  echo "taplo: ${#examples[@]} example files valid"
else
  grep -E '^error|invalid file' "$out/taplo-examples.log"; echo "FAIL: taplo refused an example file"; failed=1
fi

step "taplo: the fixture policies and keys files (--schema); those a vector expects to fail to load are refused"
# The two fixtures whose vectors expect a load error (a secret's `default`): refused.
refused_by_design=(tests/fixtures/policies/api-key-secret-default.toml tests/fixtures/policies/secret-default.toml)
valid_policies=() valid_keys=(tests/fixtures/*keys*.toml)
for f in tests/fixtures/policies/*.toml; do
  case " ${refused_by_design[*]} " in *" $f "*) ;; *) valid_policies+=("$f") ;; esac
done
lint() { # SCHEMA FILE...: taplo with that schema; prints its errors when it refuses
  local schema="$1"; shift
  "${taplo[@]}" --schema "file://$root/docs/$schema.schema.json" "$@" >"$out/taplo-one.log" 2>&1
}
if lint policy "${valid_policies[@]}" && lint keys-file "${valid_keys[@]}"; then
  echo "taplo: ${#valid_policies[@]} fixture policies and ${#valid_keys[@]} keys files valid"
else
  grep -E '^error|invalid file' "$out/taplo-one.log" | head -n 6; echo "FAIL: taplo refused a fixture"; failed=1
fi
for f in "${refused_by_design[@]}"; do
  if lint policy "$f"; then echo "FAIL: taplo accepted $f, which has a secret's default"; failed=1; fi
done

step "taplo: every broken policy and keys file is refused"
for kind in policy keys-file; do
  kinds="${kind/-/ }s"; [ "$kind" = policy ] && kinds=policies
  total="$(find "$out/$kind/mutants" -name '*.toml' | wc -l)"
  "${taplo[@]}" --schema "file://$root/docs/$kind.schema.json" "$out/$kind"/mutants/*.toml >"$out/taplo-$kind-mutants.log" 2>&1 || true
  refused="$(grep -c 'invalid file' "$out/taplo-$kind-mutants.log" || true)"
  echo "taplo refused $refused of $total broken $kinds"
  [ "$total" -gt 0 ] && [ "$refused" -eq "$total" ] || { echo "FAIL: taplo accepted a broken $kind"; failed=1; }
done

if [ "$failed" -eq 0 ]; then echo "schema: ok"; else echo "schema: FAILED"; exit 1; fi
