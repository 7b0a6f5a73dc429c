#!/usr/bin/env bash
# The whole GPU check in one command (about 8 minutes at most on one H100 with 16 cores):
#
#     OUT=/path/to/results bash bench/gpu_check.sh [--quick]
#
# Writes $OUT/results.json (every figure, per step, with pass/fail) and $OUT/gpu_check.log (all
# output). Steps, each under its own time limit so that one hang cannot eat the others' time:
#   env       torch / CUDA / GPU versions
#   fixtures  the authors' tiny checkpoints: CUDA output == CPU output (and the golden output)
#   full      full-size model: CUDA fp32 vs CPU fp32, bf16 and fp16 vs fp32, what auto picks
#   rtf       3-min stereo song, full and built-in model, fp32 and auto: RTF, peak GPU memory
#   train     training throughput (samples/s) of the full configuration with AMP
#   torchrun  one training step of the full configuration under torchrun, one GPU
# Without a GPU the CUDA parts are recorded as skipped and the rest still runs (--quick makes
# the inputs short, to try the script's logic on a laptop).
#
# Python: $PYTHON if set; else .venv/bin/python if its torch sees CUDA; else a python3 whose
# torch sees CUDA (GPU images ship one); else, on a machine with nvidia-smi, scripts/setup.sh
# builds .venv and a CUDA build of torch is installed into it from download.pytorch.org
# ($TORCH_INDEX, default cu126); without a GPU, .venv/bin/python or python3 as they are. Packages
# the chosen python lacks (soundfile, soxr, platformdirs, ...) are installed into a private
# folder from the wheels in $WHEELS (default .whl/) when that folder exists, else from PyPI.
# For a machine without internet, fetch them beforehand on one with it:
#     python3 -m pip download --only-binary=:all: --python-version 3.12 --platform \
#         manylinux2014_x86_64 -d .whl soundfile soxr platformdirs cffi pycparser resampy
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=""
[ "${1:-}" = "--quick" ] && QUICK=--quick
export OUT=${OUT:-$ROOT/gpu-check}
mkdir -p "$OUT"
LOG=$OUT/gpu_check.log
: >"$LOG"
START=$(date +%s)
say() { echo "[gpu_check +$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }

has_cuda() { "$1" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
  >/dev/null 2>&1; }

if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x .venv/bin/python ] && has_cuda .venv/bin/python; then
  PY=.venv/bin/python
elif command -v python3 >/dev/null && has_cuda python3; then
  PY=python3
elif ! command -v nvidia-smi >/dev/null; then  # no GPU here: a dry run with what there is
  PY=python3
  [ -x .venv/bin/python ] && PY=.venv/bin/python
else
  say "no python with a CUDA torch: scripts/setup.sh, then a CUDA torch"
  bash scripts/setup.sh >>"$LOG" 2>&1 || say "setup.sh failed (see the log)"
  PY=.venv/bin/python
  if [ -x "$PY" ] && ! has_cuda "$PY"; then
    "$PY" -m pip install -q --force-reinstall --no-deps torch \
      --index-url "${TORCH_INDEX:-https://download.pytorch.org/whl/cu126}" >>"$LOG" 2>&1 ||
      say "could not install a CUDA torch"
  fi
  [ -x "$PY" ] || PY=python3
fi
say "python: $PY ($("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.cuda.is_available())' 2>&1))"

# Packages the separation and training code needs that a bare GPU image may lack.
NEED=(soundfile soxr platformdirs safetensors tqdm scipy)
missing=()
for m in "${NEED[@]}"; do "$PY" -c "import $m" 2>/dev/null || missing+=("$m"); done
if ((${#missing[@]})); then
  SITE=/tmp/stemweave-gpu-site
  WHEELS=${WHEELS:-$ROOT/.whl}
  say "installing ${missing[*]} into $SITE"
  if [ -d "$WHEELS" ]; then
    "$PY" -m pip install -q --no-index --find-links "$WHEELS" --target "$SITE" "${missing[@]}" \
      >>"$LOG" 2>&1 || say "installing from $WHEELS failed"
  else
    "$PY" -m pip install -q --target "$SITE" "${missing[@]}" >>"$LOG" 2>&1 ||
      say "pip install failed (no internet? see the header for wheels)"
  fi
  export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
STEMWEAVE_CACHE_DIR=$(mktemp -d)  # the precision probe measures afresh
export STEMWEAVE_CACHE_DIR
command -v nvidia-smi >/dev/null && nvidia-smi >>"$LOG" 2>&1

# Time limits (seconds, 465 in all) fit 8 minutes on one H100; --quick on a slow CPU gets 4x.
# LIMIT_PCT scales them further (bench/gpu_lease.sh runs the check in ~60 % of that).
SCALE=${LIMIT_SCALE:-1}
[ -n "$QUICK" ] && SCALE=${LIMIT_SCALE:-4}
PCT=${LIMIT_PCT:-100}
FAILED=()
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  limit=$((limit * SCALE * PCT / 100))
  say "step $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    FAILED+=("$name")
    say "step $name FAILED (exit $rc$([ $rc -eq 124 ] && echo ', time limit'))"
  else
    say "step $name ok"
  fi
}

step env 30 "$PY" bench/gpu_check.py env $QUICK
step fixtures 45 "$PY" bench/gpu_check.py fixtures $QUICK
step full 60 "$PY" bench/gpu_check.py full $QUICK
step rtf 120 "$PY" bench/gpu_check.py rtf $QUICK
if [ -n "$QUICK" ]; then
  TRAIN=(--config '{"N": 32, "B": 16, "H": 32, "layers": 2, "stack": 1, "num_mels": 16}'
    --crop-s 1 --steps 1 --batch-size 2)
  TORCHRUN=(--N 32 --B 16 --H 32 --layers 2 --stack 1 --num-mels 16 --batch-size 2 --crop-s 1)
else
  TRAIN=(--batch-size 6 --steps 5 --warmup 2)
  TORCHRUN=(--batch-size 4 --crop-s 4)
fi
DEV=cpu
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' && DEV=cuda
step train 90 "$PY" bench/bench_train.py --device $DEV --amp auto "${TRAIN[@]}"
grep -E "samples/s|peak GPU memory|^device" "$LOG" | tail -3 | tee -a "$OUT/train.txt" >/dev/null

DATA=$(mktemp -d)
step prepare 30 "$PY" bench/gpu_check.py prepare "$DATA/prepared"
step torchrun 90 "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 \
  -m stemweave train --data "$DATA/prepared" --out "$DATA/run" --steps 2 --device $DEV \
  --amp auto --stats-crops 4 --workers 0 --no-progress --valid-songs 0 --log-every 1 \
  "${TORCHRUN[@]}"
[ -f "$DATA/run/last.safetensors" ] && say "torchrun step wrote $DATA/run/last.safetensors"
rm -rf "$DATA" "$STEMWEAVE_CACHE_DIR"

say "done in $(($(date +%s) - START)) s; results in $OUT/results.json"
if ((${#FAILED[@]})); then
  say "FAILED: ${FAILED[*]}"
  exit 1
fi
