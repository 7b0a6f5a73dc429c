"""The training loop: single process (CPU or one GPU) or DistributedDataParallel under torchrun.

A run directory holds::

    RUN/config.json            the run's settings and model configuration (written at start)
    RUN/last.safetensors       latest weights, native format (core.save_model)
    RUN/last_state.pt          optimiser, scheduler, AMP scaler, RNG and counters for resume
                               (torch.save of tensors and plain types; read with weights_only)
    RUN/best.safetensors       weights with the best validation SI-SNR (last stage, mean of stems)
    RUN/history.jsonl          one JSON line per optimiser step (loss, grad norm, lr) and epoch
    RUN/tb/                    TensorBoard logs

Resuming (``resume=True``) restores everything above, so the resumed run produces the same
losses as an uninterrupted one (same hardware and thread count). The data stream is a pure
function of the seed and the step (see :mod:`training.data`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from core.checkpoint import load_model, save_model
from core.config import STEMS, ModelConfig
from core.errors import DataError, StemweaveError
from core.families import read_header
from core.families.metatasnet import MetaTasNetFamily
from core.fileio import atomic_path
from core.model import MetaTasNet
from core.model_store import resolve_model
from core.precision import cpu_bf16_native
from core.separator import Separator
from training.config import TrainConfig
from training.data import (
    AugmentConfig,
    CropDataset,
    StepBatchSampler,
    batch_to_lists,
    collate,
    compute_spectrogram_stats,
)
from training.grow import check_growth, grow_layers
from training.losses import LossWeights, si_snr, training_forward
from training.optim import build_optimizer, build_scheduler
from training.prepared import RATES, list_songs

log = logging.getLogger(__name__)

STATE_VERSION = 1


class TrainingModule(nn.Module):
    """Wraps the model so that DDP sees the whole training forward (loss included).

    ``forward(mixes, sources, masks)`` returns ``(loss, stats)``; see
    :func:`training.losses.training_forward`.
    """

    def __init__(self, model: MetaTasNet, weights: LossWeights) -> None:
        super().__init__()
        self.model = model
        self.weights = weights

    def forward(self, mixes: list[torch.Tensor], sources: list[torch.Tensor],
                masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return training_forward(self.model, mixes, sources, masks, self.weights)


# ----------------------------------------------------------------------------- distributed


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: str) -> _Dist:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), or stay single."""
    if dist.is_available() and dist.is_initialized():
        return _Dist(dist.get_rank(), dist.get_world_size(),
                     int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    use_cuda = torch.cuda.is_available() and device != "cpu"
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(),
                 int(os.environ.get("LOCAL_RANK", "0")), owns_group=True)


def _pick_device(name: str, d: _Dist) -> torch.device:
    from core.device import pick_device

    dev = pick_device(name)
    if dev.type == "cuda" and d.world > 1:
        dev = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(dev)
    return dev


# ----------------------------------------------------------------------------- model


def _init_config(path: Path) -> ModelConfig:
    """The configuration of the ``--init`` checkpoint (from the header where it has one; the
    authors' ``.pt`` files have none and are read whole)."""
    header = read_header(path)
    if header.family != "metatasnet":
        raise DataError(f"{path.name}: training takes Meta-TasNet weights, not {header.family}")
    return header.config if header.meta else load_model(path).config


def build_model(cfg: TrainConfig) -> tuple[MetaTasNet, bool]:
    """The model to train and whether its spectrogram statistics still need computing."""
    if cfg.init:
        path = resolve_model(cfg.init)
        log.info("initial weights: %s", path)
        model = load_model(path)
        if cfg.grow_layers is not None:
            model = grow_layers(model, cfg.grow_layers, seed=cfg.seed)
        model.bake(False)
        return model.train(), cfg.recompute_stats
    torch.manual_seed(cfg.seed)
    return MetaTasNet(cfg.model_config()).train(), True


