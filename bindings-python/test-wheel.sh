#!/usr/bin/env bash
# The wheel as a user gets it: builds the manylinux abi3 wheel (build-wheel.sh; fast when
# built), checks its tag, installs it with the pinned test tools (test-requirements.txt)
# into a fresh venv in a temporary folder, and runs the Python tests against it with a
# PATH of that venv's bin, /usr/bin and /bin only. It fails when cargo, rustc or maturin
# can still be found there: then the run would not show that the package needs no Rust.
# pip takes wheels only (--only-binary :all:), so nothing is compiled at install time.
#   bindings-python/test-wheel.sh              every test
#   bindings-python/test-wheel.sh -k vectors   extra arguments go to pytest
# PYTHON picks the interpreter for the venv (default python3, 3.9 or later).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

"$here/build-wheel.sh" >&2
wheels=("$here"/dist/admit-*.whl)
if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
  echo "test-wheel.sh: expected one wheel in $here/dist, found: ${wheels[*]}" >&2
  exit 1
fi
wheel="${wheels[0]}"

# The tag: CPython 3.9's stable ABI, and manylinux (never the plain linux_<arch>).
name="$(basename "$wheel" .whl)"
tag="${name#admit-*-}"
case "$tag" in
  cp39-abi3-*) ;;
  *) echo "test-wheel.sh: $name is not a cp39-abi3 wheel" >&2; exit 1 ;;
esac
platforms="${tag#cp39-abi3-}"
for p in ${platforms//./ }; do
  case "$p" in
    manylinux*) ;;
    *) echo "test-wheel.sh: $name has the platform tag $p, not manylinux" >&2; exit 1 ;;
  esac
done
echo "==> $name: cp39-abi3, $platforms"

python="$(command -v "${PYTHON:-python3}")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
venv="$tmp/venv"
echo "==> a fresh venv: $venv"
"$python" -m venv "$venv"

export PATH="$venv/bin:/usr/bin:/bin"
hash -r
found=()
for tool in cargo rustc maturin; do
  if command -v "$tool" >/dev/null; then
    found+=("$tool at $(command -v "$tool")")
  fi
done
if [ ${#found[@]} -gt 0 ]; then
  echo "test-wheel.sh: FAILED: the PATH for the test ($PATH) has ${found[*]}" >&2
  exit 1
fi
echo "==> PATH=$PATH: no cargo, no rustc, no maturin"

echo "==> pip install the wheel and test-requirements.txt (wheels only)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary :all: \
  "$wheel" -r "$here/test-requirements.txt"

# The admit that the tests import is the installed wheel, not the source tree: they run
# from the temporary folder (pytest still reads bindings-python/pyproject.toml).
cd "$tmp"
where="$("$venv/bin/python" -c 'import admit._admit as m; print(m.__file__)')"
case "$where" in
  "$venv"/*) echo "==> admit from $where" ;;
  *) echo "test-wheel.sh: admit was imported from $where, not from the venv" >&2; exit 1 ;;
esac

"$here/ensure-chromium.sh"
echo "==> pytest"
set +e
"$venv/bin/python" -m pytest -p no:cacheprovider "$here/tests" "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$code"
