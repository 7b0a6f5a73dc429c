"""Speed and memory of the separation engine on the CPU.

Default mode, for a stereo 44.1 kHz synthetic song (3 min unless ``--seconds``) and the default
full-size configuration with random weights (spectrogram mean/std measured on a synthetic song):

* ``Separator.separate_file`` wall seconds, real-time factor (processing s per audio s), peak RSS,
  and the split between decoding (file reads), resampling, network and writing;
* on a 30-s excerpt: the engine vs a naive path (generated weights not baked, left and right one
  after the other, one forward over the whole excerpt, the model's plain PyTorch layers instead
  of its inference kernels), as a speed ratio;
* every precision of ``--precisions`` (default ``fp32,auto``) in its own fresh process, so each
  has its own peak RSS: wall, RTF, peak RSS, which precision ``auto`` chose (and the probe's
  figures), and the SDR of its stems against the first precision's (fp32). ``bf16-autocast``
  is the bf16 path as it was before the inference kernels ran in bf16 (``torch.autocast``
  around the fp32 model, which bypasses those kernels): the "before" of docs/engine.md;
* this CPU's fp32 and bf16 matmul rates and the real-time factor the network could reach at
  each (its floor).

``--long`` instead measures the peak RSS of ``separate_file`` on generated 3-min and 60-min stereo
files, each in a fresh process. By default it uses a *small* configuration (``--long-config``),
because the full-size model would need hours for 60 minutes on 2 cores; memory behaviour of the
engine (window buffers, streaming reads/writes) does not depend on the model size.

Usage::

    .venv/bin/python bench/bench_separate.py [--seconds 180] [--threads N]
        [--precisions fp32,auto,bf16,bf16-autocast] [--excerpt 0 (skips the naive comparison)]
    .venv/bin/python bench/bench_separate.py --long [--threads N]

On a machine shared with other jobs, ``--threads 1`` avoids OpenMP threads spinning against each
other (measured up to 10x slower with 2 threads under load).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine_signals import random_full_model, sdr, synth_song  # noqa: E402

import core.apply  # noqa: E402
import core.audio  # noqa: E402
import core.families.metatasnet  # noqa: E402
import core.separator  # noqa: E402
from core import MetaTasNet, ModelConfig  # noqa: E402
from core.model.generated import reference_kernels  # noqa: E402
from core.precision import cpu_bf16_native  # noqa: E402
from core.resample import resample  # noqa: E402
from core.separator import Separator  # noqa: E402

RATE = 44100
SMALL = {"N": 8, "B": 8, "H": 8, "layers": 1, "stack": 1, "num_mels": 8, "filters": 1}


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_song(path: Path, seconds: float, block_s: float = 30.0) -> Path:
    """Write a stereo synthetic song block by block (flat memory), 16-bit WAV."""
    with sf.SoundFile(str(path), "w", RATE, 2, subtype="PCM_16") as f:
        done = 0.0
        k = 0
        while done < seconds:
            n = min(block_s, seconds - done)
            f.write(synth_song(n, RATE, 2, seed=k).T)
            done += n
            k += 1
    return path


class Timers:
    """Accumulates the time spent inside patched functions, by category."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.t[label] = self.t.get(label, 0.0) + time.perf_counter() - t
        return timed


