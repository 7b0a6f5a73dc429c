"""Hybrid Transformer Demucs (HTDemucs) through the official ``demucs`` package.

The network, its weight loading (``load_state_dict`` on the library's own classes) and the call
on one window (:func:`demucs.apply.apply_model` with ``split=False``: the window padded to the
model's training length, the output trimmed back, a bag's models weighted per stem) are the
library's; Stemweave adds the segmenting, crossfades, progress, cancel and streaming around it,
like for every family. ``demucs`` is an optional extra (``pip install "stemweave[demucs]"``);
only ``demucs.htdemucs`` and ``demucs.apply`` are imported, which need neither torchaudio nor
an audio encoder.

Weights are kept in Stemweave's model store as one ``.safetensors`` file (no pickle): metadata
``format = stemweave-htdemucs`` and ``config`` (JSON: sources, rate, channels, segment, the bag's
per-stem weights and every sub-model's constructor arguments), tensors named
``<model index>.<parameter>``. The library's own release files (``SIG-CHECK.th``: a
``torch.save`` of the class, its arguments and the state) are read with
``torch.load(weights_only=True)``, only :class:`demucs.htdemucs.HTDemucs` and
:class:`fractions.Fraction` allow-listed, and converted; a file holding anything else is refused
without running it.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import pickle
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from core.errors import ModelLoadError
from core.precision import PrecisionChoice

log = logging.getLogger(__name__)

FAMILY = "htdemucs"
FORMAT_NAME = "stemweave-htdemucs"
FORMAT_VERSION = 1
#: the install hint shown wherever the extra is missing.
INSTALL_HINT = 'HTDemucs models need the optional demucs package: pip install "stemweave[demucs]"'
#: the library's default overlap between windows (``apply_model(overlap=0.25)``).
OVERLAP = 0.25
#: the only network class accepted from a release file.
CLASS_NAME = "HTDemucs"


def demucs_available() -> bool:
    """Whether the optional ``demucs`` package can be imported (it is not imported here)."""
    import importlib.util

    try:
        return importlib.util.find_spec("demucs") is not None
    except (ImportError, ValueError):
        return False


def _require() -> tuple[Any, Any, Any]:
    """``(HTDemucs, BagOfModels, apply_model)`` or :class:`ModelLoadError` with the hint."""
    try:
        from demucs.apply import BagOfModels, apply_model
        from demucs.htdemucs import HTDemucs
    except ImportError as exc:
        raise ModelLoadError(f"{INSTALL_HINT} ({exc})") from exc
    return HTDemucs, BagOfModels, apply_model


# --------------------------------------------------------------------------------------------
# JSON encoding of constructor arguments (Fractions, tuples)
# --------------------------------------------------------------------------------------------
def _encode(value: Any) -> Any:
    if isinstance(value, Fraction):
        return {"fraction": [value.numerator, value.denominator]}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ModelLoadError(f"cannot store a constructor argument of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"fraction"}:
            n, d = value["fraction"]
            return Fraction(int(n), int(d))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# The family
# --------------------------------------------------------------------------------------------
class HTDemucsFamily:
    """One HTDemucs network, or a bag of them with per-stem weights, for the engine.

    Args:
        models: :class:`demucs.htdemucs.HTDemucs` networks with the same sources, rate and
            channels.
        weights: per model, one weight per stem (a bag whose models specialise, e.g.
            ``htdemucs_ft``); ``None`` = all ones.
        segment: window length overriding the models' own (seconds), as the library's bags.
    """

    family = FAMILY
    hop = 1
    overlap = OVERLAP
    even_windows = False
    #: fp32 only: the STFT-based network has not been measured in reduced precision.
    precisions: tuple[str, ...] = ()
    wiener = False  # not measured for HTDemucs

    def __init__(self, models: Sequence[torch.nn.Module],
                 weights: Sequence[Sequence[float]] | None = None,
                 segment: Fraction | float | None = None) -> None:
        _, bag_cls, apply_model = _require()
        if not models:
            raise ModelLoadError("an HTDemucs bag needs at least one model")
        self._apply = apply_model
        self.models = list(models)
        self.weights = None if weights is None else [list(map(float, w)) for w in weights]
        self.segment = segment
        if len(self.models) == 1 and self.weights is None and segment is None:
            self.module: torch.nn.Module = self.models[0]
        else:
            try:
                self.module = bag_cls(self.models, self.weights, segment)
            except AssertionError as exc:
                raise ModelLoadError("the bag's models do not fit together (sources, rate, "
                                     "channels or weights differ)") from exc
        first = self.models[0]
        self.stems: tuple[str, ...] = tuple(first.sources)
        self.sample_rates: tuple[int, ...] = (int(first.samplerate),)
        self.output_rate: int = int(first.samplerate)
        self.audio_channels: int = int(first.audio_channels)
        longest = min(float(m.segment) for m in self.models)
        self.segment_s: float = longest
        self.max_segment_s: float | None = longest

    def to(self, device: torch.device) -> HTDemucsFamily:
        """Move every network to ``device``."""
        self.module = self.module.to(device)
        return self

    @contextlib.contextmanager
    def inference_state(self) -> Iterator[None]:
        """Eval mode, restored afterwards."""
        was_training = self.module.training
        self.module.eval()
        try:
            yield
        finally:
            self.module.train(was_training)

    def choose_precision(self, device: torch.device) -> PrecisionChoice:
        """Always fp32, without measuring: nothing else is offered for this family yet."""
        return PrecisionChoice("fp32", not_measured="HTDemucs runs in fp32 only (bf16 and "
                               "fp16 are not offered for this family)")

    def forward(self, mixes: list[torch.Tensor], precision: str) -> torch.Tensor:
        """``mixes[0]``: ``(batch, 2, T)`` at 44.1 kHz -> ``(batch, stems, 2, T)``, by the
        library's ``apply_model`` on one window (no shifts, no splitting)."""
        if precision != "fp32":
            raise ValueError(f"HTDemucs runs in fp32 only, not {precision}")
        return self._apply(self.module, mixes[0], shifts=0, split=False)

    # ---------------------------------------------------------------- description
    def config(self) -> dict[str, Any]:
        """The JSON description stored beside the weights."""
        first = self.models[0]
        return {
            "family": FAMILY,
            "sources": list(self.stems),
            "samplerate": self.output_rate,
            "audio_channels": self.audio_channels,
            "segment": _encode(Fraction(self.segment) if isinstance(self.segment, float)
                               else self.segment),
            "weights": self.weights,
            "models": [{"class": CLASS_NAME, "kwargs": _encode(_init_kwargs(m))}
                       for m in self.models],
            "parameters": sum(p.numel() for p in self.module.parameters()),
            "segment_s": float(first.segment),
        }


