#!/usr/bin/env bash
# Train the built-in model on a lent GPU machine in one call (no network there): generate the
# training songs on its cores, fine-tune from the shipped weights on CUDA, write the weights and
# the log under $OUT. Prepared here first, so no GPU time is spent on set-up:
#
#   bash training/recipes/builtin_gpu.sh prepare     # here: downloads .debs and wheels to .gpu/
#   # then one device call, carrying .gpu (the run step below), e.g.
#   #   run(command="bash training/recipes/builtin_gpu.sh run 420", carry=[".gpu"])
#
# `run MINUTES_OF_TRAINING` (default 7) leaves a minute for data generation and the copy back.
# What it writes under $OUT: builtin_gpu.safetensors (best validation), history.jsonl, train.log.
# .gpu/ is ignored by git (.git/info/exclude) and stays under the device tool's 64-MiB limit:
# FluidSynth with its libraries, TimGM6mb and MuseScore General Lite (~47 MB), two wheels.
set -euo pipefail
cd "$(dirname "$0")/../.."
step=${1:-run}

if [ "$step" = prepare ]; then
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  mkdir -p .gpu/deb .gpu/whl
  (cd .gpu/deb && apt-get download libfluidsynth3 libinstpatch-1.0-2 libsdl2-2.0-0 \
      timgm6mb-soundfont musescore-general-soundfont-small espeak-ng espeak-ng-data \
      libespeak-ng1 libpcaudio0 libsonic0)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .gpu/whl pedalboard==0.9.26
  python3 -m pip download -q --no-deps -d .gpu/whl pyfluidsynth==1.4.0
  du -sh .gpu
  exit 0
fi

minutes=${2:-7}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/sysroot
for f in .gpu/deb/*.deb; do dpkg -x "$f" /tmp/sysroot; done
export LD_LIBRARY_PATH=/tmp/sysroot/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export STEMWEAVE_SOUNDFONT_PATH=/tmp/sysroot/usr/share/sounds/sf2:/tmp/sysroot/usr/share/sounds/sf3
export PATH=/tmp/sysroot/usr/bin:$PATH ESPEAK_DATA_PATH=/tmp/sysroot/usr/lib/x86_64-linux-gnu/espeak-ng-data
python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*
export PYTHONPATH=/tmp/site:$PWD
cores=$(nproc)
# validation from the csound bank is not carried: validate on sampled songs of a held-out seed
python3 -m stemweave synth /tmp/data --source sampled --songs 600 --seconds 20 --seed 7 \
  --workers "$cores" --no-progress
python3 -m stemweave synth /tmp/data --source procedural --songs 150 --seconds 20 --seed 8 \
  --workers "$cores" --no-progress
python3 -m stemweave synth /tmp/valid --source sampled --songs 12 --seconds 20 --seed 9 \
  --workers "$cores" --no-progress
mkdir -p /tmp/data/valid && cp -r /tmp/valid/train/* /tmp/data/valid/
sed -i 's/"split": "train"/"split": "valid"/' /tmp/data/valid/*/meta.json
timeout $((minutes * 60)) python3 -m stemweave train --data /tmp/data --out /tmp/run --init builtin \
  --device cuda --amp bf16 --steps 200000 --steps-per-epoch 500 --batch-size 32 --crop-s 3 \
  --lr 5e-4 --workers 8 --valid-max-s 10 --no-progress --log-every 50 > "$OUT/train.log" 2>&1 || true
cp /tmp/run/best.safetensors "$OUT/builtin_gpu.safetensors" 2>/dev/null || true
cp /tmp/run/history.jsonl "$OUT/" 2>/dev/null || true
tail -5 "$OUT/train.log"