@contextlib.contextmanager
def instrumented(timers: Timers) -> Any:
    """Patch the engine's decode/resample/network/write entry points with timers."""
    saved = [(core.apply, "resample", core.apply.resample),
             (core.audio.AudioSource, "read", core.audio.AudioSource.read),
             (core.separator.Separator, "_forward", core.separator.Separator._forward),
             (core.audio.StemWriter, "write", core.audio.StemWriter.write)]
    core.apply.resample = timers.wrap("resampling", core.apply.resample)
    core.audio.AudioSource.read = timers.wrap("decoding", core.audio.AudioSource.read)
    core.separator.Separator._forward = timers.wrap("network", core.separator.Separator._forward)
    core.audio.StemWriter.write = timers.wrap("writing", core.audio.StemWriter.write)
    try:
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def naive(model: MetaTasNet, x: np.ndarray) -> np.ndarray:
    """No baking, left and right one after the other, one forward over the whole excerpt,
    plain PyTorch layers (``reference_kernels``: no inference-only kernels)."""
    model.bake(False)
    try:
        scale = float(x.std())
        outs = []
        for c in range(x.shape[0]):
            xc = x[c:c + 1] / scale
            t8 = -(-xc.shape[-1] * 8000 // RATE // 20) * 20
            mixes = []
            for r in model.config.sample_rates:
                y = resample(xc, RATE, r)
                n = t8 * r // 8000
                mixes.append(torch.from_numpy(np.pad(y, ((0, 0), (0, n - y.shape[-1])))[None]))
            with torch.inference_mode(), reference_kernels():
                est = model(mixes, last_only=True)[-1][0, :, 0].numpy()
            outs.append(resample(est, model.config.output_rate, RATE)[:, : x.shape[1]] * scale)
        return np.stack(outs, axis=1)
    finally:
        model.bake(True)


def matmul_rate(dtype: torch.dtype = torch.float32) -> float:
    """This CPU's 2048x2048 matmul rate in ``dtype`` (GFLOP/s, the best of 5 pairs)."""
    a = torch.randn(2048, 2048).to(dtype)
    a @ a
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ a
        a @ a
        best = max(best, 2 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9)
    return best


def autocast_forward_fn(model: torch.nn.Module, device: torch.device,
                        precision: str) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    """The engine's reduced-precision call before the inference kernels ran in bf16:
    ``torch.autocast`` around the fp32 model (which makes it take its reference layers)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    def run(mixes: list[torch.Tensor]) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype):
            return model(mixes, last_only=True)[-1]

    return run


def machine_floor(model: MetaTasNet) -> tuple[float, float, float]:
    """This CPU's fp32 matmul rate and the model's cost: (GFLOP/s, GFLOP per mono second,
    the stereo real-time factor the network could reach if it ran entirely at that rate)."""
    from torch.utils.flop_counter import FlopCounterMode

    peak = matmul_rate()
    mixes = [torch.zeros(1, 1, r) for r in model.config.sample_rates]  # one second
    counter = FlopCounterMode(display=False)
    # Reference kernels: the counter has no formula for the in-place baddbmm_ of the fast path.
    # (Its module hooks do not work in inference_mode, hence no_grad.)
    with torch.no_grad(), reference_kernels(), counter:
        model(mixes, last_only=True)
    per_s = counter.get_total_flops() / 1e9
    return peak, per_s, 2 * per_s / peak


def speed_child(a: argparse.Namespace) -> None:
    """One precision in this fresh process (its own peak RSS): separate ``a.speed_child`` into
    ``a.out``; print JSON with the figures."""
    model = random_full_model(0)
    base_rss = peak_rss_mb()
    precision = a.precision
    if precision.endswith("-autocast"):  # the previous bf16 path, for before/after figures
        core.families.metatasnet.forward_fn = autocast_forward_fn
        precision = precision.removesuffix("-autocast")
    sep = Separator(model, "cpu", precision=precision, wiener=a.wiener)
    t = time.perf_counter()
    chosen = sep.resolve_precision()
    probe = time.perf_counter() - t
    timers = Timers()
    t = time.perf_counter()
    with instrumented(timers):
        sep.separate_file(a.speed_child, a.out, bits="32f")
    wall = time.perf_counter() - t
    print(json.dumps({"wall": wall, "probe": probe, "peak_rss_mb": peak_rss_mb(),
                      "before_mb": base_rss, "precision": chosen,
                      "choice": sep.precision_choice.describe() if sep.precision_choice else "",
                      "timers": timers.t, "segment": sep.segment_s, "overlap": sep.overlap}))


def main_speed(a: argparse.Namespace) -> None:
    print(f"torch threads: {torch.get_num_threads()}; full-size default config, random weights")
    model = random_full_model(0)
    peak, per_s, floor = machine_floor(model)
    print(f"fp32 matmul {peak:.0f} GFLOP/s on this machine; the network costs {per_s:.1f} GFLOP "
          f"per second of mono audio, so stereo cannot go below RTF {floor:.2f} in fp32 "
          "(every FLOP at matmul speed, no overlap, no other work)")
    peak16 = None
    if cpu_bf16_native():
        peak16 = matmul_rate(torch.bfloat16)
        print(f"bf16 matmul {peak16:.0f} GFLOP/s ({peak16 / peak:.2f}x fp32): bf16 floor RTF "
              f"{2 * per_s / peak16:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        src = write_song(Path(tmp) / "song.wav", a.seconds)
        precisions = [] if a.naive_only else [p.strip() for p in a.precisions.split(",")]
        outs: dict[str, np.ndarray] = {}
        for prec in precisions:
            cmd = [sys.executable, __file__, "--speed-child", str(src), "--precision", prec,
                   "--out", str(Path(tmp) / f"out-{prec}")]
            if a.wiener:
                cmd += ["--wiener"]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            # a fresh probe cache: auto measures in this run (its time is part of the figures)
            env = {**os.environ, "STEMWEAVE_CACHE_DIR": str(Path(tmp) / "cache")}
            run = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if run.returncode != 0:
                print(run.stderr[-2000:])
                raise SystemExit(1)
            r = json.loads(run.stdout.strip().splitlines()[-1])
            wall = r["wall"]
            print(f"\n[{prec}] {a.seconds:.0f}-s stereo 44.1 kHz song, segment "
                  f"{r['segment']:g} s, overlap {r['overlap']:g}, fresh process")
            if prec == "auto":
                print(f"  auto chose {r['precision']} in {r['probe']:.1f} s: {r['choice']}")
            print(f"  wall {wall:.1f} s   RTF {wall / a.seconds:.3f}   peak RSS "
                  f"{r['peak_rss_mb']:.0f} MB (model loaded: {r['before_mb']:.0f} MB)")
            cfg = model.config
            plan = core.apply.plan_windows(int(a.seconds * RATE), RATE, cfg.sampling_rate, cfg.W,
                                           r["segment"], r["overlap"])
            computed = sum(w.frames for w in plan) / RATE
            rate = 2 * per_s * computed / r["timers"].get("network", wall)
            low = r["precision"] == "bf16" and peak16 is not None
            ref = peak16 if low and peak16 else peak
            print(f"  network {rate:.0f} GFLOP/s-equivalent ({100 * rate / ref:.0f} % of the "
                  f"{'bf16' if low else 'fp32'} matmul rate; {len(plan)} windows compute "
                  f"x{computed / a.seconds:.2f} the audio)")
            other = wall - sum(r["timers"].values())
            split = ", ".join(f"{k} {v:.1f} s ({100 * v / wall:.0f} %)"
                              for k, v in sorted(r["timers"].items()))
            print(f"  split: {split}, other (overlap-add, level scan math) {other:.1f} s")
            outs[prec] = np.stack([
                sf.read(str(Path(tmp) / f"out-{prec}" / f"{s}.wav"), dtype="float32")[0].T
                for s in model.config.stems])
            if prec != "fp32" and "fp32" in outs:
                per = [sdr(outs["fp32"][i], outs[prec][i]) for i in range(len(outs[prec]))]
                print(f"  {prec} vs fp32 output: SDR {np.mean(per):.1f} dB mean, "
                      f"{min(per):.1f} dB worst stem")
        if a.excerpt <= 0:
            return
        # naive comparison on an excerpt
        n = int(min(a.excerpt, a.seconds) * RATE)
        x = sf.read(str(src), frames=n, dtype="float32", always_2d=True)[0].T
        sep = Separator(model, "cpu", precision="fp32", wiener=False)
        sep.separate(x[:, : RATE * 2], RATE)  # warm up
        t = time.perf_counter()
        y_engine = sep.separate(x, RATE)
        t_engine = time.perf_counter() - t
        t = time.perf_counter()
        y_naive = naive(model, x)
        t_naive = time.perf_counter() - t
        print(f"\n{n / RATE:.0f}-s excerpt (fp32): engine {t_engine:.1f} s, naive {t_naive:.1f} s, "
              f"speed-up x{t_naive / t_engine:.2f} (SDR engine vs naive "
              f"{sdr(y_naive, y_engine):.1f} dB)")


def rss_child(path: str, config: str) -> None:
    """Run separate_file once in this fresh process; print JSON with peak RSS and time."""
    cfg = ModelConfig(**json.loads(config)) if config else ModelConfig()
    model = random_full_model(0, cfg)
    before = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        Separator(model, "cpu", wiener=False).separate_file(path, tmp)
        wall = time.perf_counter() - t
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "before_mb": before, "wall_s": wall}))


def main_long(a: argparse.Namespace) -> None:
    cfg = a.long_config
    print(f"peak RSS of separate_file, model config {cfg or 'full size'} (random weights)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in (3, 60):
            t = time.perf_counter()
            path = write_song(Path(tmp) / f"song{minutes}.wav", minutes * 60.0)
            gen = time.perf_counter() - t
            cmd = [sys.executable, __file__, "--rss-child", str(path), "--long-config", cfg]
            if a.threads:
                cmd += ["--threads", str(a.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr[-2000:])
                raise SystemExit(1)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[minutes] = r
            print(f"  {minutes:3d} min: peak RSS {r['peak_rss_mb']:.0f} MB (model loaded: "
                  f"{r['before_mb']:.0f} MB), separate_file {r['wall_s']:.0f} s "
                  f"(file written in {gen:.0f} s)", flush=True)
            Path(path).unlink()
    growth = results[60]["peak_rss_mb"] / results[3]["peak_rss_mb"] - 1
    print(f"  60-min vs 3-min peak RSS: {100 * growth:+.1f} % (target <= +25 %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0, help="song length (default 180)")
    ap.add_argument("--excerpt", type=float, default=30.0,
                    help="naive-comparison excerpt (s); 0 skips it")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precisions", default="fp32,auto",
                    help="precisions to run, each in a fresh process, compared with the first "
                         "(default fp32,auto; e.g. fp32,auto,bf16)")
    ap.add_argument("--wiener", action="store_true",
                    help="with the Wiener post-filter (the engine's default for Meta-TasNet; off "
                         "here so that the figures measure the network engine, as before it)")
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--speed-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--naive-only", action="store_true", help="only the naive comparison")
    ap.add_argument("--long", action="store_true", help="peak RSS: 3-min vs 60-min input")
    ap.add_argument("--long-config", default=json.dumps(SMALL),
                    help="model config JSON for --long ('' = full size)")
    ap.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.speed_child:
        speed_child(a)
    elif a.rss_child:
        rss_child(a.rss_child, a.long_config)
    elif a.long:
        main_long(a)
    else:
        main_speed(a)


if __name__ == "__main__":
    main()