def _init_kwargs(model: torch.nn.Module) -> dict[str, Any]:
    """The constructor arguments the library recorded (``capture_init``), as keywords."""
    args, kwargs = getattr(model, "_init_args_kwargs", ((), {}))
    if args:
        HTDemucs, _, _ = _require()
        bound = inspect.signature(HTDemucs).bind_partial(*args, **kwargs)
        return dict(bound.arguments)
    return dict(kwargs)


# --------------------------------------------------------------------------------------------
# Building from arguments and states (shared by every reader)
# --------------------------------------------------------------------------------------------
def _build(kwargs: dict[str, Any], state: dict[str, Any], source: str) -> torch.nn.Module:
    from core.checkpoint import check_state_dict

    HTDemucs, _, _ = _require()
    params = inspect.signature(HTDemucs).parameters
    dropped = [k for k in kwargs if k not in params]
    if dropped:
        log.warning("%s: ignoring constructor arguments this demucs version lacks: %s",
                    source, ", ".join(dropped))
    kw = {k: v for k, v in kwargs.items() if k in params}
    if "sources" not in kw or not kw["sources"]:
        raise ModelLoadError(f"{source}: the model's stem names (sources) are missing")
    try:
        model = HTDemucs(**kw)
    except Exception as exc:  # the library validates its arguments with asserts and TypeErrors
        raise ModelLoadError(f"{source}: invalid HTDemucs arguments "
                             f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise ModelLoadError(f"{source}: the state does not hold tensors")
    if state.get("__quantized"):
        raise ModelLoadError(f"{source}: quantized (diffq) models are not supported")
    check_state_dict(model, state, source)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    for name, value in model.named_parameters():
        if not torch.isfinite(value).all():
            raise ModelLoadError(f"{source}: parameter {name} holds NaN or infinite values")
    return model.eval()


def from_config(config: dict[str, Any], tensors: dict[str, torch.Tensor],
                source: str) -> HTDemucsFamily:
    """Build the family from a stored ``config`` and ``<index>.<name>`` tensors.

    Raises:
        ModelLoadError: anything missing, mis-shaped or inconsistent (named in the message).
    """
    try:
        specs = config["models"]
        if not isinstance(specs, list) or not specs:
            raise ValueError("no models")
        states: list[dict[str, torch.Tensor]] = [{} for _ in specs]
        for key, value in tensors.items():
            idx, _, name = key.partition(".")
            if not idx.isdigit() or int(idx) >= len(specs):
                raise ModelLoadError(f"{source}: unexpected tensor {key}")
            states[int(idx)][name] = value
        models = []
        for i, spec in enumerate(specs):
            if spec.get("class") != CLASS_NAME:
                raise ModelLoadError(f"{source}: model class {spec.get('class')!r} is not "
                                     f"supported (only {CLASS_NAME})")
            models.append(_build(_decode(spec["kwargs"]), states[i], f"{source} (model {i})"))
        seg = config.get("segment")
        fam = HTDemucsFamily(models, config.get("weights"),
                             _decode(seg) if seg is not None else None)
    except ModelLoadError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{source}: malformed HTDemucs description ({exc})") from exc
    if list(fam.stems) != list(config.get("sources", fam.stems)):
        raise ModelLoadError(f"{source}: stem names in the description and the model differ")
    return fam


# --------------------------------------------------------------------------------------------
# Native files
# --------------------------------------------------------------------------------------------
def save(family: HTDemucsFamily, path: str | os.PathLike[str],
         extra: dict[str, str] | None = None) -> Path:
    """Write ``family`` as one native ``.safetensors`` file, atomically."""
    from safetensors.torch import save_file

    from core.fileio import atomic_path

    p = Path(path)
    tensors = {f"{i}.{k}": v.detach().to("cpu", torch.float32).contiguous()
               for i, m in enumerate(family.models) for k, v in m.state_dict().items()}
    meta = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION),
            "config": json.dumps(family.config(), sort_keys=True)}
    if extra:
        meta["info"] = json.dumps(extra, sort_keys=True)
    with atomic_path(p) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return p


