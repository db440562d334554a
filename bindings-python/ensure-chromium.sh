#!/usr/bin/env bash
# Installs Debian's chromium when it is missing (the Swagger UI browser test drives it
# headless). Idempotent; does nothing when chromium is on PATH.
set -euo pipefail
if ! command -v chromium >/dev/null; then
  echo "==> apt-get install chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y --no-install-recommends chromium >&2 ||
    { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends chromium >&2; }
fi
