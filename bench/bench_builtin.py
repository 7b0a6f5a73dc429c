"""Speed and size of the built-in model (or of candidate configurations) on CPU.

Prints, per configuration: weights size (MB, float32) and the real-time factor of the real
``MetaTasNet`` forward (``last_only=True``, baked, no grad) on stereo audio, i.e. processing
seconds per audio second with both channels as a batch of two. The target for the built-in model
is RTF <= 0.1 on 2 threads.

Usage::

    .venv/bin/python bench/bench_builtin.py                    # the shipped builtin.safetensors
    .venv/bin/python bench/bench_builtin.py --candidates       # a grid of small configurations
    .venv/bin/python bench/bench_builtin.py --config '{"N": 96, "B": 64, ...}'
    .venv/bin/python bench/bench_builtin.py --sdr DATA --model builtin --model OLD.safetensors
        # BSSEval v4 SDR of each model, the ideal-ratio-mask oracle and mixture/4 on a split
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import STEMS, MetaTasNet, ModelConfig, load_model  # noqa: E402
from core.resources import builtin_model_path  # noqa: E402

CANDIDATES: list[dict] = [
    {"N": 64, "B": 64, "H": 64, "layers": 5, "stack": 1, "num_mels": 32},
    {"N": 96, "B": 64, "H": 64, "layers": 5, "stack": 2, "num_mels": 48},
    {"N": 128, "B": 64, "H": 64, "layers": 6, "stack": 1, "num_mels": 64},
    {"N": 128, "B": 96, "H": 96, "layers": 6, "stack": 2, "num_mels": 64},
    {"N": 96, "B": 96, "H": 96, "layers": 6, "stack": 1, "num_mels": 48},
]


def rtf(model: MetaTasNet, seconds: float = 8.0, repeats: int = 2) -> float:
    """Processing seconds per audio second for stereo (a batch of two mono channels)."""
    return rtf_wall_cpu(model, seconds, repeats)[0]


def rtf_wall_cpu(model: MetaTasNet, seconds: float = 8.0, repeats: int = 2
                 ) -> tuple[float, float]:
    """``(wall, cpu)`` seconds per audio second for stereo, best of ``repeats``.

    ``cpu`` is this process's CPU time (all threads), which a busy shared machine inflates much
    less than wall time; with N threads on N free cores, wall >= cpu / N.
    """
    cfg = model.config
    t = int(seconds * cfg.sampling_rate) // cfg.W * cfg.W
    mixes = [torch.randn(2, 1, t * 2**s) * 0.1 for s in range(cfg.stages_num)]
    model.eval().bake()
    wall, cpu = float("inf"), float("inf")
    with torch.no_grad():
        model(mixes, last_only=True)  # warm-up (bakes the generated weights)
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            model(mixes, last_only=True)
            wall = min(wall, time.perf_counter() - w0)
            cpu = min(cpu, time.process_time() - c0)
    audio_s = t / cfg.sampling_rate
    return wall / audio_s, cpu / audio_s


def size_mb(model: MetaTasNet) -> float:
    """Float32 parameter size in MB."""
    return sum(p.numel() for p in model.parameters()) * 4 / 1e6


def irm_oracle(stems: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """Ideal ratio mask (power, "IRM2") estimates of ``stems (4, channels, frames)``.

    Each stem's mask is ``|S_j|^2 / sum_k |S_k|^2`` on an STFT (Hann window) applied to the
    mixture's STFT; the estimates are the inverse STFTs.
    """
    from scipy import signal

    spec = signal.stft(stems.astype(np.float64), nperseg=n_fft, noverlap=n_fft - hop,
                       axis=-1)[2]
    power = np.abs(spec) ** 2
    mask = power / (power.sum(axis=0, keepdims=True) + 1e-12)
    mix = spec.sum(axis=0, keepdims=True)
    est = signal.istft(mask * mix, nperseg=n_fft, noverlap=n_fft - hop, time_axis=-1,
                       freq_axis=-2)[1]
    return est[..., : stems.shape[-1]].astype(np.float32)


def _score_song(job: tuple) -> tuple[str, dict[str, dict]]:
    """Score one song for every row (a worker process's job)."""
    from training.evaluate import score_track

    name, stems, rate, models, baselines = job
    torch.set_num_threads(1)
    rows = {}
    if baselines:
        rows["IRM oracle"] = score_track(stems, irm_oracle(stems), rate)
        rows["mixture / 4"] = score_track(stems, np.repeat(stems.sum(0)[None] / 4, 4, 0), rate)
    for label, path, wiener in models:
        est = np.asarray(_separator(path, wiener).separate(stems.sum(0), rate), np.float32)
        rows[label] = score_track(stems, est, rate)
    return name, rows


def engine_rtf(path: str, wiener: bool, seconds: float = 60.0) -> float:
    """Wall seconds per audio second of ``Separator.separate`` on a generated stereo 44.1-kHz
    song (resampling, windows, overlap-add and, if asked, the Wiener post-filter; the precision
    probe and a first short separation are run before timing)."""
    from bench_engine_signals import synth_song

    from core.separator import Separator

    sep = Separator(path, device="cpu", wiener=wiener)
    song = synth_song(seconds, 44100, 2, seed=3)
    sep.separate(song[:, :44100], 44100)
    t = time.perf_counter()
    sep.separate(song, 44100)
    return (time.perf_counter() - t) / seconds


@functools.cache
def _separator(path: str, wiener: bool = True):  # noqa: ANN202 - core.separator.Separator
    """One engine per model, post-filter setting and process (loaded once, not once per song)."""
    from core.separator import Separator

    return Separator(path, device="cpu", wiener=wiener)


def sdr_report(data: str, split: str, models: list[str], out: str, max_s: float | None,
               workers: int = 1, baselines: bool = True, wiener: str = "on") -> None:
    """Print BSSEval v4 SDR (median over frames, then tracks) of each model, the IRM oracle and
    the trivial "mixture / 4 as every stem" baseline.

    ``wiener``: ``"on"`` (the engine's default for Meta-TasNet: :mod:`core.wiener`), ``"off"``
    (the network's raw output, rows marked "raw") or ``"both"``.

    Songs with a stem that is silent throughout are skipped (BSSEval is undefined for them).
    Scores of each row go to ``out/<row>/scores.{json,csv}``.
    """
    from concurrent.futures import ProcessPoolExecutor

    from core.model_store import resolve_model
    from training.evaluate import EvalResult, _median_over_tracks, write_scores
    from training.prepared import RATES, list_songs

    rate = RATES[-1]
    settings = {"on": (True,), "off": (False,), "both": (True, False)}[wiener]
    resolved = [((Path(m).stem if m != "builtin" else "built-in model") + ("" if w else ", raw"),
                 str(resolve_model(m)), w) for m in models for w in settings]
    jobs, skipped = [], []
    for song in list_songs(data, split):
        n = song.frames_8k * rate // RATES[0]
        if max_s:
            n = min(n, int(max_s * rate))
        stems = np.array(song.audio(rate)[..., :n], np.float32)
        if not np.abs(stems).reshape(4, -1).max(axis=1).all():
            skipped.append(song.name)
            continue
        jobs.append((song.name, stems, rate, resolved, baselines))
    results: dict[str, dict] = {}
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(_score_song, jobs))
    else:
        done = [_score_song(job) for job in jobs]
    for name, rows in done:
        for label, scores in rows.items():
            results.setdefault(label, {})[name] = scores
    table = []
    for label, tracks in results.items():
        res = EvalResult(tracks, _median_over_tracks(tracks), label, data, False)
        write_scores(res, Path(out) / label.replace(" ", "_").replace("/", ""))
        table.append((label, res))
    print(f"BSSEval v4 SDR (dB), median over 1-s frames then {len(jobs)} {split} songs"
          + (f" (skipped, a stem silent throughout: {', '.join(skipped)})" if skipped else ""))
    print(f"{'':24}" + "".join(f"{s:>9}" for s in STEMS) + f"{'mean':>9}")
    for label, res in table:
        vals = [res.median[s]["SDR"] for s in STEMS]
        print(f"{label:24}" + "".join(f"{v:9.2f}" for v in vals) + f"{np.mean(vals):9.2f}")


