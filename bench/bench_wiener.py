"""Speed of the Wiener post-filter (``core.wiener.wiener_refine``) on one engine window.

Times the filter on a 13.2-s stereo window at 44.1 kHz (the engine's 12-s window with its
overlap), with the built-in model's band (32 / 44.1), for each hop divisor, and prints the best
and median of several runs, the CPU's vector flags and the machine load. Stems and mix are a
music-like song (``bench_engine_signals.synth_song``) split into four coloured parts.

Usage::

    .venv/bin/python bench/bench_wiener.py [--threads 2] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine_signals import synth_song  # noqa: E402

from core.wiener import wiener_refine  # noqa: E402

RATE = 44100
WINDOW_S = 13.2


def cpu_flags() -> str:
    """The CPU's vector-extension flags (avx2, avx512*, amx*) from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return " ".join(f for f in line.split() if f.startswith(("avx", "amx")))
    except OSError:
        pass
    return "unknown"


def window() -> tuple[np.ndarray, np.ndarray]:
    """``(mix (2, T), stems (4, 2, T))``: a song cut into four bands with leaky edges."""
    song = synth_song(WINDOW_S, RATE, 2, seed=3).astype(np.float32)
    spec = np.fft.rfft(song, axis=-1)
    f = np.fft.rfftfreq(song.shape[-1], 1.0 / RATE)
    edges = (0.0, 150.0, 1000.0, 4000.0, RATE / 2 + 1)
    stems = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        gain = np.where((f >= lo) & (f < hi), 0.9, 0.1 / 3)
        stems.append(np.fft.irfft(spec * gain, n=song.shape[-1], axis=-1))
    return song, np.asarray(stems, np.float32)


def main() -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mix, stems = window()
    print(f"CPU flags: {cpu_flags()}; {args.threads} threads")
    for hop_divisor in (4, 2):
        kw = {"band": 32000 / RATE, "hop_divisor": hop_divisor}
        wiener_refine(mix, stems, **kw)  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            wiener_refine(mix, stems, **kw)
            times.append(time.perf_counter() - t)
        print(f"{WINDOW_S:.1f}-s stereo window at {RATE} Hz, hop n_fft/{hop_divisor}: best "
              f"{min(times):.3f} s, median {np.median(times):.3f} s "
              f"(RTF {np.median(times) / WINDOW_S:.4f})")
    print(f"machine load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
