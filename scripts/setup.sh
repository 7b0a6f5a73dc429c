#!/usr/bin/env bash
# Sets up everything Stemweave needs on a Debian/Ubuntu machine: system packages (audio, Qt's
# xcb libraries, a JACK dummy server and Xvfb for the tests, ffmpeg for M4A/video input,
# FluidSynth's library, a 6-MB General MIDI SoundFont and espeak-ng for the sampled-song tests),
# then a virtual environment in .venv with the project installed in editable mode.
# Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libsndfile1 libportaudio2 jackd2 xvfb xauth ffmpeg
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-randr0
  libfluidsynth3 timgm6mb-soundfont espeak-ng)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
fi
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # jackd2 asks whether to enable realtime priority; answer no without a prompt.
  echo "jackd2 jackd/tweak_rt_limits boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
EXTRAS=${STEMWEAVE_EXTRAS:-dev}
stamp=.venv/.stemweave-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VPY" -m pip install -q --upgrade pip
  # torch first, pinned to the local CPU build, so nothing resolves to a multi-GB CUDA build.
  "$VPY" -m pip install -q "torch==${STEMWEAVE_TORCH:-2.13.0}"
  "$VPY" -m pip install -q -e ".[${EXTRAS}]"
  touch "$stamp"
fi