def main() -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--engine-seconds", type=float, default=60.0,
                    help="song length for the engine's end-to-end speed (default 60)")
    ap.add_argument("--candidates", action="store_true", help="time a grid of configurations")
    ap.add_argument("--config", help="JSON of ModelConfig fields to time (untrained weights)")
    ap.add_argument("--model", action="append",
                    help="a weights file or model name (default: the built-in model); --sdr "
                         "takes several, one row each")
    ap.add_argument("--sdr", metavar="DATA", help="score model and IRM oracle on a prepared set")
    ap.add_argument("--split", default="test", help="split for --sdr")
    ap.add_argument("--out", default="/tmp/stemweave_bench_eval", help="scores folder for --sdr")
    ap.add_argument("--max-s", type=float, default=None, help="--sdr: first seconds only")
    ap.add_argument("--oracle-only", action="store_true", help="--sdr: skip the model")
    ap.add_argument("--workers", type=int, default=1, help="--sdr: songs scored in parallel")
    ap.add_argument("--wiener", choices=("on", "off", "both"), default="on",
                    help="--sdr: with the engine's Wiener post-filter (default, as users get "
                         "it), without (rows marked raw), or both; the speed figures show both")
    ap.add_argument("--no-baselines", action="store_true",
                    help="--sdr: skip the IRM oracle and mixture/4 rows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.sdr:
        models = [] if args.oracle_only else (args.model or ["builtin"])
        sdr_report(args.sdr, args.split, models, args.out, args.max_s, args.workers,
                   not args.no_baselines, args.wiener)
        return 0
    torch.manual_seed(0)
    if args.candidates or args.config:
        configs = CANDIDATES if args.candidates else [json.loads(args.config)]
        for fields in configs:
            model = MetaTasNet(ModelConfig(**fields))
            print(f"{json.dumps(fields)}  size={size_mb(model):.2f} MB  "
                  f"RTF(stereo, {args.threads} threads)={rtf(model, args.seconds):.3f}", flush=True)
        return 0
    path = Path(args.model[0]) if args.model else builtin_model_path()
    model = load_model(path)
    print(f"model: {path} ({path.stat().st_size / 1e6:.2f} MB on disk)")
    print(f"config: {model.config.to_json()}")
    print(f"params: {size_mb(model):.2f} MB float32")
    wall, cpu = rtf_wall_cpu(model, args.seconds, 3)
    print(f"RTF(stereo, {args.threads} threads, {args.seconds:.0f} s): wall {wall:.3f}, "
          f"CPU {cpu:.3f} (CPU/threads {cpu / args.threads:.3f})  (target: wall <= 0.1)")
    for wiener in (False, True):
        engine = engine_rtf(str(path), wiener, args.engine_seconds)
        print(f"engine, {args.engine_seconds:.0f}-s stereo 44.1-kHz song through "
              f"Separator.separate, Wiener post-filter {'on' if wiener else 'off'}: "
              f"RTF {engine:.3f} ({1 / engine:.1f}x real time)")
    print(f"machine load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
