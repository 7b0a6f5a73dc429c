"""How window length and overlap change the engine's output (the model's group norms see the
whole window, so segmented output differs from one forward over the whole song).

For the tiny fixture model (60-s input) and a random full-size model (30-s input, full size is
slow), prints the SDR of segmented output against one unsegmented forward over the whole input,
and the time, for a grid of window lengths and overlaps. Mono 44.1 kHz synthetic song.

Usage::

    .venv/bin/python bench/bench_engine_segments.py [--full-only|--tiny-only] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine_signals import random_full_model, sdr, synth_song  # noqa: E402

from core import load_model  # noqa: E402
from core.separator import Separator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT.parent / "shared" / "fixtures" / "metatasnet" / "tiny_checkpoint.pt"
GRID = [(4.0, 0.1), (8.0, 0.1), (12.0, 0.1), (12.0, 0.25), (16.0, 0.1), (20.0, 0.1)]


def run(name: str, model, seconds: float) -> None:  # noqa: ANN001
    x = synth_song(seconds, 44100, 1, seed=1)
    whole = Separator(model, "cpu", segment_s=seconds + 10)
    t = time.perf_counter()
    ref = whole.separate(x, 44100)
    t_ref = time.perf_counter() - t
    print(f"{name}: {seconds:.0f}-s mono input; one forward over the whole input: {t_ref:.1f} s",
          flush=True)
    print(f"  {'segment_s':>9} {'overlap':>7} {'SDR vs whole (dB)':>18} {'time (s)':>9}")
    for seg, ov in GRID:
        sep = Separator(model, "cpu", segment_s=seg, overlap=ov)
        t = time.perf_counter()
        y = sep.separate(x, 44100)
        dt = time.perf_counter() - t
        print(f"  {seg:9.1f} {ov:7.2f} {sdr(ref, y):18.2f} {dt:9.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full-only", action="store_true")
    ap.add_argument("--tiny-only", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if not a.full_only:
        run("tiny fixture model", load_model(TINY), 60.0)
    if not a.tiny_only:
        run("random full-size model", random_full_model(0), 30.0)


if __name__ == "__main__":
    main()
