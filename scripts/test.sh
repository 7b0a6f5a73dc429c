#!/usr/bin/env bash
# Sets up everything (system packages, .venv) and runs the whole test suite, lint and the
# import-layering contract. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
export PYTHONFAULTHANDLER=1
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
