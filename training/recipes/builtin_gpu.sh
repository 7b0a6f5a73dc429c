#!/usr/bin/env bash
# Train the built-in model on a lent GPU machine (no network there, ~10 minutes a command):
# generate training songs on its cores, fine-tune from the shipped weights on CUDA, write the
# weights and the log under $OUT. Everything it needs is prepared here first, so no GPU time is
# spent on set-up:
#
#   bash training/recipes/builtin_gpu.sh prepare   # here, after scripts/setup_training.sh:
#                                                  # packs .gpu/ (git-ignored, ~25 MB)
#   # then one device call carrying .gpu, for example (bench/gpu_lease.sh does all of this and
#   # the GPU check in one call):
#   #   run(command="bash training/recipes/builtin_gpu.sh all 6", carry=[".gpu"])
#
# Steps (each can be run on its own; `all MINUTES` runs setup, data and train):
#   setup         unpack .gpu: FluidSynth and espeak-ng with the shared libraries the machine
#                 lacks (added to the loader's search path *after* the system's own, so they only
#                 fill gaps), the SoundFonts, and the Python wheels into /tmp/stemweave-site;
#                 writes /tmp/stemweave-gpu.env for the other steps
#   data          render the songs: sampled (TimGM6mb) + procedural training songs and csound-bank
#                 validation songs, on every core ($WORKERS)
#   train MIN     fine-tune the built-in model for MIN minutes of training (--max-minutes: the run
#                 ends validated and saved), then copy best weights, history and log to $OUT
#
# What fits the device tool's 64-MiB working-tree limit: TimGM6mb for training and csound's GM
# bank for validation (the FluidR3 family, the test fonts, never travel); MuseScore General
# Lite (40 MB) and the AVL drum kits (19-27 MB each) do not fit beside the repository, so GPU
# runs train on fewer timbre families than the CPU runs (docs/builtin_model.md).
#
# Sizes are set by environment variables: SONGS (sampled, 400), PROCEDURAL (250), VALID (8),
# SECONDS_PER_SONG (20), SEED (7: training songs; validation always seed 7), TIMBRE (0: preset
# variants of the sampled training songs, 0..1, see stemweave synth --timbre), WORKERS (nproc),
# INIT (builtin, or a weights file carried in .gpu/), GROW (unset: TCN blocks per stack to
# grow INIT to, see stemweave train --grow-layers), BATCH (32), CROP_S (3), LR (5e-4), SGDR
# (cosine period in steps, 200000), EPOCH (400 steps between validations), LOADERS (12),
# DEVICE (cuda), AMP (bf16), DATA (/tmp/stemweave-gpu-data), PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
step=${1:-all}
ENVFILE=${ENVFILE:-/tmp/stemweave-gpu.env}
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/out}
DATA=${DATA:-/tmp/stemweave-gpu-data}

prepare() {
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  rm -rf .gpu && mkdir -p .gpu/whl
  local root
  root=$(mktemp -d)
  mkdir -p "$root/lib" "$root/bin" "$root/sf2" "$root/espeak-ng-data"
  # FluidSynth and espeak-ng with their library closure, except the C and C++ runtimes (the
  # machine's own are newer and must win)
  local libs
  libs=$( { ldd /usr/lib/x86_64-linux-gnu/libfluidsynth.so.3; ldd "$(command -v espeak-ng)"; } |
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
    grep -vE '/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|libgomp)\.so')
  for f in /usr/lib/x86_64-linux-gnu/libfluidsynth.so.3 $libs; do cp -L "$f" "$root/lib/"; done
  ln -s libfluidsynth.so.3 "$root/lib/libfluidsynth.so"
  cp -L "$(command -v espeak-ng)" "$root/bin/"
  # espeak-ng's phoneme tables and the dictionaries of the languages our voices speak
  local data=/usr/lib/x86_64-linux-gnu/espeak-ng-data
  cp -r "$data"/{phontab,phonindex,phondata,intonations,lang,voices} "$root/espeak-ng-data/"
  for l in en it es de fr pt; do cp "$data/${l}_dict" "$root/espeak-ng-data/"; done
  cp -L /usr/share/sounds/sf2/TimGM6mb.sf2 /usr/share/sounds/sf2/sf_GMbank.sf2 "$root/sf2/"
  tar -C "$root" -cJf .gpu/sysroot.tar.xz .
  rm -rf "$root"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/whl \
    pedalboard==0.9.26 soundfile cffi pycparser soxr platformdirs resampy
  "$PY" -m pip download -q --no-deps -d .gpu/whl pyfluidsynth==1.4.0
  du -sh .gpu
}

