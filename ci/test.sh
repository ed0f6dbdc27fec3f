#!/usr/bin/env bash
# Set up the course (idempotent) and run the whole test suite. CI runs this via .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
bash ci/browser-deps.sh                 # Debian Chromium for tests/test_lab_browser.py (apt as root)
bash ci/hub-deps.sh                     # configurable-http-proxy (npm, pinned) for tests/test_classroom_hub.py
export PATH="$PWD/.venv/bin:$PATH"      # nbgrader shells out to alembic
export COURSE_OFFLINE="${COURSE_OFFLINE:-1}"
export MPLBACKEND=Agg TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest -q -rs --durations=15 "$@"
