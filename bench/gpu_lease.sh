#!/usr/bin/env bash
# Everything a lent GPU machine should do, in one device call of about 9.5 minutes:
#
#   run(command="bash bench/gpu_lease.sh 570", carry=[".gpu"], timeout_s=595)
#
# after `bash training/recipes/builtin_gpu.sh prepare` here (which packs .gpu/).
#   1. unpack .gpu (libraries, SoundFonts, wheels)            training/recipes/builtin_gpu.sh setup
#   2. on the CPU cores, in the background: render the songs   ... data
#      on the GPU, at the same time: the GPU check              bench/gpu_check.sh (LIMIT_PCT=70)
#   3. fine-tune the built-in model for the time that is left   ... train MINUTES
# Results under $OUT (at most 8 files come back): results.json, gpu_check.log and train.txt (the
# check), lease.log (set-up, data, timings), train.log, history.jsonl, builtin_gpu.safetensors.
# The first argument is the whole call's budget in seconds (default 570); training gets what the
# first two parts leave, less 30 s for copying the results.
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-570}
export OUT=${OUT:-$PWD/gpu-lease}
mkdir -p "$OUT"
LOG=$OUT/lease.log
START=$(date +%s)
say() { echo "[lease +$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
RECIPE=training/recipes/builtin_gpu.sh

say "setup"
bash $RECIPE setup >>"$LOG" 2>&1 || { say "setup failed"; exit 1; }
# shellcheck disable=SC1091
source /tmp/stemweave-gpu.env
export PYTHON=${PYTHON:-python3}

cores=$(nproc)
say "data on $((cores - 2)) cores, in the background"
(WORKERS=$((cores - 2)) nice -n 10 bash $RECIPE data >>"$OUT/data.log" 2>&1;
 echo "data exit $?" >>"$OUT/data.log") &
DATA_PID=$!

say "gpu check"
LIMIT_PCT=${LIMIT_PCT:-70} bash bench/gpu_check.sh
say "gpu check exit $?"

wait $DATA_PID
cat "$OUT/data.log" >>"$LOG" && rm -f "$OUT/data.log"
say "data done"

left=$((BUDGET - ($(date +%s) - START) - 45))
if [ "$left" -lt 60 ]; then
  say "only ${left}s left: no training"
  exit 0
fi
minutes=$(python3 -c "print(round($left / 60, 2))")
say "training for $minutes min"
bash $RECIPE train "$minutes" >>"$LOG" 2>&1
say "done"
