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
# Two workers, a test file each at a time: most tests wait on a broker, a hub or a browser, so
# two files in parallel halve the wall time on a two-core machine without starving either.
exec .venv/bin/pytest -n "${KHU_TEST_WORKERS:-2}" --dist loadfile "$@"
