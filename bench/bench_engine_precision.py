"""Numerical precision choices of the engine: float64 spectrogram power, and bf16 on the CPU.

On a synthetic song prepared the way the engine does it (44.1 kHz -> 8/16/32 kHz with soxr,
divided by the mixture's std), one forward is run with the whole model in float64 (the
reference) and then in float32 with the spectrogram power in float32 / float64, in bf16 as the
engine runs it on the CPU (``core.precision.forward_fn``: the inference kernels with bf16
activations), and with bf16 autocast (the earlier bf16 path, which bypasses those kernels).
Prints the SDR of each against the reference (higher is closer) and the time.

Usage::

    .venv/bin/python bench/bench_engine_precision.py [--seconds 6] [--tiny-only]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine_signals import random_full_model, sdr, synth_song  # noqa: E402

from core import load_model  # noqa: E402
from core.precision import forward_fn  # noqa: E402
from core.resample import resample  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures" / "metatasnet" / "tiny_checkpoint.pt"


def mixes_for(model, seconds: float) -> list[np.ndarray]:  # noqa: ANN001
    x = synth_song(seconds, 44100, 1, seed=5)
    x = x / x.std()
    t8 = int(seconds * 8000) // model.config.W * model.config.W
    return [resample(x, 44100, r)[:, : t8 * r // 8000] for r in model.config.sample_rates]


def forward(model, mixes, dtype=torch.float32, mag64=False, autocast=None,  # noqa: ANN001
            engine=None):
    model.set_float64_magnitude(mag64)
    xs = [torch.from_numpy(m[:, None]).to(dtype) for m in mixes]
    t = time.perf_counter()
    with torch.inference_mode():
        if engine is not None:  # the engine's own call for that precision
            y = forward_fn(model, torch.device("cpu"), engine)(xs)
        elif autocast is None:
            y = model(xs, last_only=True)[-1]
        else:
            with torch.autocast("cpu", dtype=autocast):
                y = model(xs, last_only=True)[-1]
    return y.double().numpy(), time.perf_counter() - t


def run(name: str, model, seconds: float) -> None:  # noqa: ANN001
    mixes = mixes_for(model, seconds)
    ref, t64 = forward(copy.deepcopy(model).double().bake(), mixes, torch.float64)
    print(f"{name}, {seconds:.0f}-s mono excerpt; reference = whole model in float64 "
          f"({t64:.1f} s)", flush=True)
    rows = [("float32, power in float32", dict(mag64=False)),
            ("float32, power in float64", dict(mag64=True)),
            ("bf16 (engine: kernels in bf16)", dict(mag64=True, engine="bf16")),
            ("bf16 autocast, power in float64", dict(mag64=True, autocast=torch.bfloat16))]
    for label, kw in rows:
        forward(model, [m[:, : 8000 * 2 ** i] for i, m in enumerate(mixes)], **kw)  # warm up
        y, dt = forward(model, mixes, **kw)
        per_stem = [sdr(ref[:, s], y[:, s]) for s in range(4)]
        print(f"  {label:34s} SDR vs float64 {min(per_stem):7.1f} dB (worst stem), "
              f"mean {np.mean(per_stem):6.1f} dB, {dt:6.2f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--tiny-only", action="store_true")
    ap.add_argument("--full-only", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if not a.full_only:
        run("tiny fixture model", load_model(TINY), a.seconds)
    if not a.tiny_only:
        run("random full-size model", random_full_model(0), a.seconds)


if __name__ == "__main__":
    main()