# ----------------------------------------------------------------------------- state


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path: Path, state: dict[str, Any]) -> None:
    """Write the resume state atomically (tensors and plain Python types only)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_training_state(path: Path) -> dict[str, Any]:
    """Read :func:`save_training_state` output with ``weights_only=True``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means a corrupt or foreign file
        raise DataError(f"cannot read the training state {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise DataError(f"{path} is not a Stemweave training state")
    return state


# ----------------------------------------------------------------------------- validation


def _make_separator(model: MetaTasNet, device: torch.device, segment_s: float,
                    window_s: float | None = None) -> Separator:
    """The separation engine over a copy of ``model`` (the engine puts its model in inference
    mode: eval, baked, no grad; the training model must stay as it is). Always float32: scores
    stay comparable from one validation to the next, and no precision probe runs (the weights,
    and so the probe's cache key, change at every validation). Without the Wiener post-filter:
    validation scores the network itself, run in the network window its checkpoints will name
    (``window_s``; ``None``: the whole engine window), as the app will run it."""
    return Separator(MetaTasNetFamily(copy.deepcopy(model), window_s), device=str(device),
                     segment_s=segment_s, precision="fp32", wiener=False)


@torch.no_grad()
def validate(model: MetaTasNet, data: str | Path, device: torch.device, segment_s: float = 8.0,
             max_songs: int | None = None, max_s: float | None = None,
             window_s: float | None = None) -> dict[str, float] | None:
    """SI-SNR of the last stage on whole validation songs (both channels).

    Separation goes through ``core.separator.Separator`` (segmented inference), as in use, with
    the network run in ``window_s``-second sub-windows when given (``--network-window``).

    Returns:
        ``{"sisnr": mean over stems, "sisnr_<stem>": ...}`` or ``None`` without validation songs.
    """
    songs = list_songs(data, "valid")[:max_songs]
    if not songs:
        return None
    was_training = model.training
    model.eval()
    stages = len(model.stages)
    rates = RATES[:stages]
    last = rates[-1]
    separator = _make_separator(model, device, segment_s, window_s)
    stems = separator.stems
    sums = np.zeros(len(stems))
    counts = np.zeros(len(stems))
    try:
        for song in songs:
            n8 = song.frames_8k if not max_s else min(song.frames_8k, int(max_s * rates[0]))
            truth = np.array(song.audio(last)[..., : n8 * (last // rates[0])], np.float32)
            est = separator.separate(truth.sum(0), last)
            est = np.asarray(est, np.float32)[..., : truth.shape[-1]]
            t = torch.from_numpy(truth[..., : est.shape[-1]]).permute(1, 0, 2).unsqueeze(2)
            e = torch.from_numpy(est).permute(1, 0, 2).unsqueeze(2)  # (ch, 4, 1, T)
            present = (t.pow(2).mean(-1) > 1e-8).float()  # (ch, 4, 1)
            sdr = si_snr(e.double(), t.double(), present.double())
            has = present.sum(dim=(0, 2)) > 0
            sums += np.where(has.numpy(), sdr.numpy(), 0.0)
            counts += has.numpy()
    finally:
        model.train(was_training)
    per = sums / np.maximum(counts, 1)
    valid = counts > 0
    result = {"sisnr": float(per[valid].mean()) if valid.any() else float("nan")}
    for name, value, ok in zip(stems, per, valid):
        if ok:
            result[f"sisnr_{name}"] = float(value)
    return result


# ----------------------------------------------------------------------------- loop


def _amp_settings(mode: str, device: torch.device) -> tuple[bool, torch.dtype]:
    if mode == "bf16" and device.type == "cpu":
        # CPU bf16 autocast pays only where the CPU has native bf16 (AVX512-BF16/AMX): measured
        # 1.13 vs 1.32 s per built-in-model step there, many times slower on AVX2 (docs/training.md)
        if not cpu_bf16_native():
            log.warning("this CPU has no native bfloat16 (AVX512-BF16/AMX); training in float32")
            return False, torch.float32
        return True, torch.bfloat16
    if mode == "off" or device.type != "cuda":
        if mode in ("fp16", "bf16") and device.type != "cuda":
            log.warning("mixed precision is only used on CUDA and, as bf16, on CPUs with native "
                        "bfloat16; training in float32")
        return False, torch.float32
    if mode == "fp16":
        return True, torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return True, torch.bfloat16
    return True, torch.float16


def _write_json(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _append_history(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _ignore_sigint(worker_id: int) -> None:
    """Loader workers leave Ctrl-C to the main process, which stops at a step boundary."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _loader(dataset: CropDataset, sampler: StepBatchSampler, workers: int) -> Iterator[Any]:
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate,
                        persistent_workers=False, pin_memory=torch.cuda.is_available(),
                        prefetch_factor=2 if workers > 0 else None,
                        worker_init_fn=_ignore_sigint if workers > 0 else None)
    return iter(loader)


def train(cfg: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train (or resume) a run.

    Args:
        cfg: the run's settings (ignored except ``steps``, ``workers``, ``device``, ``threads``,
            ``progress`` and ``max_minutes`` when resuming: the recorded ``config.json`` wins).
        resume: continue the run in ``cfg.out`` from its last saved state.

    Returns:
        a summary: ``steps``, ``loss`` (last), ``best_sisnr``, ``run`` (the folder).

    Raises:
        DataError: no data, an existing run without ``resume``, or a bad state file.
    """
    out = Path(cfg.out)
    state_path = out / "last_state.pt"
    if resume:
        if not state_path.is_file():
            raise DataError(f"nothing to resume in {out} (no last_state.pt)")
        recorded = TrainConfig.from_dict(json.loads((out / "config.json").read_text()))
        cfg = dataclasses.replace(recorded, steps=cfg.steps, workers=cfg.workers,
                                  device=cfg.device, progress=cfg.progress, threads=cfg.threads,
                                  max_minutes=cfg.max_minutes)
    elif state_path.exists():
        raise DataError(f"{out} already holds a run; pass --resume to continue it "
                        "or choose another --out")
    if cfg.grow_layers is not None and not cfg.init:
        raise DataError("--grow-layers grows a trained model: pass --init too")
    if cfg.init and not resume:
        init = resolve_model(cfg.init)  # a wrong --init is reported before anything else
        if cfg.grow_layers is not None:
            check_growth(_init_config(init), cfg.grow_layers)
    songs = list_songs(cfg.data, "train")
    if not songs:
        raise DataError(f"no prepared training songs in {cfg.data}/train "
                        "(run `stemweave prepare` first)")

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    d = _setup_distributed(cfg.device)
    device = _pick_device(cfg.device, d)
    try:
        return _train(cfg, resume, d, device, songs, out, state_path)
    finally:
        if d.owns_group:
            dist.destroy_process_group()


def _train(cfg: TrainConfig, resume: bool, d: _Dist, device: torch.device, songs: list[Any],
           out: Path, state_path: Path) -> dict[str, Any]:
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
    if resume:
        model = load_model(out / "last.safetensors").train()
        model.bake(False)
        need_stats = False
    else:
        model, need_stats = build_model(cfg)
    stages = len(model.stages)
    rates = RATES[:stages]
    augment = AugmentConfig(crop_s=cfg.crop_s, gain_min=cfg.gain_min, gain_max=cfg.gain_max,
                            remix_p=cfg.remix_p, silence_rms=cfg.silence_rms,
                            hop=model.config.W, eq_db=cfg.eq_db)
    dataset = CropDataset(songs, cfg.seed, cfg.batch_size, rates, augment)
    if need_stats:
        log.info("computing spectrogram statistics on %d crops", cfg.stats_crops)
        stats_bar = None
        if d.main and cfg.progress:  # seconds of work before the first step: say so
            from tqdm import tqdm

            stats_bar = tqdm(total=cfg.stats_crops, desc="spectrogram statistics", unit="crop",
                             file=sys.stderr, dynamic_ncols=True, leave=False)

        def stats_progress(done: int, total: int) -> None:
            if stats_bar is not None:
                stats_bar.n = done
                stats_bar.refresh()

        try:
            compute_spectrogram_stats(model, dataset, cfg.stats_crops, progress=stats_progress)
        finally:
            if stats_bar is not None:
                stats_bar.close()
    model.to(device)
    if d.main and not resume:
        meta = cfg.to_json()
        _write_json(out / "config.json", meta)
        _write_json(out / "model_config.json", model.config.to_json())

    weights = LossWeights(cfg.reconstruction_weight, cfg.dissimilarity_weight,
                          cfg.similarity_weight, tuple(cfg.stem_weights))
    module: nn.Module = TrainingModule(model, weights)
    if d.world > 1:
        # The last TCN block's residual convolution feeds nothing (only skips are summed), so
        # some parameters never get a gradient: DDP must be told to look for them.
        module = nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)
    optimizer = build_optimizer(model.parameters(), cfg.lr, cfg.betas, cfg.eps, cfg.weight_decay,
                                cfg.lookahead_k, cfg.lookahead_alpha)
    scheduler = build_scheduler(optimizer, cfg.sgdr_period, cfg.sgdr_decay)
    use_amp, amp_dtype = _amp_settings(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    step, best = 0, -math.inf
    if resume:
        state = load_training_state(state_path)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        step, best = int(state["step"]), float(state["best"])
        if step >= cfg.steps:
            raise DataError(f"the run in {out} has already done {step} steps; pass --steps "
                            f"larger than {step} to continue it")
    else:
        torch.manual_seed(cfg.seed + 1000 * d.rank)

    history = out / "history.jsonl"
    writer = None
    if d.main and resume:
        _truncate_history(history, step)
    if d.main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"), purge_step=step if resume else None)

    def save_state(tag: str = "last") -> None:
        if not d.main:
            return
        info = {"step": str(step), "run": str(out.name), "seed": str(cfg.seed)}
        save_model(model, out / f"{tag}.safetensors", extra=info,
                   window_s=cfg.network_window_s)
        if tag == "last":
            save_training_state(state_path, {
                "version": STATE_VERSION, "step": step, "best": best,
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": _rng_state(),
            })

    remaining = max(cfg.steps - step, 0)
    sampler = StepBatchSampler(cfg.batch_size, cfg.accum, d.rank, d.world, step, remaining)
    batches = _loader(dataset, sampler, cfg.workers) if remaining else iter(())
    bar = None
    if d.main and cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", file=sys.stderr,
                   dynamic_ncols=True)
    last_loss = float("nan")
    t0 = time.perf_counter()
    samples = 0
    stop = _StopFlag()
    try:
        while step < cfg.steps:
            if stop.requested:
                raise KeyboardInterrupt
            optimizer.zero_grad(set_to_none=True)
            loss_sum = 0.0
            stats_sum = None
            for a in range(cfg.accum):
                batch = next(batches)
                mixes, sources, masks = batch_to_lists(batch, rates, device)
                sync = a == cfg.accum - 1 or not isinstance(
                    module, nn.parallel.DistributedDataParallel)
                ctx = contextlib.nullcontext() if sync else module.no_sync()
                with ctx:
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                        loss, stats = module(mixes, sources, masks)
                    scaler.scale(loss / cfg.accum).backward()
                loss_sum += float(loss.detach()) / cfg.accum
                part = stats.detach() / cfg.accum
                stats_sum = part if stats_sum is None else stats_sum + part
                samples += mixes[0].shape[0]
            scaler.unscale_(optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip))
            if math.isfinite(grad_norm) or scaler.is_enabled():
                scaler.step(optimizer)
            else:
                log.warning("step %d: non-finite gradient norm, update skipped", step)
            scaler.update()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            step += 1
            last_loss = loss_sum
            out_of_time = (cfg.max_minutes is not None
                           and time.perf_counter() - t0 >= cfg.max_minutes * 60)
            if d.world > 1:
                # mean loss for the log, and a Ctrl-C or the time limit seen by any process
                # stops all of them after the same step
                t = torch.tensor([loss_sum, float(stop.requested), float(out_of_time)],
                                 device=device)
                dist.all_reduce(t)
                last_loss = float(t[0]) / d.world
                stop.requested = bool(t[1] > 0)
                out_of_time = bool(t[2] > 0)
            if d.main:
                _append_history(history, {"step": step, "loss": last_loss,
                                          "grad_norm": grad_norm, "lr": lr})
                if writer is not None and (step % cfg.log_every == 0 or step == 1):
                    _log_stats(writer, step, last_loss, grad_norm, lr, stats_sum, stages)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{last_loss:.3f}", lr=f"{lr:.2e}")
            if step % cfg.steps_per_epoch == 0 or step == cfg.steps or out_of_time:
                epoch = step // cfg.steps_per_epoch
                best = _end_of_epoch(cfg, d, model, device, writer, history, step, epoch, best,
                                     save_state)
                save_state("last")
            if out_of_time:
                log.warning("time limit of %g min reached at step %d: validated and saved "
                            "(continue with --resume)", cfg.max_minutes, step)
                break
    except KeyboardInterrupt:
        if stop.requested:  # between two steps: the state is consistent
            log.warning("interrupted at step %d; saving the state to resume", step)
            save_state("last")
        raise
    finally:
        stop.restore()
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    if d.main and not (out / "last.safetensors").exists():
        save_state("last")  # a zero-step run still leaves the initial weights and statistics
    elapsed = time.perf_counter() - t0
    return {"steps": step, "loss": last_loss, "best_sisnr": best if best > -math.inf else None,
            "run": str(out), "samples_per_s": samples * d.world / elapsed if elapsed else None}


class _StopFlag:
    """The first Ctrl-C asks the loop to stop after the current step (so that the saved state
    is consistent); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("stopping after this step (Ctrl-C again to abort without saving)")

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _truncate_history(path: Path, step: int) -> None:
    """Drop history lines written after the state being resumed (a crash after logging)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
        if int(rec.get("step", 0)) <= step:
            keep.append(line)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(x + "\n" for x in keep), encoding="utf-8")


def _log_stats(writer: Any, step: int, loss: float, grad_norm: float, lr: float,
               stats: torch.Tensor | None, stages: int) -> None:
    writer.add_scalar("train/loss", loss, step)
    writer.add_scalar("train/grad_norm", grad_norm, step)
    writer.add_scalar("train/lr", lr, step)
    if stats is None:
        return
    s = stats.detach().float().cpu().tolist()
    for i in range(stages):
        for j, name in enumerate(STEMS):
            writer.add_scalar(f"train_sisnr_stage{i}/{name}", s[4 * i + j], step)
    writer.add_scalar("train/reconstruction_sisnr", s[4 * stages], step)
    writer.add_scalar("train/dissimilarity", s[4 * stages + 1], step)
    writer.add_scalar("train/similarity", s[4 * stages + 2], step)


def _end_of_epoch(cfg: TrainConfig, d: _Dist, model: MetaTasNet, device: torch.device,
                  writer: Any, history: Path, step: int, epoch: int, best: float,
                  save_state: Any) -> float:
    if not d.main:
        if d.world > 1:
            dist.barrier()
        return best
    try:
        result = validate(model, cfg.data, device, cfg.valid_segment_s, cfg.valid_songs,
                          cfg.valid_max_s, cfg.network_window_s)
    except StemweaveError:
        raise
    if result is not None:
        log.info("epoch %d (step %d): validation SI-SNR %.3f dB", epoch, step, result["sisnr"])
        if writer is not None:
            for k, v in result.items():
                writer.add_scalar(f"valid/{k}", v, step)
        _append_history(history, {"epoch": epoch, "step": step, "valid": result})
        if math.isfinite(result["sisnr"]) and result["sisnr"] > best:
            best = result["sisnr"]
            save_state("best")
    if d.world > 1:
        dist.barrier()
    return best
