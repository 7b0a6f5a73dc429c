"""The Python half of ``bench/gpu_check.sh``: one step per call, results merged into
``$OUT/results.json``.

Steps (``python bench/gpu_check.py STEP [--quick]``):

* ``env`` — torch, CUDA, GPU name, CPU.
* ``fixtures`` — the authors' tiny checkpoints (tests/fixtures/metatasnet) on their golden
  inputs: CUDA output vs CPU output and vs the golden output (max error / peak).
* ``full`` — the full-size model (random weights): CUDA fp32 vs CPU fp32 (SDR, max error), bf16
  and fp16 autocast vs CUDA fp32 (SDR), and what ``precision="auto"`` chooses on this GPU.
* ``rtf`` — a 3-min stereo song through ``Separator.separate_file`` on CUDA for the full and the
  built-in model, in fp32 and auto: wall, real-time factor, peak GPU memory, SDR vs fp32.
* ``prepare DIR`` — a small prepared training dataset for the torchrun step.

Without CUDA every CUDA part is recorded as skipped and the CPU parts still run, so the logic can
be tried on any machine (``--quick`` shrinks every input so that it takes a minute there).
TF32 is switched off for the equality checks (fp32 must mean fp32) and left at torch's default
for the speed figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_engine_signals import random_full_model, sdr  # noqa: E402

from core import load_model  # noqa: E402
from core.precision import choose_precision, forward_fn, reference_input  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "metatasnet"
#: Every device must match the authors' golden outputs to this fraction of the output peak
#: (tiny fixtures). Two CPUs already differ by ~1e-4 on them (the H100 machine's CPU: 5.6e-5
#: and 7.2e-5 vs 6e-7 on our development CPU), so CUDA is held to the same bound as a CPU ...
FIXTURE_TOL = 1e-3
#: ... and must match this machine's CPU to this SDR (tiny fixtures and the full model: long
#: float32 chains on two different libraries).
FULL_MIN_SDR = 60.0
#: bf16/fp16 autocast must keep this SDR against fp32 (the engine's auto bound).
HALF_MIN_SDR = 35.0
CUDA = torch.cuda.is_available()


def out_dir() -> Path:
    p = Path(os.environ.get("OUT") or ROOT / "gpu-check")
    p.mkdir(parents=True, exist_ok=True)
    return p


def record(step: str, result: dict[str, Any]) -> None:
    """Merge ``result`` under ``step`` into results.json and print it."""
    path = out_dir() / "results.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[step] = result
    path.write_text(json.dumps(data, indent=1, default=str))
    print(json.dumps({step: result}, indent=1, default=str), flush=True)


def exact_fp32() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def rel_err(ref: np.ndarray, got: np.ndarray) -> float:
    return float(np.abs(ref - got).max() / max(np.abs(ref).max(), 1e-12))


def step_env(_: argparse.Namespace) -> dict[str, Any]:
    import platform

    r: dict[str, Any] = {"torch": torch.__version__, "cuda_available": CUDA,
                         "cuda": torch.version.cuda, "cpu": platform.processor(),
                         "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                         "threads": torch.get_num_threads()}
    if CUDA:
        p = torch.cuda.get_device_properties(0)
        r.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1),
                 capability=f"{p.major}.{p.minor}", bf16=torch.cuda.is_bf16_supported())
    return r


def step_fixtures(_: argparse.Namespace) -> dict[str, Any]:
    exact_fp32()
    r: dict[str, Any] = {"tolerance": FIXTURE_TOL}
    ok = True
    for ckpt, io_name in (("tiny_checkpoint.pt", "tiny_io.npz"),
                          ("tiny_checkpoint_independent.pt", "tiny_io_independent.npz")):
        io = np.load(FIXTURES / io_name)
        mixes = [torch.from_numpy(io[k]) for k in ("mix_8k", "mix_16k", "mix_32k")]
        res: dict[str, Any] = {}
        outs = {}
        for dev in ("cpu", "cuda") if CUDA else ("cpu",):
            model = load_model(FIXTURES / ckpt, torch.device(dev)).eval()
            with torch.inference_mode():
                outs[dev] = [o.cpu().numpy() for o in model([m.to(dev) for m in mixes])]
            res[f"{dev}_vs_golden"] = max(rel_err(io[k], o) for k, o in
                                          zip(("out_8k", "out_16k", "out_32k"), outs[dev]))
        if CUDA:
            res["cuda_vs_cpu"] = max(rel_err(a, b) for a, b in zip(outs["cpu"], outs["cuda"]))
            res["sdr_cuda_vs_cpu"] = min(sdr(a, b) for a, b in zip(outs["cpu"], outs["cuda"]))
            res["pass"] = (res["cpu_vs_golden"] <= FIXTURE_TOL
                           and res["cuda_vs_golden"] <= FIXTURE_TOL
                           and res["sdr_cuda_vs_cpu"] >= FULL_MIN_SDR)
        else:
            res["cuda_vs_cpu"] = "skipped: no CUDA"
            res["pass"] = res["cpu_vs_golden"] <= FIXTURE_TOL
        ok &= bool(res["pass"])
        r[ckpt] = res
    r["pass"] = ok
    return r


def step_full(a: argparse.Namespace) -> dict[str, Any]:
    exact_fp32()
    seconds = 1.0 if a.quick else 4.0
    model = random_full_model(0).eval()
    model.set_float64_magnitude(True)
    cfg = model.config
    r: dict[str, Any] = {"seconds": seconds, "min_sdr_cuda_vs_cpu": FULL_MIN_SDR,
                         "min_sdr_half": HALF_MIN_SDR}
    x = reference_input(tuple(cfg.sample_rates), cfg.W, seconds, torch.device("cpu"))
    t = time.perf_counter()
    with torch.inference_mode():
        cpu = forward_fn(model, torch.device("cpu"), "fp32")(x).numpy()
    r["cpu_fp32_s"] = round(time.perf_counter() - t, 2)
    if not CUDA:
        r.update(cuda="skipped: no CUDA", pass_=True)
        return r
    dev = torch.device("cuda")
    model = model.to(dev).bake()
    xd = [m.to(dev) for m in x]
    outs = {}
    for prec in ("fp32", "bf16", "fp16"):
        fn = forward_fn(model, dev, prec)
        with torch.inference_mode():
            fn(xd)
            torch.cuda.synchronize()
            t = time.perf_counter()
            outs[prec] = fn(xd).float().cpu().numpy()
            torch.cuda.synchronize()
        r[f"cuda_{prec}_s"] = round(time.perf_counter() - t, 4)
    r["sdr_cuda_vs_cpu_fp32"] = sdr(cpu, outs["fp32"])
    r["max_err_cuda_vs_cpu_fp32"] = rel_err(cpu, outs["fp32"])
    for prec in ("bf16", "fp16"):
        r[f"sdr_{prec}_vs_fp32"] = sdr(outs["fp32"], outs[prec])
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        choice = choose_precision(model, dev, directory=tmp)
    r["auto_choice"] = choice.describe()
    r["pass_"] = (r["sdr_cuda_vs_cpu_fp32"] >= FULL_MIN_SDR
                  and min(r["sdr_bf16_vs_fp32"], r["sdr_fp16_vs_fp32"]) >= HALF_MIN_SDR)
    return r


def step_rtf(a: argparse.Namespace) -> dict[str, Any]:
    import soundfile as sf
    from bench_separate import write_song

    from core.resources import builtin_model_path
    from core.separator import Separator

    seconds = 10.0 if a.quick else 180.0
    dev = "cuda" if CUDA else "cpu"
    r: dict[str, Any] = {"device": dev, "seconds": seconds}
    models: dict[str, Any] = {"builtin": builtin_model_path()}
    if CUDA or not a.quick:
        models["full"] = random_full_model(0)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STEMWEAVE_CACHE_DIR"] = str(Path(tmp) / "cache")
        song = write_song(Path(tmp) / "song.wav", seconds)
        for name, model in models.items():
            outs = {}
            for prec in ("fp32", "auto"):
                if CUDA:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                sep = Separator(model, dev, precision=prec)
                t = time.perf_counter()
                chosen = sep.resolve_precision()
                probe = time.perf_counter() - t
                t = time.perf_counter()
                paths = sep.separate_file(song, Path(tmp) / f"{name}-{prec}", bits="32f")
                wall = time.perf_counter() - t
                outs[prec] = np.stack([sf.read(str(p), dtype="float32")[0].T
                                       for p in paths.values()])
                res = {"precision": chosen, "probe_s": round(probe, 2),
                       "wall_s": round(wall, 2), "rtf": round(wall / seconds, 4)}
                if CUDA:
                    res["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
                if sep.precision_choice is not None:
                    res["choice"] = sep.precision_choice.describe()
                if prec != "fp32":
                    res["sdr_vs_fp32"] = round(sdr(outs["fp32"], outs[prec]), 1)
                r[f"{name}_{prec}"] = res
                print(name, prec, res, flush=True)
    return r


def step_prepare(a: argparse.Namespace) -> dict[str, Any]:
    from training.prepared import init_dataset, list_songs, write_song

    root = Path(a.dir)
    init_dataset(root)
    rng = np.random.default_rng(0)
    for k in range(2):
        stems = (0.1 * rng.standard_normal((4, 2, 6 * 8000))).astype(np.float32)
        write_song(root, "train", f"noise{k}", stems, 8000)
    return {"songs": len(list_songs(root, "train")), "dir": str(root)}


STEPS = {"env": step_env, "fixtures": step_fixtures, "full": step_full, "rtf": step_rtf,
         "prepare": step_prepare}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=sorted(STEPS))
    ap.add_argument("dir", nargs="?", default=None, help="prepare: the dataset folder")
    ap.add_argument("--quick", action="store_true", help="short inputs (CPU dry run)")
    a = ap.parse_args()
    t = time.perf_counter()
    try:
        result = STEPS[a.step](a)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, then the step fails
        record(a.step, {"error": f"{type(exc).__name__}: {exc}",
                        "seconds_taken": round(time.perf_counter() - t, 1)})
        raise
    result["seconds_taken"] = round(time.perf_counter() - t, 1)
    if "pass_" in result:
        result["pass"] = result.pop("pass_")
    record(a.step, result)
    if result.get("pass") is False:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
