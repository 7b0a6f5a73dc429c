"""soxr vs resampy for the engine's resampling: time and quality.

Time: a stereo 44.1 kHz synthetic song (``--seconds``, default 30) to 8, 16 and 32 kHz and the
32 kHz result back to 44.1 kHz (what the engine does per song), scaled to a 3-minute song.
Quality: (1) round trip 44.1 -> 32 -> 44.1 kHz of the song band-limited to 14 kHz (inside both
pass bands): SDR against the input; (2) aliasing: a 5 kHz sine at 44.1 kHz resampled to 8 kHz
(Nyquist 4 kHz) must vanish: output level in dB relative to the input; (3) pass band: a 3.5 kHz
sine to 8 kHz: level error in dB.

Usage::

    .venv/bin/python bench/bench_engine_resample.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine_signals import sdr, synth_song  # noqa: E402

from core.resample import METHODS, resample  # noqa: E402

RATE = 44100


def lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    spec = np.fft.rfft(x, axis=-1)
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / RATE)
    spec[..., freqs > cutoff] = 0
    return np.fft.irfft(spec, n=x.shape[-1], axis=-1).astype(np.float32)


def level_db(y: np.ndarray, ref: np.ndarray) -> float:
    trim = slice(len(y) // 10, -len(y) // 10)
    return float(10 * np.log10(np.mean(y[trim] ** 2) / np.mean(ref**2) + 1e-30))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    a = ap.parse_args()
    x = synth_song(a.seconds, RATE, 2, seed=7)
    band = lowpass(x, 14000.0)
    t = np.arange(RATE * 2) / RATE
    alias_in = (0.5 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32)
    pass_in = (0.5 * np.sin(2 * np.pi * 3500 * t)).astype(np.float32)
    print(f"{'method':8s} {'time/3 min (s)':>14s} {'round-trip SDR':>15s} {'alias 5k->8k':>13s} "
          f"{'3.5k level err':>15s}")
    for m in METHODS:
        t0 = time.perf_counter()
        for r in (8000, 16000, 32000):
            y = resample(x, RATE, r, m)
        resample(y, 32000, RATE, m)
        dt = (time.perf_counter() - t0) * 180.0 / a.seconds
        rt = resample(resample(band, RATE, 32000, m), 32000, RATE, m)
        cut = RATE // 10  # ignore edge transients
        q = sdr(band[:, cut:-cut], rt[:, cut:-cut])
        alias = level_db(resample(alias_in, RATE, 8000, m), alias_in)
        passb = level_db(resample(pass_in, RATE, 8000, m), pass_in)
        print(f"{m:8s} {dt:14.2f} {q:13.1f} dB {alias:10.1f} dB {passb:12.3f} dB", flush=True)


if __name__ == "__main__":
    main()
