#!/usr/bin/env bash
# The gateway benchmarks (docs/benchmarks.md, "Gateway: admit serve behind nginx").
# wrk at a fixed concurrency over loopback, release builds, several rounds alternating
# the setups so that a drift of the shared machine hits each alike:
#   (a) nginx -> auth_request -> admit serve (/auth/nginx) -> upstream
#       (examples/gateway/nginx.conf as committed; FetchML's policy, bob's key: an
#       allow with a principal and an owner constraint)
#   (b) the same config with the auth subrequest sent to a static 200 location in
#       the same nginx instead of admit: the floor of the hop
#   (c) nginx with no auth -> upstream
# and POST /v1/decide on admit serve against the same decision through the Python
# binding behind uvicorn (decide_asgi.py; the wheel of bindings-python/test.sh).
# The upstream is a static location of another nginx (static.conf), the same for
# every setup; each gateway nginx has one worker (the example config's).
#   benches/gateway/bench.sh                 5 rounds of 5 s at 32 connections
#   ROUNDS=3 DURATION=3 CONNECTIONS=16 THREADS=2 benches/gateway/bench.sh
# Prints one line per run and a Markdown table of the medians. For /v1/decide it also
# counts the server process's CPU seconds (/proc/PID/stat), so decisions per CPU second
# compare the two servers even when wrk and other load share the cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"

"$root/scripts/install-gateways"
echo "==> cargo build --release -p admit-cli" >&2
(cd "$root" && cargo build --release --locked -p admit-cli >&2)
admit="$root/target/release/admit"
echo "==> the Python binding's wheel and uvicorn (bindings-python/test.sh --setup-only)" >&2
"$root/bindings-python/test.sh" --setup-only >&2
py="$root/bindings-python/.venv/bin/python"

run="$(mktemp -d /tmp/admit-gateway-bench.XXXXXX)"
chmod 755 "$run"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2; exit 1
}
render() {  # render TEMPLATE OUT NAME=VALUE...
  local template="$1" out="$2"; shift 2
  local text; text="$(cat "$template")"
  for kv in "$@"; do text="${text//\{\{${kv%%=*}\}\}/${kv#*=}}"; done
  if grep -q '{{[A-Z_]*}}' <<<"$text"; then echo "$template: placeholders left" >&2; exit 1; fi
  printf '%s\n' "$text" > "$out"
}

static="127.0.0.1:$(port)"; noauth="127.0.0.1:$(port)"
render "$here/static.conf" "$run/static.conf" STATIC="$static" NOAUTH="$noauth" RUNDIR="$run"
nginx -p "$run" -c "$run/static.conf" -e "$run/static-error.log" -g 'daemon off;' & pids+=($!)
wait_port "${static#*:}"

"$admit" serve --policy "$root/examples/policies/fetchml.toml" --listen 127.0.0.1:0 \
  --trusted-proxy 127.0.0.1/32 2>"$run/admit.log" & pids+=($!)
admit_pid=$!
admit_addr=""
for _ in $(seq 1 200); do
  admit_addr="$(sed -n 's#^admit serve: listening on http://\(127\.0\.0\.1:[0-9]*\).*#\1#p' "$run/admit.log" | head -1)"
  [ -n "$admit_addr" ] && break
  sleep 0.05
done
[ -n "$admit_addr" ] || { echo "admit serve did not start:"; cat "$run/admit.log"; exit 1; } >&2

