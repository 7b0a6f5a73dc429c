#!/usr/bin/env bash
# Sets up what training the built-in model needs beyond scripts/setup.sh: FluidSynth, the General
# MIDI SoundFonts that `stemweave synth --source sampled` draws from (by family and split, see
# training/sampled/fonts.py: FluidR3 is the held-out test font, csound's bank validation, the
# rest training; OPL3 FM only with `--extra-fonts opl3`) and espeak-ng for the speech singer.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PACKAGES=(fluidsynth libfluidsynth3 espeak-ng timgm6mb-soundfont
  musescore-general-soundfont-small avldrums.lv2-soundfont csound-soundfont fluid-soundfont-gm
  opl3-soundfont)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup_training: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
.venv/bin/python -m pip install -q -e ".[train]"
