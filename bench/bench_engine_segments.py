"""How window length and overlap change the engine's output (the model's group norms see the
whole window, so segmented output differs from one forward over the whole song).

For the tiny fixture model (60-s input) and a random full-size model (30-s input, full size is
slow), prints the SDR of segmented output against one unsegmented forward over the whole input,
and the time, for a grid of window lengths and overlaps. Mono 44.1 kHz synthetic song.

``--truth MIX STEMS_DIR [MIX STEMS_DIR ...]`` instead scores against the true stems (songs
concatenated; ``STEMS_DIR`` holds ``drums/bass/other/vocals`` files, e.g. from ``stemweave synth
--demo OUT --stems-dir DIR``) with the built-in model: SDR per stem of one forward over the whole
input and of the engine's windows, for the same grid. Being different from the whole-song
forward is not being worse: this shows which is closer to the truth.

Usage::

    .venv/bin/python bench/bench_engine_segments.py [--full-only|--tiny-only] [--threads N]
    .venv/bin/python bench/bench_engine_segments.py --truth demo.flac demo_stems/ [...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine_signals import random_full_model, sdr, synth_song  # noqa: E402

from core import STEMS, load_model  # noqa: E402
from core.resources import builtin_model_path  # noqa: E402
from core.separator import Separator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures" / "metatasnet" / "tiny_checkpoint.pt"
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


def run_truth(pairs: list[str]) -> None:
    """SDR against the true stems: whole-input forward vs the engine's windows (built-in)."""
    mixes, stems = [], []
    for mix, folder in zip(pairs[::2], pairs[1::2]):
        mixes.append(sf.read(mix, dtype="float32", always_2d=True)[0].T)
        stems.append(np.stack([sf.read(str(Path(folder) / f"{s}.flac"), dtype="float32",
                                       always_2d=True)[0].T for s in STEMS]))
    x, truth = np.concatenate(mixes, axis=1), np.concatenate(stems, axis=2)
    model = load_model(builtin_model_path())
    print(f"built-in model, {x.shape[1] / 44100:.0f} s of stereo; SDR vs the true stems (dB)")
    print(f"  {'windows':>16} " + "".join(f"{s:>8}" for s in STEMS))
    for label, seg, ov in [("whole input", x.shape[1] / 44100 + 10, 0.1), *[
            (f"{seg:g} s, {ov:g}", seg, ov) for seg, ov in GRID]]:
        y = Separator(model, "cpu", segment_s=seg, overlap=ov).separate(x, 44100)
        print(f"  {label:>16} " + "".join(f"{sdr(truth[i], y[i]):8.2f}" for i in range(4)),
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full-only", action="store_true")
    ap.add_argument("--tiny-only", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--truth", nargs="+", metavar="PATH", help="MIX STEMS_DIR pairs")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.truth:
        if len(a.truth) % 2:
            ap.error("--truth takes MIX STEMS_DIR pairs")
        run_truth(a.truth)
        return
    if not a.full_only:
        run("tiny fixture model", load_model(TINY), 60.0)
    if not a.tiny_only:
        run("random full-size model", random_full_model(0), 30.0)


if __name__ == "__main__":
    main()
