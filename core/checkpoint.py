"""Loading and saving model weights.

Two formats are read:

* **native** — one ``.safetensors`` file (no pickle at all) whose metadata holds the JSON
  :class:`~core.config.ModelConfig` and a format version;
* **authors'** — the ``torch.save`` dict of the original Meta-TasNet code (``state_dict`` plus an
  ``argparse.Namespace`` of training arguments), e.g. the released ``best_model.pt``. It is read
  with ``torch.load(weights_only=True)`` and only ``argparse.Namespace`` allow-listed, so a file
  carrying any other pickled object is refused without running it.

Every key and shape is validated against the model built from the stored configuration, and each
mismatch is named in the error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import pickletools
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.config import ModelConfig
from core.errors import ModelLoadError, ModelNotFoundError
from core.fileio import atomic_path
from core.model import MetaTasNet
from core.options import check_segment

log = logging.getLogger(__name__)

FORMAT_NAME = "stemweave-metatasnet"
FORMAT_VERSION = 1
#: metadata key of the longest input a model wants to be run on at once (seconds; optional:
#: format-1 readers that do not know it ignore it)
WINDOW_KEY = "window_s"


def is_safetensors(path: str | os.PathLike[str]) -> bool:
    """True if the file starts like a safetensors file (u64 header length, then ``{``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n < 100_000_000 and head[8:9] == b"{"


#: Globals a weights-only checkpoint may name (torch's own rebuild helpers and storages).
_WEIGHT_GLOBALS = ("torch.", "collections.OrderedDict", "argparse.Namespace", "_codecs.encode",
                   "numpy.core.multiarray._reconstruct", "numpy.dtype", "numpy.ndarray")


def pickled_globals(path: str | os.PathLike[str], limit: int = 8) -> list[str] | None:
    """The Python objects (``module.name``) other than weights a torch file would load.

    Reads the pickle stream(s) with :mod:`pickletools` (nothing is executed): the data pickle of
    a zip checkpoint, or the first ``limit`` pickles of a legacy one.

    Returns:
        the names (empty when only weights are referenced), or ``None`` when the file is not a
        pickle or torch zip file at all.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                pkl = [n for n in z.namelist() if n.endswith("data.pkl")]
                streams = [z.read(pkl[0])] if pkl else []
        except (zipfile.BadZipFile, OSError):
            return None
        if not streams:
            return None
    else:
        streams = [data]
    found: list[str] = []
    parsed = 0
    for stream in streams:
        pos = 0
        while pos < len(stream) and parsed < limit:
            pushed: list[str | None] = []  # what each op pushed (strings only), for STACK_GLOBAL
            memo: dict[int, str | None] = {}
            try:
                for op, arg, at in pickletools.genops(stream[pos:]):
                    if op.name in ("GLOBAL", "INST"):
                        found.append(str(arg).replace(" ", "."))
                    elif "UNICODE" in op.name or op.name.endswith("STRING"):
                        pushed.append(str(arg))
                    elif op.name == "MEMOIZE":
                        memo[len(memo)] = pushed[-1] if pushed else None
                    elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                        memo[int(arg)] = pushed[-1] if pushed else None
                    elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                        pushed.append(memo.get(int(arg)))
                    elif op.name == "STACK_GLOBAL":
                        mod, attr = (pushed[-2:] + [None, None])[:2] if len(pushed) >= 2 else (
                            None, None)
                        found.append(f"{mod}.{attr}" if mod and attr else "an unknown global")
                    elif op.name == "STOP":
                        pos += at + 1
                        break
                    else:
                        pushed.append(None)
                else:
                    break
            except Exception:  # noqa: BLE001 - not (or no more) pickle data
                if parsed == 0:
                    return None
                break
            parsed += 1
    return [g for g in dict.fromkeys(found) if not g.startswith(_WEIGHT_GLOBALS)]


def read_authors_checkpoint(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, Any]]:
    """Read the authors' checkpoint safely.

    Returns:
        the configuration mapped from ``args`` and the raw state dict.

    Raises:
        ModelLoadError: unreadable, unsafe (pickled code) or not a Meta-TasNet checkpoint.
    """
    name = Path(path).name
    try:
        with torch.serialization.safe_globals([argparse.Namespace]), warnings.catch_warnings():
            # torch warns about pickle protocols it did not write; the refusal below says more
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        # torch's message is long and ends with advice to turn the safety check off: never
        # relayed. Say instead whether the file is a pickle at all, and what it would run.
        found = pickled_globals(path)
        if found is None:
            raise ModelLoadError(f"{name}: not a PyTorch checkpoint (nor a safetensors file)"
                                 ) from exc
        if not found or not isinstance(exc, pickle.UnpicklingError):
            raise ModelLoadError(f"{name}: not a readable checkpoint (damaged or incomplete)"
                                 ) from exc
        raise ModelLoadError(
            f"{name}: refused to load, the file contains objects other than weights "
            f"(possibly malicious code: {', '.join(found[:3])}{', ...' if len(found) > 3 else ''})"
        ) from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "args" not in ckpt:
        raise ModelLoadError(
            f"{Path(path).name}: not a Meta-TasNet checkpoint (expected 'state_dict' and 'args')"
        )
    if not isinstance(ckpt["args"], argparse.Namespace):
        raise ModelLoadError(f"{Path(path).name}: 'args' is not an argparse.Namespace")
    config = ModelConfig.from_authors_args(ckpt["args"])
    state = ckpt["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{Path(path).name}: 'state_dict' does not hold tensors")
    return config, state


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`ModelLoadError` naming every missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    problems: list[str] = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        problems.append(f"missing {len(missing)} key(s): {', '.join(missing[:10])}"
                        + (" ..." if len(missing) > 10 else ""))
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} key(s): {', '.join(unexpected[:10])}"
                        + (" ..." if len(unexpected) > 10 else ""))
    for k, v in expected.items():
        if k in state and tuple(state[k].shape) != tuple(v.shape):
            problems.append(f"{k}: shape {tuple(state[k].shape)} in file, "
                            f"{tuple(v.shape)} expected")
        elif k in state and not state[k].is_floating_point():
            problems.append(f"{k}: dtype {state[k].dtype} is not floating point")
    if problems:
        raise ModelLoadError(f"{source}: weights do not fit the model: " + "; ".join(problems))


def _build(config: ModelConfig, state: dict[str, torch.Tensor], source: str) -> MetaTasNet:
    model = MetaTasNet(config)
    check_state_dict(model, state, source)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    for name, value in model.named_parameters():
        if not torch.isfinite(value).all():
            raise ModelLoadError(f"{source}: parameter {name} holds NaN or infinite values")
    return model


def network_window(name: str, meta: dict[str, str]) -> float | None:
    """The longest input (seconds) a native file's network wants at once (``None``: any).

    Raises:
        ModelLoadError: the value is not a valid window length, naming the file.
    """
    value = meta.get(WINDOW_KEY)
    if value is None:
        return None
    try:
        return check_segment(float(value))
    except ValueError as exc:
        raise ModelLoadError(f"{name}: bad network window {value!r} ({exc})") from exc


def check_format_version(name: str, meta: dict[str, str], newest: int) -> int:
    """The ``format_version`` of a weights file's metadata, refused when unreadable or newer
    than ``newest`` (what this version of Stemweave reads).

    Raises:
        ModelLoadError: naming the file.
    """
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError as exc:
        raise ModelLoadError(f"{name}: bad format version {meta.get('format_version')!r}") from exc
    if version > newest:
        raise ModelLoadError(f"{name}: written by a newer Stemweave (format {version}); "
                             f"this version reads up to {newest}")
    return version


def read_native(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, torch.Tensor],
                                                        dict[str, str]]:
    """Read a native ``.safetensors`` model: configuration, tensors and the raw metadata."""
    name = Path(path).name
    try:
        state = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{name}: not a readable .safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT_NAME:
        raise ModelLoadError(f"{name}: not a Stemweave model (metadata 'format' missing)")
    check_format_version(name, meta, FORMAT_VERSION)
    config = ModelConfig.from_json(meta.get("config", "{}"))
    return config, state, meta


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> MetaTasNet:
    """Load a model from a native ``.safetensors`` file or an authors' ``.pt`` checkpoint.

    Args:
        path: the weights file.
        device: where to put the model.

    Returns:
        the model in ``eval()`` mode with generated weights baked.

    Raises:
        ModelNotFoundError: the file does not exist.
        ModelLoadError: it is unreadable, unsafe or does not fit.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelNotFoundError(f"Model file not found: {p}")
    if is_safetensors(p):
        config, state, _ = read_native(p)
    else:
        config, state = read_authors_checkpoint(p)
    model = _build(config, state, p.name)
    log.info("loaded %s (%s parameters) from %s", type(model).__name__,
             sum(t.numel() for t in model.parameters()), p)
    return model.to(device).eval().bake()


def save_model(
    model: MetaTasNet, path: str | os.PathLike[str], extra: dict[str, str] | None = None,
    window_s: float | None = None,
) -> Path:
    """Save a model in the native format, atomically.

    Args:
        model: the model.
        path: target file (``.safetensors``).
        extra: additional string metadata (e.g. training provenance) stored under ``info``.
        window_s: the longest input the network should be run on at once (metadata
            ``window_s``; ``None``: any). The engine cuts longer windows into overlapping
            sub-windows of this length and blends them before its post-filter
            (:func:`core.apply.forward_in_windows`). A network trained on short crops separates
            better in short inputs: its global layer norms then see statistics like those it
            was trained on.

    Returns:
        the path written.
    """
    p = Path(path)
    state = {k: v.detach().to("cpu", torch.float32).contiguous()
             for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION),
            "config": model.config.to_json()}
    if extra:
        meta["info"] = json.dumps(extra, sort_keys=True)
    if window_s is not None:
        meta[WINDOW_KEY] = f"{check_segment(window_s):g}"
    with atomic_path(p) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return p


def convert_checkpoint(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Convert any supported weights file (e.g. the authors' ``.pt``) to the native format."""
    return save_model(load_model(src), dst)
