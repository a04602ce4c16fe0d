#!/usr/bin/env bash
# The whole test suite: installs what it needs, lints, type-checks, then runs pytest.
# The tests start their own servers (Mosquitto, VictoriaMetrics, PostgreSQL, the hub) on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev mosquitto mosquitto-clients victoria-metrics postgresql chromium openssl nodejs
# Medplum's FHIR router for the push tests (tests/support/fhir_server), at the locked versions;
# Debian's nodejs comes without npm (NodeSource's has it built in).
command -v npm >/dev/null || bash scripts/setup.sh dev npm
fhir_server=tests/support/fhir_server
lock_sum="$(sha256sum "$fhir_server/package-lock.json" | cut -c1-16)"
if [ "$(cat "$fhir_server/node_modules/.hjem-lock" 2>/dev/null)" != "$lock_sum" ]; then
  (cd "$fhir_server" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$fhir_server/node_modules/.hjem-lock"
fi
export PATH="$PWD/.venv/bin:$PATH"
# one command a line: under set -e a failure inside an && list does not stop the script
echo "== ruff"; ruff check .
ruff format --check .
echo "== mypy"; mypy
echo "== pytest"; pytest "$@"
