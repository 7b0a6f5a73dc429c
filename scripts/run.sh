#!/usr/bin/env bash
# Sets up everything (system packages, .venv) and launches the Stemweave app with the built-in
# model. Arguments go to `stemweave` (e.g. a song to open).
set -euo pipefail
cd "$(dirname "$0")/.."
STEMWEAVE_EXTRAS=${STEMWEAVE_EXTRAS:-dev} bash scripts/setup.sh
exec .venv/bin/stemweave "$@"
