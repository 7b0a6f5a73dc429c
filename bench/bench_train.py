"""Training throughput of Meta-TasNet (samples/s), default: the paper's full configuration.

Runs the real training step (``training.losses.training_forward`` through
``training.train.TrainingModule``, backward, gradient clipping, RAdam + Lookahead, the
learning-rate schedule) on crops drawn by ``training.data.CropDataset`` from a small generated
prepared dataset, and prints seconds per step and samples (crops) per second after warm-up.
On CUDA it uses the same mixed precision as ``stemweave train`` (bf16 where supported).

Usage::

    .venv/bin/python bench/bench_train.py                         # CPU, full model, batch 1
    .venv/bin/python bench/bench_train.py --device cuda --batch-size 6
    .venv/bin/python bench/bench_train.py --config '{"N": 64, "B": 64, "H": 64}' --crop-s 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import MetaTasNet, ModelConfig  # noqa: E402
from core.device import pick_device  # noqa: E402
from training.data import AugmentConfig, CropDataset, batch_to_lists, collate  # noqa: E402
from training.losses import LossWeights  # noqa: E402
from training.optim import build_optimizer, build_scheduler  # noqa: E402
from training.prepared import RATES, init_dataset, list_songs, write_song  # noqa: E402
from training.train import TrainingModule, _amp_settings  # noqa: E402


def _dataset(root: Path, seconds: float) -> list:
    init_dataset(root)
    rng = np.random.default_rng(0)
    for k in range(2):
        stems = (0.1 * rng.standard_normal((4, 2, int(seconds * 8000)))).astype(np.float32)
        write_song(root, "train", f"noise{k}", stems, 8000)
    return list_songs(root, "train")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--config", default="{}", help="ModelConfig fields as JSON (default: full)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 1 on CPU, 6 on CUDA")
    ap.add_argument("--crop-s", type=float, default=8.0)
    ap.add_argument("--steps", type=int, default=2, help="timed steps")
    ap.add_argument("--warmup", type=int, default=None,
                    help="untimed warm-up steps (default 1 on CUDA, 0 on the CPU)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--amp", default="auto", choices=["auto", "off", "fp16", "bf16"])
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    batch = args.batch_size or (6 if device.type == "cuda" else 1)
    config = ModelConfig.from_dict(json.loads(args.config))
    torch.manual_seed(0)
    model = MetaTasNet(config).train().to(device)
    rates = RATES[: config.stages_num]
    with tempfile.TemporaryDirectory() as tmp:
        songs = _dataset(Path(tmp), max(args.crop_s + 1, 4.0))
        ds = CropDataset(songs, 0, batch, rates, AugmentConfig(crop_s=args.crop_s, hop=config.W))
        module = TrainingModule(model, LossWeights())
        opt = build_optimizer(model.parameters())
        sched = build_scheduler(opt, 200_000)
        use_amp, dtype = _amp_settings(args.amp, device)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and dtype == torch.float16)
        warmup = args.warmup if args.warmup is not None else int(device.type == "cuda")
        times = []
        for step in range(warmup + args.steps):
            items = collate([ds[step * batch + i] for i in range(batch)])
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            mixes, sources, masks = batch_to_lists(items, rates, device)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
                loss, _ = module(mixes, sources, masks)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(opt)
            scaler.update()
            sched.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            print(f"step {step}: {times[-1]:.2f} s, loss {float(loss.detach()):.2f}"
                  + (" (warm-up)" if step < warmup else ""), flush=True)
    per_step = float(np.mean(times[warmup:]))
    params = sum(p.numel() for p in model.parameters())
    print(f"device {device} ({torch.get_num_threads()} threads), model {params / 1e6:.1f} M "
          f"parameters, {config.stages_num} stages, batch {batch} x {args.crop_s:g} s crops, "
          f"amp {'on ' + str(dtype) if use_amp else 'off'}")
    print(f"{per_step:.2f} s/step, {batch / per_step:.3f} samples/s "
          f"({batch * args.crop_s / per_step:.2f} audio-s/s)")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