# Not called in $(...): its nginx must be started by this shell, so that cleanup knows its pid.
gateway() {  # gateway NAME PORT AUTH_ADDR [static]
  local name="$1" p="$2" auth="$3"
  mkdir -p "$run/$name"; chmod 755 "$run/$name"
  render "$root/examples/gateway/nginx.conf" "$run/$name/nginx.conf" LISTEN="127.0.0.1:$p" ADMIT="$auth" \
    UPSTREAM="$static" RUNDIR="$run/$name"
  if [ "${4:-}" = static ]; then
    # (b): the auth subrequest's answer is a static 200 location of this same nginx
    # (a server block added inside `http`), so the floor pays the hop's proxying and
    # nothing else.
    sed -i '$d' "$run/$name/nginx.conf"
    printf '    server {\n        listen %s;\n        location / { return 200; }\n    }\n}\n' "$auth" >> "$run/$name/nginx.conf"
  fi
  # The benchmark measures the hop, not the access log's disk writes (off for all three).
  sed -i 's#^\(\s*\)access_log .*#\1access_log off;#' "$run/$name/nginx.conf"
  nginx -p "$run/$name" -c "$run/$name/nginx.conf" -e "$run/$name/error.log" -g 'daemon off;' >/dev/null 2>&1 &
  pids+=($!)
}
static_auth="127.0.0.1:$(port)"; port_a="$(port)"; port_b="$(port)"
gateway a "$port_a" "$admit_addr"
gateway b "$port_b" "$static_auth" static
wait_port "$port_a"; wait_port "$port_b"

py_port="$(port)"
(cd "$here" && ADMIT_POLICY="$root/examples/policies/fetchml.toml" exec "$py" -m uvicorn decide_asgi:app \
  --host 127.0.0.1 --port "$py_port" --log-level warning --no-access-log) & pids+=($!)
py_pid=$!
wait_port "$py_port"

target="/api/v1/jobs/bob/7"
key="X-API-Key: demo-researcher-key"
export DECIDE_BODY="{\"method\":\"GET\",\"path\":\"$target\",\"headers\":[[\"X-API-Key\",\"demo-researcher-key\"]],\"now\":1790000000}"

# Each setup answers as expected before anything is timed.
for p in "$port_a" "$port_b" "${noauth#*:}"; do
  code="$(curl -s -o /dev/null -w '%{http_code}' -H "$key" "http://127.0.0.1:$p$target")"
  [ "$code" = 200 ] || { echo "setup on port $p answered $code" >&2; exit 1; }
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port_a}$target")" = 401 ] ||
  { echo "(a) let a request without a key through: admit is not in the path" >&2; exit 1; }
for url in "http://$admit_addr/v1/decide" "http://127.0.0.1:$py_port/v1/decide"; do
  curl -s -X POST -H 'Content-Type: application/json' -d "$DECIDE_BODY" "$url" | grep -q '"allow":true' ||
    { echo "$url did not allow the benchmark's request" >&2; exit 1; }
done

results="$run/results.txt"; : > "$results"
# CPU seconds (user + system, all threads) a process has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }
bench() {  # bench LABEL URL SERVER_PID|- [wrk args...]
  local label="$1" url="$2" server="$3"; shift 3
  local before=0 after=0
  [ "$server" = - ] || before="$(cpu_seconds "$server")"
  local out; out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url")"
  [ "$server" = - ] || after="$(cpu_seconds "$server")"
  if grep -q -E 'Non-2xx|Socket errors' <<<"$out"; then echo "$label: failed requests:"; echo "$out"; exit 1; fi >&2
  # p50, p99, requests/s, total requests, and the server's CPU seconds for them
  local line; line="$label $(awk '/^ +50%/{p50=$2} /^ +99%/{p99=$2} /^Requests\/sec/{rps=$2} / requests in /{n=$1} END{print p50, p99, rps, n}' <<<"$out") $(awk -v a="$after" -v b="$before" 'BEGIN{printf "%.3f", a - b}')"
  echo "$line" | tee -a "$results" >&2
}

echo "==> warm-up" >&2
for p in "$port_a" "$port_b" "${noauth#*:}"; do wrk -t1 -c4 -d1s -H "$key" "http://127.0.0.1:$p$target" >/dev/null; done
for round in $(seq 1 "$ROUNDS"); do
  echo "==> round $round of $ROUNDS (wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s)" >&2
  bench "a:$round" "http://127.0.0.1:$port_a$target" - -H "$key"
  bench "b:$round" "http://127.0.0.1:$port_b$target" - -H "$key"
  bench "c:$round" "http://$noauth$target" - -H "$key"
  bench "decide:$round" "http://$admit_addr/v1/decide" "$admit_pid" -s "$here/post.lua"
  bench "python:$round" "http://127.0.0.1:$py_port/v1/decide" "$py_pid" -s "$here/post.lua"
done

python3 "$here/table.py" "$results" "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, $ROUNDS rounds"
