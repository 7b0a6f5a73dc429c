"""``stemweave prepare``, ``stemweave train`` and ``stemweave evaluate``: custom weights.

See ``docs/training.md`` for the full recipe, the run-folder layout and multi-GPU commands.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.options import check_segment
from stemweave.cmd_separate import checked

#: model-configuration flags -> ModelConfig field
MODEL_FLAGS = {
    "N": int, "L": int, "W": int, "B": int, "H": int, "layers": int, "stack": int,
    "kernel": int, "filters": int, "num_mels": int, "E_1": int, "E_2": int, "stages": int,
}

#: help of each model flag (the default, the paper's full model, is added from ModelConfig)
MODEL_HELP = {
    "N": "latent channels of the first stage (doubled per stage)",
    "L": "encoder/decoder kernel length in samples at the first stage",
    "W": "encoder stride / decoder hop in samples at the first stage",
    "B": "bottleneck channels of the masking TCN (multiple of 8)",
    "H": "hidden channels inside each TCN block (multiple of 8)",
    "layers": "TCN blocks per stack (dilations 1, 2, ..., 2**(layers-1))",
    "stack": "number of TCN stacks",
    "kernel": "depthwise kernel size inside TCN blocks",
    "filters": "parallel encoder filterbanks (kernels L, 2L, 4L, ...)",
    "num_mels": "channels of the learnable log-spectrogram branch",
    "E_1": "instrument embedding size",
    "E_2": "generator bottleneck size",
    "stages": "number of stages (8, 16, 32 kHz, ...)",
}


class DefaultsHelp(argparse.HelpFormatter):
    """Adds ``(default: X)`` to every option's help that has a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("(default" in text or action.required or action.default is None
                or action.default is False or action.default == argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def show_progress(no_progress: bool) -> bool:
    """Progress bars only on a terminal (never into a log file), and not with --no-progress."""
    return not no_progress and sys.stderr.isatty()


def add_parser(sub: Any) -> None:
    """Register the three subcommands."""
    _add_prepare(sub)
    _add_train(sub)
    _add_evaluate(sub)


# ----------------------------------------------------------------------------- prepare


def _add_prepare(sub: Any) -> None:
    p = sub.add_parser(
        "prepare", help="resample a stem collection to 8/16/32 kHz for training",
        formatter_class=DefaultsHelp,
        description="Prepare MUSDB18, MUSDB18-HQ or a folder of song folders (each holding "
        "drums/bass/other/vocals audio files; extra stems go into 'other', a missing stem is "
        "silence) for training. Re-running skips finished songs.",
    )
    p.add_argument("source", help="MUSDB18 root, MUSDB18-HQ root, or a folder of song folders")
    p.add_argument("--out", required=True, help="prepared dataset folder to create or extend")
    p.add_argument("--format", choices=["auto", "musdb", "musdb-hq", "folder"], default="auto",
                   help="source layout (auto: MUSDB18 if train/ holds .stem.mp4 files, "
                   "MUSDB18-HQ if train/ and test/ hold song folders with mixture.wav, else a "
                   "generic folder)")
    p.add_argument("--seed", type=int, default=42, help="seed of the generic folder's split")
    p.add_argument("--valid-fraction", type=float, default=0.1,
                   help="share of songs for validation (generic folder)")
    p.add_argument("--test-fraction", type=float, default=0.0,
                   help="share of songs for testing (generic folder)")
    p.add_argument("--resampler", choices=["soxr", "resampy"], default="soxr",
                   help="resampling library (resampy: the authors' kaiser_best filter, slower)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none when stderr is not a terminal)")
    p.set_defaults(run=run_prepare)


def _detect_format(source: str) -> str:
    from pathlib import Path

    root = Path(source)
    train = root / "train"
    if train.is_dir() and any(train.glob("*.stem.mp4")):
        return "musdb"
    if train.is_dir() and (root / "test").is_dir() and any(train.glob("*/mixture.wav")):
        return "musdb-hq"
    return "folder"


def _progress_bar(enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def update(done: int, total: int, name: str) -> None:
        if not enabled:
            return
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=desc, unit="song", file=sys.stderr)
        bar = state["bar"]
        bar.n = done
        bar.set_postfix_str(name[:30])
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def run_prepare(args: argparse.Namespace) -> int:
    """Run ``stemweave prepare``."""
    from training.prepare import prepare_folder, prepare_musdb

    fmt = _detect_format(args.source) if args.format == "auto" else args.format
    progress = _progress_bar(show_progress(args.no_progress), "prepare")
    if fmt == "folder":
        report = prepare_folder(args.source, args.out, args.seed, args.valid_fraction,
                                args.test_fraction, args.resampler, progress)
    else:
        report = prepare_musdb(args.source, args.out, is_wav=fmt == "musdb-hq",
                               resampler=args.resampler, progress=progress)
    w = report.written
    print(f"prepared {report.root}: {w['train']} train, {w['valid']} valid, {w['test']} test "
          f"songs written, {report.skipped} already done")
    return 0


# ----------------------------------------------------------------------------- train


