"""Frozen configuration dataclasses.

:class:`ModelConfig` describes a Meta-TasNet network; it is saved as JSON next to the weights in
the native ``.safetensors`` format. Its defaults are those of the authors' released MUSDB18 model.
Field names follow the paper's notation (N, L, W, B, H, E_1, E_2).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import ModelLoadError

T = TypeVar("T")


def dataclass_from_dict(
    cls: type[T], d: dict[str, Any], error: type[Exception], what: str,
    tuple_fields: tuple[str, ...] = (),
) -> T:
    """Build dataclass ``cls`` from a JSON-style dict, strictly.

    Unknown keys and bad values raise ``error`` naming ``what``; lists in ``tuple_fields`` become
    tuples (JSON has no tuples).
    """
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - names)
    if unknown:
        raise error(f"Unknown {what} keys: {', '.join(unknown)}")
    kw = {k: tuple(v) if k in tuple_fields else v for k, v in d.items()}
    try:
        return cls(**kw)
    except TypeError as exc:
        raise error(f"Invalid {what}: {exc}") from exc


#: Stem names in the model's output order.
STEMS: tuple[str, ...] = ("drums", "bass", "other", "vocals")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a multi-stage Meta-TasNet.

    Stage ``s`` runs at ``sampling_rate * 2**s`` Hz with ``N*2**s`` latent channels, encoder
    kernel ``L*2**s`` and stride ``W*2**s``, so every stage has the same number of latent frames.
    """

    N: int = 440  #: latent channels of the first stage
    L: int = 20  #: base encoder/decoder kernel length (samples) of the first stage
    W: int = 20  #: encoder stride / decoder hop (samples) of the first stage
    B: int = 160  #: bottleneck channels of the masking TCN
    H: int = 160  #: hidden channels inside each TCN block
    layers: int = 6  #: TCN blocks per stack (dilations 1, 2, ..., 2**(layers-1))
    stack: int = 3  #: number of TCN stacks
    kernel: int = 3  #: depthwise kernel size inside TCN blocks
    filters: int = 3  #: parallel encoder filterbanks (kernels L, 2L, 4L, ...)
    num_mels: int = 256  #: channels of the learnable log-spectrogram branch
    E_1: int = 8  #: instrument embedding size
    E_2: int = 5  #: generator bottleneck size
    stages_num: int = 3  #: number of stages (8, 16, 32 kHz)
    sampling_rate: int = 8000  #: sample rate of the first stage
    residual_bias: bool = False  #: generated/learned biases on the TCN convolutions
    independent_params: bool = False  #: ablation: ordinary per-instrument weights
    dropout: float = 0.0  #: Dropout2d on the masking input, training only
    stems: tuple[str, ...] = field(default=STEMS)

    def __post_init__(self) -> None:
        problems = []
        if self.N % 8:
            problems.append("N must be a multiple of 8")
        if self.filters < 1:
            problems.append("filters must be >= 1")
        if self.B % 8 or self.H % 8:
            problems.append("B and H must be multiples of 8 (8 norm groups per instrument)")
        if (self.L - self.W) % 2:
            problems.append("L - W must be even")
        if self.stages_num < 1:
            problems.append("stages_num must be >= 1")
        if len(self.stems) != 4:
            problems.append("the model separates exactly 4 stems")
        if problems:
            raise ModelLoadError("Invalid model configuration: " + "; ".join(problems))

    @property
    def sample_rates(self) -> tuple[int, ...]:
        """Sample rate of every stage, lowest first."""
        return tuple(self.sampling_rate * 2**s for s in range(self.stages_num))

    @property
    def output_rate(self) -> int:
        """Sample rate of the last stage, the one listened to."""
        return self.sample_rates[-1]

    @property
    def hop(self) -> int:
        """Samples of the first stage per latent frame; lengths must be multiples of it."""
        return self.W

    @property
    def receptive_field_s(self) -> float:
        """Seconds one output frame of a stage's masking TCN hears: ``1 + stack * (kernel - 1)
        * (2**layers - 1)`` latent frames of ``W / sampling_rate`` seconds (the same in every
        stage: its stride and rate double together)."""
        frames = 1 + self.stack * (self.kernel - 1) * (2**self.layers - 1)
        return frames * self.W / self.sampling_rate

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        d = dataclasses.asdict(self)
        d["stems"] = list(self.stems)
        return d

    def to_json(self) -> str:
        """The configuration as a JSON string (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys are an error so typos do not go unnoticed."""
        return dataclass_from_dict(cls, d, ModelLoadError, "model configuration", ("stems",))

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        """Inverse of :meth:`to_json`."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"Model configuration is not valid JSON: {exc}") from exc
        if not isinstance(d, dict):
            raise ModelLoadError("Model configuration must be a JSON object")
        return cls.from_dict(d)

    @classmethod
    def from_authors_args(cls, args: Any) -> ModelConfig:
        """Map the authors' ``argparse.Namespace`` (``train.py`` arguments) onto a config."""
        wanted = {
            "N": int, "L": int, "W": int, "B": int, "H": int, "layers": int, "stack": int,
            "kernel": int, "filters": int, "num_mels": int, "E_1": int, "E_2": int,
            "stages_num": int, "sampling_rate": int, "residual_bias": bool,
            "independent_params": bool, "dropout": float,
        }
        values: dict[str, Any] = {}
        missing = []
        for name, kind in wanted.items():
            if not hasattr(args, name):
                missing.append(name)
                continue
            value = getattr(args, name)
            if name == "E_1" and value is None:
                raise ModelLoadError("Checkpoint has E_1=None, which the original code cannot run")
            values[name] = kind(value)
        if missing:
            raise ModelLoadError(f"Checkpoint arguments lack: {', '.join(missing)}")
        return cls(**values)
