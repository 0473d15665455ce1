#!/usr/bin/env bash
# Sets everything up, then runs the benchmarks against a real Mosquitto, khu serve and simulated
# devices on loopback: all of them, or those named (latency fanout ingest schedule scale api protocols).
# Prints a table and writes bench/results.json. About 10 minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PATH:/usr/sbin"
exec .venv/bin/python -m bench "$@"