def _stem_weights(text: str) -> tuple[float, float, float, float]:
    """Parse ``--stem-weights``: four non-negative numbers separated by commas."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or any(not v >= 0 for v in values) or not any(values):
        raise argparse.ArgumentTypeError(
            f"expected four non-negative weights such as 1,1,2,1, got {text!r}")
    return values  # type: ignore[return-value]


def _add_train(sub: Any) -> None:
    from training.config import TrainConfig

    d = TrainConfig()
    from core.config import ModelConfig

    m = ModelConfig()
    p = sub.add_parser(
        "train", help="train or fine-tune a Meta-TasNet model",
        formatter_class=DefaultsHelp,
        description="Train Meta-TasNet on a prepared dataset with the paper's recipe "
        "(RAdam+Lookahead, cosine warm restarts, 8-s crops with remixing). Multi-GPU: launch "
        "with torchrun (see docs/training.md).",
    )
    p.add_argument("--data", required=True, help="prepared dataset folder")
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, config)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--init", metavar="PATH_OR_NAME",
                   help="fine-tune from a checkpoint (native .safetensors, the authors' .pt, "
                   "or 'builtin'); its configuration replaces the model flags")
    p.add_argument("--recompute-stats", action="store_true",
                   help="with --init: recompute spectrogram statistics from this data")
    p.add_argument("--grow-layers", type=int, default=None, metavar="N",
                   help="with --init: append TCN blocks so each stack has N (dilations "
                   "continue doubling: a longer receptive field); the new blocks start as the "
                   "identity, so training starts from the checkpoint's quality")
    g = p.add_argument_group("model (fresh training; defaults are the paper's full model)")
    for name in MODEL_FLAGS:
        flags = ["--" + name] + (["--" + name.replace("_", "-")] if "_" in name else [])
        field = "stages_num" if name == "stages" else name
        g.add_argument(*flags, dest=f"model_{name}", type=MODEL_FLAGS[name], default=None,
                       help=f"{MODEL_HELP[name]} (default: {getattr(m, field)})")
    g.add_argument("--independent-params", action="store_true",
                   help="ablation: per-instrument weights instead of generated ones")
    g.add_argument("--dropout", type=float, default=None,
                   help=f"Dropout2d on the masking input, training only (default: {m.dropout})")
    t = p.add_argument_group("training")
    t.add_argument("--steps", type=int, default=d.steps, help="total optimiser steps")
    t.add_argument("--steps-per-epoch", type=int, default=d.steps_per_epoch,
                   help="validate and checkpoint every this many steps")
    t.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this many minutes of training, validated and saved like a "
                   "finished run (continue later with --resume)")
    t.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="global batch per optimiser step (over all processes)")
    t.add_argument("--accum", type=int, default=d.accum, help="gradient accumulation steps")
    t.add_argument("--crop-s", type=float, default=d.crop_s, help="training crop in seconds")
    t.add_argument("--remix-p", type=float, default=d.remix_p,
                   help="share of each batch with stems from different songs")
    t.add_argument("--eq-db", type=float, default=d.eq_db,
                   help="random equaliser per stem and crop, up to this many dB up or down at "
                        "seven frequencies (0: off; varies timbres beyond the training sounds)")
    t.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    t.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help="weight decay of the optimiser")
    t.add_argument("--sgdr-period", type=int, default=d.sgdr_period,
                   help="steps between cosine warm restarts")
    t.add_argument("--sgdr-decay", type=float, default=d.sgdr_decay,
                   help="peak learning-rate factor per restart")
    t.add_argument("--clip", type=float, default=d.clip, help="gradient norm clip")
    t.add_argument("--reconstruction-weight", type=float, default=d.reconstruction_weight,
                   help="weight of the auxiliary loss: the mixture through encoder and "
                   "decoder alone")
    t.add_argument("--dissimilarity-weight", type=float, default=d.dissimilarity_weight,
                   help="weight of the loss keeping the encoded stems of one song apart")
    t.add_argument("--similarity-weight", type=float, default=d.similarity_weight,
                   help="weight of the loss making one stem's encodings alike across songs")
    t.add_argument("--stem-weights", type=_stem_weights, default=d.stem_weights,
                   metavar="D,B,O,V",
                   help="weights of the drums, bass, other and vocals SI-SNR terms, e.g. "
                        "1,1,2,1 to spend more of the model on 'other' (default: 1,1,1,1)")
    t.add_argument("--network-window", type=checked(check_segment), default=None, metavar="SECONDS",
                   help="write this network window into the saved weights: the engine then "
                        "runs the network on sub-windows of at most this length inside its "
                        "window (the built-in model: 4.2; docs/engine.md)")
    t.add_argument("--stats-crops", type=int, default=d.stats_crops,
                   help="training crops for the spectrogram statistics")
    t.add_argument("--seed", type=int, default=d.seed, help="seed of weights, crops and remixing")
    t.add_argument("--workers", type=int, default=d.workers, help="data loader processes")
    t.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N")
    t.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (1 is much faster on a busy machine)")
    t.add_argument("--amp", choices=["auto", "off", "fp16", "bf16"], default=d.amp,
                   help="mixed precision: auto = bf16/fp16 on CUDA, float32 on CPU; bf16 also on "
                        "CPUs with native bfloat16 (AVX512-BF16/AMX), where it is faster "
                        "(default: %(default)s)")
    t.add_argument("--valid-songs", type=int, default=None,
                   help="validate on at most this many songs (0: no validation)")
    t.add_argument("--valid-max-s", type=float, default=None,
                   help="crop validation songs to this many seconds")
    t.add_argument("--log-every", type=int, default=d.log_every,
                   help="write loss statistics (TensorBoard, history.jsonl) every this many steps")
    t.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none when stderr is not a terminal)")
    p.set_defaults(run=run_train)


def train_config_from_args(args: argparse.Namespace) -> Any:
    """Build a :class:`training.train.TrainConfig` from parsed ``train`` arguments."""
    from training.config import TrainConfig

    model: dict[str, Any] = {}
    for name in MODEL_FLAGS:
        value = getattr(args, f"model_{name}")
        if value is not None:
            model["stages_num" if name == "stages" else name] = value
    if args.independent_params:
        model["independent_params"] = True
    if args.dropout is not None:
        model["dropout"] = args.dropout
    return TrainConfig(
        data=args.data, out=args.out, model=model, init=args.init,
        recompute_stats=args.recompute_stats, grow_layers=args.grow_layers, seed=args.seed,
        steps=args.steps,
        steps_per_epoch=args.steps_per_epoch, max_minutes=args.max_minutes,
        batch_size=args.batch_size, accum=args.accum,
        crop_s=args.crop_s, remix_p=args.remix_p, eq_db=args.eq_db, lr=args.lr,
        weight_decay=args.weight_decay,
        sgdr_period=args.sgdr_period, sgdr_decay=args.sgdr_decay, clip=args.clip,
        reconstruction_weight=args.reconstruction_weight,
        dissimilarity_weight=args.dissimilarity_weight,
        similarity_weight=args.similarity_weight, stem_weights=args.stem_weights,
        network_window_s=args.network_window, stats_crops=args.stats_crops,
        workers=args.workers, device=args.device, threads=args.threads, amp=args.amp,
        valid_songs=args.valid_songs,
        valid_max_s=args.valid_max_s, log_every=args.log_every,
        progress=show_progress(args.no_progress),
    )


def run_train(args: argparse.Namespace) -> int:
    """Run ``stemweave train``."""
    from core.config import ModelConfig
    from training.train import train

    cfg = train_config_from_args(args)
    if cfg.init and cfg.model:
        print("stemweave: warning: model flags are ignored with --init "
              "(the checkpoint's configuration is used)", file=sys.stderr)
        cfg.model = {}
    if not cfg.init and not args.resume:
        ModelConfig.from_dict(cfg.model)  # validate early: one clear error line
    summary = train(cfg, resume=args.resume)
    best = summary["best_sisnr"]
    print(f"trained {summary['steps']} steps; last loss {summary['loss']:.4f}; "
          f"best validation SI-SNR {'n/a' if best is None else f'{best:.2f} dB'}; "
          f"run in {summary['run']}")
    return 0


# ----------------------------------------------------------------------------- evaluate


def _add_evaluate(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate", help="BSSEval v4 (museval) scores of a model",
        formatter_class=DefaultsHelp,
        description="Separate MUSDB18 test (or a prepared folder's split) and score with "
        "BSSEval v4; prints the median over frames then tracks per stem.",
    )
    p.add_argument("model", help="weights file (.safetensors, the authors' .pt, or 'builtin')")
    p.add_argument("--data", required=True,
                   help="prepared dataset folder, or a MUSDB18 / MUSDB18-HQ root")
    p.add_argument("--split", default="test", help="split of a prepared folder (test/valid/train)")
    p.add_argument("--out", required=True, help="folder for scores.json and scores.csv")
    p.add_argument("--lsq-gains", action="store_true",
                   help="rescale each stem by the least-squares fit to the mixture (the paper's "
                   "evaluation post-processing)")
    p.add_argument("--wiener", action=argparse.BooleanOptionalAction, default=None,
                   help="the engine's multichannel Wiener post-filter (default: the model "
                        "family's, on for Meta-TasNet)")
    p.add_argument("--max-songs", type=int, default=None,
                   help="score at most this many songs (default: all)")
    p.add_argument("--max-s", type=float, default=None, help="score only the first seconds")
    p.add_argument("--segment-s", type=float, default=8.0, help="separation segment length")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none when stderr is not a terminal)")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``stemweave evaluate``."""
    from training.evaluate import evaluate, format_table

    result = evaluate(args.model, args.data, args.out, split=args.split,
                      lsq_gains=args.lsq_gains, max_songs=args.max_songs, max_s=args.max_s,
                      segment_s=args.segment_s, device=args.device, threads=args.threads,
                      progress=show_progress(args.no_progress), wiener=args.wiener)
    print(format_table(result))
    return 0
