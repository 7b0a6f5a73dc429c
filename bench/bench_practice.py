"""Benchmark of the practice tempo/pitch processor: CPU share of real-time playback.

Feeds 30 s of stereo 44.1 kHz noise-plus-tones audio through :class:`core.practice.TempoPitch`
in 512-frame blocks (as the playback producer does) on one thread and prints the processing
time divided by the duration of the audio produced (the share of one core that live playback
needs; < 0.5 leaves headroom on a 2-core machine). Also prints the offline export speed.

Usage: ``.venv/bin/python bench/bench_practice.py [--seconds 30] [--block 512]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from core.practice import Metronome, TempoPitch, render_offline


def music_like(seconds: float, sr: int) -> np.ndarray:
    """Stereo test audio: a few tones, their harmonics, noise bursts as 'drums'."""
    rng = np.random.default_rng(0)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    x = np.zeros((2, n))
    for i, f in enumerate((110.0, 220.0, 330.0, 440.0, 660.0)):
        x[i % 2] += 0.1 * np.sin(2 * np.pi * f * t + i)
    beat = (t % 0.5) < 0.03
    x += 0.2 * rng.standard_normal((2, n)) * beat
    return x.astype(np.float32)


def bench_stream(x: np.ndarray, sr: int, tempo: float, semitones: float, block: int,
                 quality: str, metronome: bool = False) -> tuple[float, float]:
    """Returns (cpu seconds / output seconds, wall seconds / output seconds)."""
    tp = TempoPitch(sr, x.shape[0], tempo=tempo, semitones=semitones, quality=quality)
    met = Metronome(sr, 120.0) if metronome else None
    produced = 0
    c0, w0 = time.thread_time(), time.perf_counter()
    for a in range(0, x.shape[1], block):
        pos = tp.output_source_position
        y = tp.process(x[:, a:a + block])
        if met is not None and y.shape[1]:
            y = y + met.render(pos, y.shape[1], tp.tempo)[None, :]
        produced += y.shape[1]
    produced += tp.flush().shape[1]
    c1, w1 = time.thread_time(), time.perf_counter()
    seconds = produced / sr
    return (c1 - c0) / seconds, (w1 - w0) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--block", type=int, default=512)
    args = ap.parse_args()
    sr = 44100
    x = music_like(args.seconds, sr)
    print(f"stereo {sr} Hz, {args.seconds:g} s of source, blocks of {args.block} frames, "
          "one thread")
    print(f"{'setting':38s} {'cpu share':>10s} {'wall share':>10s}")
    cases = [
        ("tempo 0.75, pitch +2 (high quality)", 0.75, 2.0, "high", False),
        ("tempo 0.75, pitch +2 + metronome", 0.75, 2.0, "high", True),
        ("tempo 0.75, pitch +2 (fast)", 0.75, 2.0, "fast", False),
        ("tempo 0.5, pitch -6 (high quality)", 0.5, -6.0, "high", False),
        ("tempo 1.5, pitch +6 (high quality)", 1.5, 6.0, "high", False),
        ("tempo 1, pitch 0 (pass-through)", 1.0, 0.0, "high", False),
    ]
    for label, tempo, semi, quality, met in cases:
        cpu, wall = bench_stream(x, sr, tempo, semi, args.block, quality, met)
        print(f"{label:38s} {cpu:10.3f} {wall:10.3f}")
    c0 = time.thread_time()
    y = render_offline(x, sr, 0.75, 2.0)
    cpu = time.thread_time() - c0
    print(f"offline export at tempo 0.75, pitch +2: {cpu / (y.shape[1] / sr):.3f} "
          f"CPU s per output s ({y.shape[1] / sr / cpu:.1f}x real time)")


if __name__ == "__main__":
    main()
