#!/usr/bin/env bash
# Idempotent bootstrap for a fresh Debian / Raspberry Pi OS machine with Python >= 3.11:
# Debian packages (broker, time-series server, browser), a virtual environment in .venv
# and the hjem package with the extras asked for (default: dev, i.e. everything).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
shift || true
debs=("$@")                       # Debian packages wanted by the caller

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root (or sudo) to run: $*"; return 1; fi
}

missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  # Debian enables the packaged servers as system services; Hjem runs its own instances.
  for svc in mosquitto victoria-metrics postgresql; do
    if [[ " ${missing[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null \
       && [ -d /run/systemd/system ]; then
      as_root systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  done
fi

py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  log "Python >= 3.11 is required ($py is $("$py" -V 2>&1))"; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$py" -m venv .venv 2>/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$py" -m venv .venv
  fi
fi
stamp=".venv/.hjem-installed-$extras"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing hjem[$extras] into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  echo "$want" > "$stamp"
fi
