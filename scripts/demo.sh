#!/usr/bin/env bash
# The main job: broker, hub, dashboard and an edge agent on the virtual radio, on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev mosquitto mosquitto-clients
exec .venv/bin/hjem demo "$@"
