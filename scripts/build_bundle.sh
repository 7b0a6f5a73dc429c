#!/usr/bin/env bash
# Builds the one-folder desktop bundle dist/stemweave/ with PyInstaller (build_installer.spec).
#
# It creates a fresh virtual environment (build/bundle-venv) holding only what the app needs:
# torch, the runtime dependencies from pyproject.toml, the "bundle" extra (PyInstaller) and the
# demucs library for HTDemucs models (without its own requirements) -- no
# training, test or development packages, and not resampy (only training's optional resampler
# uses it, and it drags in numba + llvmlite). Stemweave itself is not installed there: the spec
# reads the packages from this checkout.
#
# Environment variables:
#   STEMWEAVE_TORCH            torch version to bundle (default 2.13.0, the CPU build here)
#   STEMWEAVE_TORCH_INDEX_URL  pip index to take torch from, e.g. a CUDA build:
#                              https://download.pytorch.org/whl/cu128 (see docs/bundle.md)
#   STEMWEAVE_BUNDLE_VENV      where to create the build environment (default build/bundle-venv)
#   STEMWEAVE_BUNDLE_SETUP=0   skip scripts/setup.sh (the system packages: PortAudio, Qt's xcb libs)
#   PYTHON                     the interpreter to build with (default python3; 3.11 or newer)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)

if [ "${STEMWEAVE_BUNDLE_SETUP:-1}" != 0 ]; then
  bash scripts/setup.sh   # system packages (PortAudio to ship, Qt's xcb libraries); idempotent
fi

PY=${PYTHON:-python3}
BVENV=${STEMWEAVE_BUNDLE_VENV:-build/bundle-venv}
TORCH_VERSION=${STEMWEAVE_TORCH:-2.13.0}
TORCH_INDEX=${STEMWEAVE_TORCH_INDEX_URL:-}

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bundle: needs Python 3.11 or newer (set PYTHON=python3.11 or newer)" >&2
  exit 1
fi

echo "bundle: creating a clean build environment in $BVENV"
rm -rf "$BVENV"
"$PY" -m venv "$BVENV"
VPY=$BVENV/bin/python
"$VPY" -m pip install -q --upgrade pip

# torch first and pinned, so nothing else can resolve it to another (multi-GB) build.
if [ -n "$TORCH_INDEX" ]; then
  echo "bundle: torch==$TORCH_VERSION from $TORCH_INDEX"
  "$VPY" -m pip install -q "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX"
else
  "$VPY" -m pip install -q "torch==$TORCH_VERSION"
fi

# The app's runtime dependencies and the bundle extra, read from pyproject.toml.
mapfile -t DEPS < <("$VPY" - <<'EOF'
import re
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
skip = {"torch", "resampy"}  # torch: installed above; resampy: training only (numba, llvmlite)
for req in project["dependencies"] + project["optional-dependencies"]["bundle"]:
    name = re.split(r"[\s<>=!~\[;]", req, maxsplit=1)[0].lower()
    if name not in skip:
        print(req)
EOF
)
echo "bundle: installing ${DEPS[*]}"
"$VPY" -m pip install -q "torch==$TORCH_VERSION" "${DEPS[@]}"

# HTDemucs models: the demucs extra's library without its own requirements (its MP3 writer,
# audio reader and model downloader are never used), plus the two packages demucs.htdemucs and
# demucs.apply import. The spec collects only those modules (about 174 KiB; docs/bundle.md).
mapfile -t DEMUCS < <("$VPY" - <<'EOF'
import tomllib

with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["demucs"]))
EOF
)
echo "bundle: installing ${DEMUCS[*]} einops julius (HTDemucs models, not demucs' own requirements)"
"$VPY" -m pip install -q --no-deps "${DEMUCS[@]}" "einops>=0.8" "julius>=0.2.7"
t1=$(date +%s)

"$BVENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller build_installer.spec
t2=$(date +%s)

echo "bundle: dist/stemweave built (environment $((t1 - t0)) s, PyInstaller $((t2 - t1)) s)"
du -sh dist/stemweave
