#!/usr/bin/env bash
# The C binding's tests, from a fresh machine: installs what it needs (idempotent, quick
# when done), builds libadmit, checks the committed header against cbindgen and the
# library's SONAME, compiles the C tests with -Wall -Wextra -Werror and runs them plainly,
# under valgrind and under AddressSanitizer, measures the stack each entry point needs,
# then builds the example service and tests it with curl and with raw request targets
# (examples/c/test.sh).
#
#   bindings-c/test.sh            everything; the last line is "c: N passed, M failed"
#   bindings-c/test.sh --regen    rewrite include/admit.h with the pinned cbindgen
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
CBINDGEN_VERSION=0.29.2
CC="${CC:-gcc}"
step() { printf '\n==> c: %s\n' "$*"; }

# --- what the tests need --------------------------------------------------------------
need_pkgs=()
for p in gcc binutils pkg-config valgrind curl python3 openssl libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y --no-install-recommends "${need_pkgs[@]}" ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${need_pkgs[@]}"; }
fi
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  step "cargo install cbindgen $CBINDGEN_VERSION"
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
fi

gen_header() { cbindgen --quiet --config "$here/cbindgen.toml" --crate admit-c --output "$1" "$here"; }
if [ "${1:-}" = "--regen" ]; then
  gen_header "$here/include/admit.h"
  echo "wrote bindings-c/include/admit.h"
  exit 0
fi

passed=0 failed=0
pass() { passed=$((passed + $1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# The C test prints "N passed, M failed" last; adds them up.
count() {
  local line
  line="$(tail -n 1 "$1")"
  if [[ "$line" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
  else
    fail "$2 did not finish: $line"
  fi
}

out="$root/target/c-tests"
mkdir -p "$out"
lib="$root/target/release"

step "cargo build -p admit-c --release"
cargo build -p admit-c --release --locked
make -s -C "$here" pc soname

step "libadmit.so's SONAME is libadmit.so.0; make install puts the links beside it"
soname="$(readelf -d "$lib/libadmit.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
rm -rf "$out/install"
make -s -C "$here" install DESTDIR="$out/install" PREFIX=/usr >/dev/null
inst="$out/install/usr/lib"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
if [ "$soname" = "libadmit.so.0" ] && [ "$(readlink "$inst/libadmit.so.0")" = "libadmit.so.$version" ] &&
   [ "$(readlink "$inst/libadmit.so")" = "libadmit.so.0" ] && [ -f "$inst/libadmit.so.$version" ]; then
  pass 1; echo "ok ($soname)"
else
  fail "SONAME '$soname', or the installed links:"; ls -l "$inst"
fi

step "include/admit.h is what cbindgen $CBINDGEN_VERSION generates"
gen_header "$out/admit.h"
if diff -u "$here/include/admit.h" "$out/admit.h"; then pass 1; else fail "include/admit.h is stale: run bindings-c/test.sh --regen"; fi

cflags=(-std=c11 -Wall -Wextra -Werror -g -I"$here/include" $(pkg-config --cflags jansson))
libs_json=($(pkg-config --libs jansson) -lpthread)

step "C tests (shared library)"
$CC "${cflags[@]}" -O1 "$here/tests/test_admit.c" -o "$out/test_admit" \
  $(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --libs admit) -Wl,-rpath,"$lib" "${libs_json[@]}"
if readelf -d "$out/test_admit" | grep -q 'NEEDED.*\[libadmit\.so\.0\]'; then pass 1; else fail "test_admit does not need libadmit.so.0"; fi
"$out/test_admit" "$root" 500 | tee "$out/plain.log" || true
count "$out/plain.log" "the C tests"

step "the stack each entry point needs (bindings-c/README.md, \"Stack\")"
if "$out/test_admit" "$root" --stack | tee "$out/stack.log"; then pass 1; else fail "an entry point needs more than 64 KB of stack"; fi

step "C tests under valgrind"
if valgrind --leak-check=full --errors-for-leak-kinds=definite,possible --error-exitcode=99 -q \
     "$out/test_admit" "$root" 30 >"$out/valgrind.log" 2>&1; then
  pass 1; tail -n 1 "$out/valgrind.log"
else
  fail "valgrind reported errors or leaks:"; tail -n 40 "$out/valgrind.log"
fi

step "C tests under AddressSanitizer (static library)"
$CC "${cflags[@]}" -O1 -fsanitize=address -fno-omit-frame-pointer "$here/tests/test_admit.c" -o "$out/test_admit_asan" \
  "$lib/libadmit.a" $(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --libs-only-other --static admit) \
  "${libs_json[@]}" -ldl -lm -lrt -lutil -lgcc_s
if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 "$out/test_admit_asan" "$root" 200 >"$out/asan.log" 2>&1; then
  pass 1; tail -n 1 "$out/asan.log"
else
  fail "AddressSanitizer reported errors:"; tail -n 40 "$out/asan.log"
fi

step "the README's example"
awk '/^```c$/{f=1;next} /^```$/{f=0} f' "$here/README.md" >"$out/readme_example.c"
lines="$(wc -l <"$out/readme_example.c")"
if [ "$lines" -ge 40 ]; then fail "the README's example has $lines lines (40 or more)"; fi
$CC "${cflags[@]}" "$out/readme_example.c" -o "$out/readme_example" \
  $(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --cflags --libs admit) -Wl,-rpath,"$lib"
if [ "$("$out/readme_example")" = "allow ci" ]; then pass 1; echo "ok ($lines lines)"; else fail "the README's example"; fi

step "examples/c: the FetchML service, tested with curl and with raw request targets; keys revoked at run time; jwks_fetch"
PKG_CONFIG_PATH="$lib/pkgconfig" make -s -C "$root/examples/c" CC="$CC" OUT="$out/fetchml_server" JWKS_OUT="$out/jwks_fetch"
"$root/examples/c/test.sh" "$out/fetchml_server" "$out/jwks_fetch" | tee "$out/example.log" || true
line="$(tail -n 1 "$out/example.log")"
if [[ "$line" =~ ^example:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
else
  fail "the example tests did not finish"
fi

step "examples/c: the differential test catches a host that passes the decoded url as a raw target"
# The example with its one flag removed: libmicrohttpd's decoded url is then decoded again
# by admit (/api/v1/jobs/%2562ob/7: the handler's owner %62ob, admit's bob).
sed 's/admit_now(), ADMIT_REQUEST_PATH_DECODED};/admit_now(), 0};/' "$root/examples/c/fetchml_server.c" \
  >"$out/fetchml_decoded_twice.c"
if grep -q 'admit_now(), 0};' "$out/fetchml_decoded_twice.c" &&
   $CC -std=c11 -O2 -Wall -Wextra -Werror $(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --cflags admit libmicrohttpd) \
     "$out/fetchml_decoded_twice.c" -o "$out/fetchml_decoded_twice" \
     $(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --libs admit libmicrohttpd) -Wl,-rpath,"$lib" &&
   python3 "$root/examples/c/differential.py" --expect-owner-mismatch "$out/fetchml_decoded_twice"; then
  pass 1
else
  fail "differential.py did not find the mismatch of a url decoded twice"
fi

echo
echo "c: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