setup() {
  local sys=/tmp/stemweave-sys
  rm -rf "$sys" && mkdir -p "$sys"
  tar -C "$sys" -xJf .gpu/sysroot.tar.xz
  # after the system's own directories: only libraries the machine lacks come from here
  echo "$sys/lib" > /etc/ld.so.conf.d/zz-stemweave.conf && ldconfig
  rm -rf /tmp/stemweave-site
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/stemweave-site \
    .gpu/whl/*.whl
  cat > "$ENVFILE" <<EOF
export PATH=$sys/bin:\$PATH
export ESPEAK_DATA_PATH=$sys
export STEMWEAVE_SOUNDFONT_PATH=$sys/sf2
export PYTHONPATH=/tmp/stemweave-site:$ROOT\${PYTHONPATH:+:\$PYTHONPATH}
export PYTHONUNBUFFERED=1
EOF
  # shellcheck disable=SC1090
  source "$ENVFILE"
  "$PY" -c 'import fluidsynth, soundfile, soxr, pedalboard, resampy; print("imports ok")'
  espeak-ng -q -w /tmp/stemweave-espeak.wav "la" && echo "espeak-ng ok"
}

data() {
  # shellcheck disable=SC1090
  source "$ENVFILE"
  local workers=${WORKERS:-$(nproc)}
  local seed=${SEED:-7} seconds=${SECONDS_PER_SONG:-20}
  # validation songs always from seed 7, so that runs with other training seeds compare
  "$PY" -m stemweave synth "$DATA" --source sampled --songs 0 --valid "${VALID:-8}" \
    --seconds "$seconds" --seed 7 --workers "$workers" --no-progress
  "$PY" -m stemweave synth "$DATA" --source sampled --songs "${SONGS:-400}" --valid 0 \
    --seconds "$seconds" --seed "$seed" --timbre "${TIMBRE:-0}" --workers "$workers" --no-progress
  "$PY" -m stemweave synth "$DATA" --source procedural --songs "${PROCEDURAL:-250}" --valid 0 \
    --seconds "$seconds" --seed $((seed + 1)) --workers "$workers" --no-progress
  du -sh "$DATA"
}

train() {
  # shellcheck disable=SC1090
  source "$ENVFILE"
  local minutes=${1:-6}
  mkdir -p "$OUT"
  rm -rf /tmp/stemweave-gpu-run
  "$PY" -m stemweave train --data "$DATA" --out /tmp/stemweave-gpu-run --init "${INIT:-builtin}" \
    ${GROW:+--grow-layers "$GROW"} --device "${DEVICE:-cuda}" --amp "${AMP:-bf16}" \
    --steps 1000000 --max-minutes "$minutes" \
    --steps-per-epoch "${EPOCH:-400}" --batch-size "${BATCH:-32}" --crop-s "${CROP_S:-3}" \
    --lr "${LR:-5e-4}" --sgdr-period "${SGDR:-200000}" --workers "${LOADERS:-12}" --valid-max-s 10 --no-progress \
    --log-every 50 > "$OUT/train.log" 2>&1 || echo "train exited with $?" >> "$OUT/train.log"
  cp /tmp/stemweave-gpu-run/best.safetensors "$OUT/builtin_gpu.safetensors" 2>/dev/null || true
  cp /tmp/stemweave-gpu-run/history.jsonl "$OUT/" 2>/dev/null || true
  tail -5 "$OUT/train.log"
}

case "$step" in
  prepare) prepare ;;
  setup) setup ;;
  data) data ;;
  train) train "${2:-6}" ;;
  all) setup && data && train "${2:-6}" ;;
  *) echo "usage: $0 prepare|setup|data|train MINUTES|all MINUTES" >&2; exit 2 ;;
esac
