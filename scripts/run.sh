#!/usr/bin/env bash
# Sets everything up, then runs the broker, the hub and a simulated area until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PATH:/usr/sbin"
exec .venv/bin/khu up "$@"
