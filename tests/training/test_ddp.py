"""DistributedDataParallel (two gloo processes on the CPU, launched by torchrun) takes the same
step as one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from stemweave.cli import main
from tests.training.conftest import TINY_MODEL, TINY_RUN
from training.data import AugmentConfig, CropDataset
from training.prepared import list_songs

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("one_thread")


def test_two_gloo_processes_match_one_process(tmp_path: Path, prepared: Path) -> None:
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this PyTorch build has no gloo backend")
    # Per-rank losses are averaged by DDP; the batch-level terms (masked SI-SNR means,
    # dissimilarity counts) then equal the one-process batch when every stem is present, and
    # the similarity term (which pairs neighbouring batch items) is switched off.
    ds = CropDataset(list_songs(prepared, "train"), seed=42, batch_size=2,
                     augment=AugmentConfig(crop_s=0.5))
    assert all(ds[i]["masks"].all() for i in range(2))
    args = ["train", "--data", str(prepared), *TINY_MODEL, *TINY_RUN, "--steps", "1",
            "--similarity-weight", "0", "--valid-songs", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    ddp = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "stemweave", *args, "--out", str(ddp)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    single, accum = tmp_path / "single", tmp_path / "accum"
    assert main([*args, "--out", str(single)]) == 0
    assert main([*args, "--out", str(accum), "--accum", "2"]) == 0

    before = load_file(str(ddp / "last.safetensors"))
    for other in (single, accum):
        theirs = load_file(str(other / "last.safetensors"))
        moved = 0
        for k, v in before.items():
            np.testing.assert_allclose(theirs[k].numpy(), v.numpy(), rtol=0, atol=1e-6,
                                       err_msg=f"{other.name}: {k}")
            moved += int(k.endswith("weight"))
        assert moved > 10
    # the step really changed the weights (compare against a zero-step run's initial weights)
    init = tmp_path / "init"
    assert main([*args, "--out", str(init), "--steps", "0"]) == 0
    start = load_file(str(init / "last.safetensors"))
    changed = sum(not np.array_equal(start[k].numpy(), before[k].numpy()) for k in before)
    assert changed > len(before) // 2


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "stemweave", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300)


def test_ddp_with_the_default_loss_weights_and_resume(tmp_path: Path, prepared: Path) -> None:
    """Two processes with every loss term on (the similarity term pairs batch items across
    ranks' halves), then the same run interrupted after one step and resumed: same weights."""
    import json

    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this PyTorch build has no gloo backend")
    args = ["train", "--data", str(prepared), *TINY_MODEL, *TINY_RUN, "--valid-songs", "0",
            "--steps-per-epoch", "1"]
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    proc = _torchrun([*args, "--steps", "2", "--out", str(whole)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = [json.loads(line) for line in (whole / "history.jsonl").read_text().splitlines()]
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses and all(np.isfinite(losses)), history
    proc = _torchrun([*args, "--steps", "1", "--out", str(halves)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _torchrun([*args, "--steps", "2", "--out", str(halves), "--resume"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_file(str(whole / "last.safetensors"))
    b = load_file(str(halves / "last.safetensors"))
    for k, v in a.items():
        np.testing.assert_allclose(b[k].numpy(), v.numpy(), rtol=0, atol=1e-6, err_msg=k)
