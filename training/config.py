"""Training-run settings (``TrainConfig``), kept free of torch so the CLI can build its parser
and ``--help`` without importing torch."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from core.config import ModelConfig, dataclass_from_dict
from core.errors import DataError


@dataclass
class TrainConfig:
    """Everything that defines a training run (recorded as ``config.json``)."""

    data: str = ""  #: prepared dataset folder (``stemweave prepare``)
    out: str = ""  #: run directory
    model: dict[str, Any] = field(default_factory=dict)  #: ModelConfig fields (fresh model)
    init: str | None = None  #: fine-tune from this checkpoint (path or "builtin")
    recompute_stats: bool = False  #: recompute spectrogram stats even when fine-tuning
    #: with ``init``: TCN blocks per stack after growing (new blocks start as the identity;
    #: :mod:`training.grow`); None: the checkpoint's
    grow_layers: int | None = None
    seed: int = 42
    steps: int = 1000  #: total optimiser steps of the run
    steps_per_epoch: int = 500  #: validation and checkpoint every this many steps
    #: end the run after this many minutes of training (validated and saved like a finished
    #: run; None: no limit). For a time-boxed machine, e.g. a lent GPU.
    max_minutes: float | None = None
    batch_size: int = 12  #: global batch per optimiser step
    accum: int = 1  #: gradient accumulation micro-batches per step
    crop_s: float = 8.0
    remix_p: float = 0.5
    gain_min: float = 0.75
    gain_max: float = 1.25
    silence_rms: float = 1e-3
    eq_db: float = 0.0  #: random per-stem equaliser, +-dB at each anchor (0: off)
    lr: float = 1e-3
    betas: tuple[float, float] = (0.95, 0.999)
    eps: float = 1e-5
    weight_decay: float = 5e-4
    lookahead_k: int = 6
    lookahead_alpha: float = 0.5
    sgdr_period: int = 200_000
    sgdr_decay: float = 0.85
    clip: float = 5.0
    reconstruction_weight: float = 0.05
    dissimilarity_weight: float = 3.0
    similarity_weight: float = 2.0
    #: weight of each stem's SI-SNR term (drums, bass, other, vocals)
    stem_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    stats_crops: int = 5000  #: training crops for the spectrogram statistics
    workers: int = 2  #: data loader worker processes (0: load in the main process)
    device: str = "auto"
    threads: int | None = None  #: torch CPU threads (None: torch's default)
    amp: str = "auto"  #: auto (bf16/fp16 on CUDA, off on CPU), off, fp16, bf16
    valid_songs: int | None = None  #: validate on at most this many songs (None: all, 0: none)
    valid_max_s: float | None = None  #: crop validation songs to this many seconds
    valid_segment_s: float = 8.0
    #: the network window written into every saved weights file (metadata ``window_s``: the
    #: engine runs the network on sub-windows of at most this many seconds; None: not written)
    network_window_s: float | None = None
    log_every: int = 10
    progress: bool = True

    def model_config(self) -> ModelConfig:
        """The fresh-model configuration."""
        return ModelConfig.from_dict(self.model)

    def to_json(self) -> str:
        """JSON text of the settings."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        d["stem_weights"] = list(self.stem_weights)
        return json.dumps(d, indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_json` (unknown keys are an error)."""
        return dataclass_from_dict(cls, d, DataError, "training settings",
                                   ("betas", "stem_weights"))
