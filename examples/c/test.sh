#!/usr/bin/env bash
# Starts the FetchML service on 127.0.0.1 (a free port the server picks) and checks
# each role with curl, then runs differential.py: raw request targets, byte for byte,
# against a second instance that reports which handler ran (FETCHML_DEBUG_HEADERS=1).
# Then a revocation in the keys file, taken by the running service; and, given
# PATH/TO/jwks_fetch, the libcurl example fetching SkillMeat's CLERK_JWKS_URL.
# Usage: examples/c/test.sh PATH/TO/fetchml_server [PATH/TO/jwks_fetch]
# Prints one line per check and ends with "example: N passed, M failed".
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
server="${1:?usage: test.sh PATH/TO/fetchml_server}"
log="$(mktemp)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -f "$log"
}
trap cleanup EXIT

"$server" "$root/examples/policies/fetchml.toml" 0 >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")"
  [ -n "$port" ] && curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/status" && break
  kill -0 "$pid" 2>/dev/null || { echo "the server exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "the server did not start:"; cat "$log"; exit 1; }
base="http://127.0.0.1:$port"

passed=0 failed=0
# check NAME METHOD PATH KEY WANT_STATUS [TEXT_IN_BODY] [HEADER_IN_RESPONSE]
check() {
  local name="$1" method="$2" path="$3" key="$4" want="$5" text="${6:-}" header="${7:-}"
  local args=(-s --path-as-is -D - -X "$method" "$base$path")
  [ "$method" = HEAD ] && args=(-s --path-as-is -I "$base$path")   # -X HEAD would wait for a body
  [ -n "$key" ] && args+=(-H "X-API-Key: $key")
  local out status
  out="$(curl "${args[@]}")"
  status="$(printf '%s' "$out" | sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p')"
  if [ "$status" = "$want" ] && { [ -z "$text" ] || grep -qF -- "$text" <<<"$out"; } &&
     { [ -z "$header" ] || grep -qiF -- "$header" <<<"$out"; }; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name: want $want ${text:+with '$text'} ${header:+and '$header'}, got:"
    printf '%s\n' "$out" | sed 's/^/     /'
  fi
}

check "alice (admin) lists every job"          GET    /api/v1/jobs         demo-admin-key      200 '"owner": "carol"'
check "alice reads bob's job"                   GET    /api/v1/jobs/bob/7   demo-admin-key      200 '"eval-bert"'
check "alice cancels bob's job"                 DELETE /api/v1/jobs/bob/8   demo-admin-key      200 '"cancelled": 8'
check "alice queues a job"                      POST   /api/v1/jobs         demo-admin-key      201 '"owner": "alice"'
check "bob (researcher) lists only his jobs"    GET    /api/v1/jobs         demo-researcher-key 200 '"sweep-lr"'
check "bob's list has no one else's jobs"       GET    /api/v1/jobs         demo-researcher-key 200 '{"jobs": [{"owner": "bob", "id": 7, "name": "eval-bert"}, {"owner": "bob", "id": 8, "name": "sweep-lr"}]}'
check "bob reads his own job"                   GET    /api/v1/jobs/bob/7   demo-researcher-key 200 '"eval-bert"'
check "bob reading alice's job is 403"          GET    /api/v1/jobs/alice/1 demo-researcher-key 403 '"insufficient_scope"' 'WWW-Authenticate: ApiKey'
check "bob queues a job"                        POST   /api/v1/jobs         demo-researcher-key 201 '"owner": "bob"'
check "bob reaching alice's job by ../ is 400"  GET    /api/v1/jobs/bob/7/../../alice/1 demo-researcher-key 400 '"malformed_request"'
check "alice/1/../../bob/7 is 400, not alice's job" GET /api/v1/jobs/alice/1/../../bob/7 demo-researcher-key 400 '"malformed_request"'
check "a trailing / is 400"                     GET    /api/v1/jobs/bob/7/  demo-researcher-key 400 '"malformed_request"'
check "a job id with a tail is no such job"     GET    /api/v1/jobs/bob/7x  demo-researcher-key 404 '"no such job"'
check "bob's /api/v1/jobs/%62ob/7 is decoded once: his job" GET /api/v1/jobs/%62ob/7 demo-researcher-key 200 '"eval-bert"'
check "bob's /api/v1/jobs/%2562ob/7: owner %62ob, not bob" GET /api/v1/jobs/%2562ob/7 demo-researcher-key 403 '"insufficient_scope"'
check "the query is not the path"               GET    '/api/v1/jobs/bob/7?x=/../../alice/1' demo-researcher-key 200 '"eval-bert"'
check "an encoded ? is part of the segment"     GET    /api/v1/status%3Fx   demo-analyst-key    403 '"no_route"'
check "an encoded NUL is 400, not a shorter path" GET  '/api/v1/jobs/bob/7%00/../../alice/1' demo-researcher-key 400 '"malformed_request"'
check "an encoded \\ is 400"                     GET    '/api/v1/jobs/bob%5C7' demo-researcher-key 400 '"malformed_request"'
check "POST /api/v1/status is no_route"         POST   /api/v1/status       demo-admin-key      403 '"no_route"'
check "HEAD is GET's"                           HEAD   /api/v1/status       demo-analyst-key    200
check "carol (analyst) reads the status"        GET    /api/v1/status       demo-analyst-key    200 '"user": "carol"'
check "carol's job list is her own"             GET    /api/v1/jobs         demo-analyst-key    200 '{"jobs": [{"owner": "carol", "id": 9, "name": "report"}]}'
check "carol queueing a job is 403"             POST   /api/v1/jobs         demo-analyst-key    403 '"insufficient_scope"'
check "carol cancelling bob's job is 403"       DELETE /api/v1/jobs/bob/7   demo-analyst-key    403
check "dave's revoked key is 401"               GET    /api/v1/jobs         demo-revoked-key    401 '"revoked"' 'WWW-Authenticate: ApiKey'
check "erin's expired key is 401"               GET    /api/v1/status       demo-expired-key    401 '"expired"'
check "no key is 401 with a challenge"          GET    /api/v1/jobs         ""                  401 '"missing_credentials"' 'WWW-Authenticate: ApiKey realm="fetchml"'
check "a wrong key is 401"                      GET    /api/v1/status       not-a-key           401 '"invalid_credentials"'
check "an unknown route is 403 no_route"        GET    /api/v1/secrets      demo-admin-key      403 '"no_route"'

# The admin revokes a key in the keys file: the running service takes the new file
# (SIGHUP, or its once-a-second stat) and the next request follows it. A copy of the
# policy and its keys file, so the committed ones stay as they are.
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
keys_dir="$(mktemp -d)"
cp "$root/examples/policies/fetchml.toml" "$root/examples/policies/fetchml-keys.toml" "$keys_dir/"
"$server" "$keys_dir/fetchml.toml" 0 >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")"
  [ -n "$port" ] && curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/status" && break
  sleep 0.1
done
base="http://127.0.0.1:$port"
# wait_log TEXT: until the service's log has TEXT (at most 10 s); no time is asserted.
wait_log() { for _ in $(seq 1 100); do grep -qF -- "$1" "$log" && return 0; sleep 0.1; done; echo "     (log: $(tail -n 3 "$log"))"; return 1; }
check "before: bob's key lists his jobs"        GET    /api/v1/jobs         demo-researcher-key 200 '"sweep-lr"'
check "before: frank has no key"                GET    /api/v1/jobs         demo-frank-key      401 '"invalid_credentials"'
cp "$root/tests/fixtures/fetchml-keys-rotated.toml" "$keys_dir/fetchml-keys.toml.new"
mv "$keys_dir/fetchml-keys.toml.new" "$keys_dir/fetchml-keys.toml"   # as an editor or admit revoke would
kill -HUP "$pid"
wait_log "keys: fetchml-keys: "
check "after revoke: bob's key is 401 revoked, no restart" GET /api/v1/jobs   demo-researcher-key 401 '"revoked"'
check "after: frank's new key lists his jobs"   GET    /api/v1/jobs         demo-frank-key      200 '{"jobs": []}'
# A broken file (no SIGHUP: the stat notices it) is refused; the keys in force stay.
printf '[[keys]]\nid = "mallory"\nsha256 = "not-a-digest"\n' >"$keys_dir/fetchml-keys.toml"
wait_log "refused"
check "a refused keys file leaves frank's key"  GET    /api/v1/jobs         demo-frank-key      200
check "... and bob still revoked"               GET    /api/v1/jobs         demo-researcher-key 401 '"revoked"'
if grep -q "not-a-digest" "$log"; then
  failed=$((failed + 1)); echo "FAIL the service logged a value of the keys file"
else
  passed=$((passed + 1)); echo "ok   the refusal in the log quotes no value of the file"
fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
rm -rf "$keys_dir"

# Fetching a jwks_url from C (jwks_fetch.c, libcurl): SkillMeat's CLERK_JWKS_URL served
# on 127.0.0.1 (plain http to loopback, which the fetch rules allow) by python3.
jwks_fetch="${2:-}"
if [ -n "$jwks_fetch" ]; then
  jwks_dir="$(mktemp -d)"
  cp "$root/tests/fixtures/jwks.json" "$jwks_dir/jwks.json"
  python3 -m http.server 0 --bind 127.0.0.1 --directory "$jwks_dir" >"$jwks_dir/log" 2>&1 &
  http_pid=$!
  jport=""
  for _ in $(seq 1 100); do
    jport="$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$jwks_dir/log" | head -n 1)"
    [ -n "$jport" ] && break
    sleep 0.1
  done
  token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clerk_org_admin"])' "$root/tests/fixtures/tokens.json")"
  run_fetch() {
    SKILLMEAT_AUTH_ENABLED=true CLERK_ISSUER=https://test-instance.clerk.accounts.dev CLERK_AUDIENCE=skillmeat-api \
      CLERK_JWKS_URL="$1" "$jwks_fetch" "$root/examples/policies/skillmeat.toml" "$token" 1790000000 2>&1
  }
  out="$(run_fetch "http://127.0.0.1:$jport/jwks.json")"
  if grep -q "^clerk: 4 keys" <<<"$out" && grep -q "^decision: allow ok" <<<"$out"; then
    passed=$((passed + 1)); echo "ok   jwks_fetch: fetched CLERK_JWKS_URL with libcurl, set_jwks, the Clerk token passes"
  else
    failed=$((failed + 1)); echo "FAIL jwks_fetch:"; sed 's/^/     /' <<<"$out"
  fi
  out="$(run_fetch "http://127.0.0.1:$jport/missing.json")"
  if grep -q "HTTP 404" <<<"$out" && grep -q "^decision: deny unknown_key" <<<"$out"; then
    passed=$((passed + 1)); echo "ok   jwks_fetch: a 404 sets nothing, and the token is unknown_key"
  else
    failed=$((failed + 1)); echo "FAIL jwks_fetch on a 404:"; sed 's/^/     /' <<<"$out"
  fi
  kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null
  rm -rf "$jwks_dir"
fi

# The router and admit agree on every target of a generated family (differential.py).
if python3 "$here/differential.py" "$server" "$root/examples/policies/fetchml.toml"; then
  passed=$((passed + 1)); echo "ok   differential: the handler that ran is the one admit's rule and owner are for"
else
  failed=$((failed + 1)); echo "FAIL differential: a request ran a handler admit's rule or owner is not for (above)"
fi

echo "example: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
