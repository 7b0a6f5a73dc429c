"""How closely Stemweave's engine follows the demucs library's own ``apply_model`` on a long
song: SDR of the engine's stems against the library's, overall and over stretches, for a random
tiny HTDemucs built from the library's class (no download is possible where this was written).

Both sides get the same level-normalised input (the engine divides by the song's standard
deviation, so the library is given ``x / std`` and its output scaled back); the library runs
with ``shifts=0, split=True, overlap=0.25``, its defaults for a single pass. The song is tones, a
pulse and noise per channel (the signal of tests/core/test_htdemucs.py). Prints one line per
stretch, then the overall figure.

Usage::

    .venv/bin/python bench/bench_htdemucs_agreement.py [--rate 44100] [--seconds 60]
        [--segment 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction

import numpy as np
import torch


def _music(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    rows = []
    for c in range(2):
        tone = 0.3 * np.sin(2 * np.pi * (110 + 55 * c) * t) * (1 + 0.5 * np.sin(2 * np.pi * t))
        pulse = 0.4 * (np.sin(2 * np.pi * 2 * t) > 0.95)
        rows.append(tone + pulse + 0.05 * rng.standard_normal(t.size))
    return np.stack(rows).astype(np.float32)


def _sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = ref.astype(np.float64), est.astype(np.float64)
    err = ((est - ref) ** 2).sum()
    return float("inf") if err == 0 else float(10 * np.log10((ref**2).sum() / err))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=44100)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--segment", type=str, default="4", help="training length, e.g. 4 or 39/5")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stretch", type=float, default=4.0, help="seconds per reported stretch")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    from demucs.apply import apply_model
    from demucs.htdemucs import HTDemucs

    from core.families.htdemucs import HTDemucsFamily
    from core.separator import Separator

    torch.manual_seed(a.seed)
    model = HTDemucs(["drums", "bass", "other", "vocals"], channels=4, nfft=1024, t_layers=1,
                     t_heads=2, t_hidden_scale=1.0, dconv_comp=4,
                     segment=Fraction(a.segment), samplerate=a.rate).eval()
    x = _music(a.seconds, a.rate)
    t0 = time.perf_counter()
    ours = Separator(HTDemucsFamily([model]), device="cpu").separate(x, a.rate)
    t1 = time.perf_counter()
    std = float(x.astype(np.float64).std())
    with torch.no_grad():
        ref = apply_model(model, torch.from_numpy(x / std)[None], shifts=0, split=True,
                          overlap=0.25)[0].numpy() * std
    t2 = time.perf_counter()
    n = int(a.stretch * a.rate)
    for s in range(0, x.shape[1], n):
        print(f"{s / a.rate:6.1f}-{min(s + n, x.shape[1]) / a.rate:6.1f} s: "
              f"{_sdr(ref[..., s:s + n], ours[..., s:s + n]):7.1f} dB")
    print(f"rate {a.rate} Hz, {a.seconds:g} s, training length {a.segment} s: engine vs "
          f"apply_model SDR {_sdr(ref, ours):.1f} dB overall "
          f"(engine {t1 - t0:.1f} s, library {t2 - t1:.1f} s, {a.threads} thread(s))")


if __name__ == "__main__":
    main()
