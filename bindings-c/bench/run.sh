#!/usr/bin/env bash
# Times the C interface against the native decision, in one run (a ratio on a noisy
# machine means more than an absolute figure). Not a test.
#   bindings-c/bench/run.sh            print the figures
#   bindings-c/bench/run.sh --write    also rewrite the "C binding" section of docs/benchmarks.md
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
policy="$root/examples/policies/fetchml.toml"
n="${ITERATIONS:-200000}"
out="$root/target/c-bench"
mkdir -p "$out"

# The native figure: the request bench_admit.c makes, timed by the benches' native_decide.
cargo build -p admit-c --release --locked >&2
cargo build -p admit-benches --release --locked --example native_decide >&2
native_args=(--case native --policy "$policy" --method GET --path /api/v1/jobs --peer 127.0.0.1
  --header "Host: 127.0.0.1:8080" --header "User-Agent: curl/8.0" --header "Accept: */*"
  --header "X-API-Key: demo-researcher-key" --iterations "$n")
make -s -C "$root/bindings-c" soname >&2   # the -ladmit program looks for libadmit.so.0
${CC:-gcc} -std=c11 -O2 -Wall -Wextra -Werror -I"$root/bindings-c/include" "$here/bench_admit.c" \
  -o "$out/bench_shared" -L"$root/target/release" -ladmit -Wl,-rpath,"$root/target/release"
${CC:-gcc} -std=c11 -O2 -Wall -Wextra -Werror -I"$root/bindings-c/include" "$here/bench_admit.c" \
  -o "$out/bench_static" "$root/target/release/libadmit.a" -lpthread -ldl -lm -lgcc_s

best() { sort -n | head -1; }
native=() shared=() shared_json=() static=() static_json=()
for _ in 1 2 3; do   # interleaved, so a noisy neighbour hits every side alike
  native+=("$(printf '%.0f' "$("$root/target/release/examples/native_decide" "${native_args[@]}" | sed -n 's/.*"native": \([0-9.]*\).*/\1/p')")")
  s="$("$out/bench_shared" "$policy" "$n")"
  shared+=("$(sed -n 's/^C admit_decide: \([0-9]*\) ns.*/\1/p' <<<"$s")")
  shared_json+=("$(sed -n 's/^C admit_decide_json: \([0-9]*\) ns.*/\1/p' <<<"$s")")
  s="$("$out/bench_static" "$policy" "$n")"
  static+=("$(sed -n 's/^C admit_decide: \([0-9]*\) ns.*/\1/p' <<<"$s")")
  static_json+=("$(sed -n 's/^C admit_decide_json: \([0-9]*\) ns.*/\1/p' <<<"$s")")
done
nat="$(printf '%s\n' "${native[@]}" | best)"
sh="$(printf '%s\n' "${shared[@]}" | best)"; shj="$(printf '%s\n' "${shared_json[@]}" | best)"
st="$(printf '%s\n' "${static[@]}" | best)"; stj="$(printf '%s\n' "${static_json[@]}" | best)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"

section="$(cat <<MD
## C binding

FetchML policy, \`GET /api/v1/jobs\` with bob's API key and three other headers (route
match, SHA-256 of the key, lookup, scope and owner check): the same request timed natively
(\`Engine::decide\`, \`benches/examples/native_decide.rs\`) and through the C interface
(\`bindings-c/bench/bench_admit.c\`: the call, reading \`allow\`, and freeing the
decision or string). Best of 3 interleaved runs of 5 rounds x $n decisions.

| call | ns/decision | vs native | added by the FFI |
|---|---:|---:|---:|
| native \`Engine::decide\` | $nat | 1.00 | |
| \`admit_decide\` (libadmit.so) | $sh | $(ratio "$sh" "$nat") | $((sh - nat)) ns |
| \`admit_decide\` (libadmit.a) | $st | $(ratio "$st" "$nat") | $((st - nat)) ns |
| \`admit_decide_json\` (libadmit.so) | $shj | $(ratio "$shj" "$nat") | $((shj - nat)) ns |
| \`admit_decide_json\` (libadmit.a) | $stj | $(ratio "$stj" "$nat") | $((stj - nat)) ns |

Target (DESIGN.md): the FFI adds under 100 ns to a decision (\`admit_decide\`). The JSON
path pays for parsing the request and serialising the decision.

Machine: $(nproc) cores, $cpu; $(date -u +%Y-%m-%d). Rerun: \`bindings-c/bench/run.sh --write\`.
MD
)"
printf '%s\n' "$section"

if [ "${1:-}" = "--write" ]; then
  doc="$root/docs/benchmarks.md"
  [ -f "$doc" ] || printf '# Benchmarks\n\nFigures from the timing programs; ratios are taken in one run.\n' >"$doc"
  SECTION="$section" python3 - "$doc" <<'PY'
import os, re, sys
path = sys.argv[1]
text = open(path).read()
section = os.environ["SECTION"].rstrip() + "\n"
pattern = re.compile(r"^## C binding\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda m: section + ("\n" if m.end() < len(text) else ""), text, count=1)
else:
    text = text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
  echo "wrote the C binding section of docs/benchmarks.md" >&2
fi
