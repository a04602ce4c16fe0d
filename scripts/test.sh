#!/usr/bin/env bash
# The whole test suite: installs what it needs, lints, type-checks, then runs pytest.
# The tests start their own servers (Mosquitto, VictoriaMetrics, PostgreSQL, the hub) on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev mosquitto mosquitto-clients victoria-metrics postgresql chromium openssl
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== pytest"; pytest "$@"
