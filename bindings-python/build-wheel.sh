#!/usr/bin/env bash
# Builds the admit wheel that installs without Rust: abi3 (one wheel for CPython 3.9 and
# later) and manylinux_2_17 (manylinux2014: any Linux with glibc 2.17 or later), for this
# machine's architecture, into bindings-python/dist/ (that wheel alone). Prints its path
# and tag on stdout, the build's progress on stderr.
#   bindings-python/build-wheel.sh
#
# maturin builds it with zig (the ziglang package from PyPI) as the C compiler and linker,
# aimed at glibc 2.17: aws-lc's C code and the Rust code then link only glibc 2.17
# symbols. (A plain build here links this machine's glibc 2.36 symbols, which maturin's
# manylinux_2_17 check refuses.) Two checks must pass: maturin's (`--auditwheel check`,
# the auditwheel rules; it fails rather than copy libraries in) and auditwheel's own
# `show`, run on the finished wheel.
#
# Needs a Rust toolchain and Python 3.9+ with venv. The tools, pinned in
# build-requirements.txt, go into a venv of their own, target/wheel-tools. Idempotent:
# nothing is rebuilt when the sources, Cargo.lock, the tools and rustc are those of the
# wheel in dist/ (a hash of them in dist/.build-stamp); after a change cargo rebuilds
# only what changed. PYTHON picks the interpreter for the tools' venv (default python3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"

if [ "$(uname -s)" != Linux ]; then
  echo "build-wheel.sh: manylinux wheels are built on Linux; elsewhere, pip install ./bindings-python" >&2
  exit 2
fi
policy="manylinux_2_17"
arch="$(uname -m)"
tools="$root/target/wheel-tools"
tpy="$tools/bin/python"
dist="$here/dist"
stamp="$dist/.build-stamp"

if [ ! -x "$tpy" ]; then
  echo "==> creating $tools" >&2
  "${PYTHON:-python3}" -m venv "$tools"
fi
if ! cmp -s build-requirements.txt "$tools/.admit-build-reqs"; then
  echo "==> installing the build tools (build-requirements.txt)" >&2
  "$tpy" -m pip install --quiet --disable-pip-version-check -r build-requirements.txt
  cp build-requirements.txt "$tools/.admit-build-reqs"
fi

# Everything the wheel is made of, hashed: a change in any of it rebuilds the wheel.
inputs_hash() {
  {
    rustc -vV
    cargo -V
    (
      cd "$root"
      {
        find bindings-python/src bindings-python/python core/src -type f ! -name '*.pyc' ! -name '*.so'
        printf '%s\n' Cargo.toml Cargo.lock core/Cargo.toml bindings-python/Cargo.toml \
          bindings-python/pyproject.toml bindings-python/README.md \
          bindings-python/build-requirements.txt bindings-python/build-wheel.sh
      } | LC_ALL=C sort | xargs -d '\n' sha256sum
    )
  } | sha256sum | cut -d' ' -f1
}

report() {
  local wheel="$1" name tag
  name="$(basename "$wheel")"
  tag="${name#admit-*-}"
  echo "wheel: $wheel"
  echo "tag:   ${tag%.whl}"
}

hash="$(inputs_hash)"
wheels=("$dist"/admit-*.whl)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ]; then
  echo "==> the wheel is up to date" >&2
  report "${wheels[0]}"
  exit 0
fi

zig="$("$tpy" -m ziglang version)"
pinned="$(sed -n 's/^ziglang==//p' build-requirements.txt)"
if [ "$zig" != "$pinned" ]; then
  echo "build-wheel.sh: zig $zig in $tools, build-requirements.txt pins $pinned" >&2
  exit 1
fi

echo "==> building the wheel: maturin --release --zig (zig $zig), $policy, abi3" >&2
start=$SECONDS
rm -rf "$dist"
mkdir -p "$dist"
# maturin finds zig as `python -m ziglang` with this interpreter, before any `zig` on PATH.
PATH="$tools/bin:$PATH" CARGO_ZIGBUILD_PYTHON_PATH="$tpy" \
  "$tools/bin/maturin" build --release --locked --zig --compatibility "$policy" \
  --auditwheel check -i "$tpy" -o "$dist" 1>&2
echo "==> built in $((SECONDS - start)) s" >&2

wheels=("$dist"/admit-*.whl)
if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
  echo "build-wheel.sh: expected one wheel in $dist, found: ${wheels[*]}" >&2
  exit 1
fi
wheel="${wheels[0]}"

# auditwheel's verdict: the oldest manylinux tag the wheel's symbols and libraries allow.
shown="$("$tools/bin/auditwheel" show "$wheel" | tr '\n' ' ')"
glibc="$(printf '%s' "$shown" | sed -n "s/.*consistent with the following platform tag: *\"manylinux_2_\([0-9]*\)_$arch\".*/\1/p")"
if [ -z "$glibc" ] || [ "$glibc" -gt 17 ]; then
  echo "build-wheel.sh: auditwheel does not find $wheel $policy-compatible:" >&2
  "$tools/bin/auditwheel" show "$wheel" >&2
  exit 1
fi

echo "$hash" > "$stamp"
report "$wheel"