def load_native(path: str | os.PathLike[str], meta: dict[str, str]) -> HTDemucsFamily:
    """Read a native HTDemucs file whose header (``meta``) was already read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from core.checkpoint import check_format_version

    name = Path(path).name
    check_format_version(name, meta, FORMAT_VERSION)
    try:
        config = json.loads(meta.get("config", ""))
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{name}: the model description is not valid JSON") from exc
    _require()
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{name}: not a readable .safetensors file ({exc})") from exc
    return from_config(config, tensors, name)


def describe(meta: dict[str, str]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Stem names and the description from a native file's header (no tensors, no demucs)."""
    config = json.loads(meta.get("config", "{}"))
    return tuple(config["sources"]), config


# --------------------------------------------------------------------------------------------
# The library's release files
# --------------------------------------------------------------------------------------------
def is_demucs_package(path: str | os.PathLike[str]) -> bool:
    """Whether a file is named like the library's release files (``SIG-CHECK.th``); its content
    is checked when it is read."""
    return Path(path).suffix == ".th"


def read_demucs_package(path: str | os.PathLike[str]) -> torch.nn.Module:
    """One network from a demucs release file (``torch.save`` of klass/args/kwargs/state).

    Raises:
        ModelLoadError: not readable, holds other objects than the allow-listed ones, not an
            HTDemucs, or weights that do not fit its arguments.
    """
    HTDemucs, _, _ = _require()
    name = Path(path).name
    try:
        with torch.serialization.safe_globals([HTDemucs, Fraction]):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"{name}: refused to load, the file contains objects other than an HTDemucs and "
            f"its weights (possibly malicious code): {str(exc).splitlines()[0][:200]}") from exc
    except Exception as exc:  # torch raises many types for corrupt files
        raise ModelLoadError(f"{name}: not a readable demucs model file "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= set(package):
        raise ModelLoadError(f"{name}: not a demucs model file (expected klass, args, kwargs, "
                             "state)")
    if package["klass"] is not HTDemucs:
        raise ModelLoadError(f"{name}: only HTDemucs models are supported")
    args, kwargs = package["args"], package["kwargs"]
    if not isinstance(kwargs, dict) or not isinstance(args, (list, tuple)):
        raise ModelLoadError(f"{name}: malformed constructor arguments")
    try:
        kw = dict(inspect.signature(HTDemucs).bind_partial(*args, **kwargs).arguments) \
            if args else dict(kwargs)
    except TypeError as exc:
        raise ModelLoadError(f"{name}: malformed constructor arguments ({exc})") from exc
    return _build(kw, package["state"], name)


def from_release_files(paths: Sequence[str | os.PathLike[str]],
                       weights: Sequence[Sequence[float]] | None = None,
                       segment: Fraction | float | None = None) -> HTDemucsFamily:
    """A family from one release file, or a bag of them (in the bag's order)."""
    return HTDemucsFamily([read_demucs_package(p) for p in paths], weights, segment)


__all__ = ["FAMILY", "FORMAT_NAME", "HTDemucsFamily", "INSTALL_HINT", "demucs_available",
           "describe", "from_config", "from_release_files", "is_demucs_package", "load_native",
           "read_demucs_package", "save"]
