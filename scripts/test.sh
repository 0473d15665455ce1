#!/usr/bin/env bash
# Sets everything up, then runs the linters, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export KHU_SETUP_BROWSER=1  # setup.sh installs chromium for tests/test_web_app.py
bash scripts/setup.sh
export PATH="$PATH:/usr/sbin"
echo ">> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo ">> mypy"
.venv/bin/mypy
echo ">> pytest"
exec .venv/bin/pytest "$@"
