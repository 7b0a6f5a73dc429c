"""Model families behind one engine: Meta-TasNet (native, trainable) and HTDemucs (through the
optional ``demucs`` package).

A weights file says which family it belongs to — a native ``.safetensors`` file in its
``format`` metadata (``stemweave-metatasnet`` / ``stemweave-htdemucs``), the authors' Meta-TasNet
``.pt`` and demucs' ``.th`` release files by their content — and :func:`load` returns a
:class:`~core.families.base.SeparationModel` for the engine. Only ``core.families.htdemucs``
imports ``demucs``, and only when such a model is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.errors import ModelLoadError, ModelNotFoundError
from core.families import htdemucs
from core.families.base import SeparationModel
from core.families.metatasnet import MetaTasNetFamily

#: family name -> one line for people.
FAMILIES = {
    "metatasnet": "Meta-TasNet (native; trainable)",
    "htdemucs": "Hybrid Transformer Demucs (optional demucs package)",
}


@dataclass(frozen=True)
class Header:
    """What a weights file is, read cheaply (no tensors).

    Attributes:
        family: ``"metatasnet"`` or ``"htdemucs"``.
        stems: stem names in output order.
        config: the family's configuration (a :class:`core.config.ModelConfig` for
            Meta-TasNet, a dict for HTDemucs).
        meta: the raw safetensors metadata (empty for other formats).
    """

    family: str
    stems: tuple[str, ...]
    config: Any
    meta: dict[str, str]


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def read_header(path: str | os.PathLike[str]) -> Header:
    """The family, stems and configuration of a weights file (header only).

    Raises:
        ModelLoadError: unreadable or of no known family.
    """
    from core.checkpoint import FORMAT_NAME, is_safetensors
    from core.config import ModelConfig

    p = Path(path)
    if not is_safetensors(p):
        if htdemucs.is_demucs_package(p):
            raise ModelLoadError(f"{p.name}: a demucs release file; import it first "
                                 "(`stemweave models import`)")
        return Header("metatasnet", tuple(ModelConfig().stems), ModelConfig(), {})
    try:
        meta = _metadata(p)
    except Exception as exc:  # damaged header
        raise ModelLoadError(f"{p.name}: unreadable ({str(exc)[:120]})") from exc
    fmt = meta.get("format")
    try:
        if fmt == FORMAT_NAME:
            config = ModelConfig.from_json(meta.get("config", "{}"))
            return Header("metatasnet", tuple(config.stems), config, meta)
        if fmt == htdemucs.FORMAT_NAME:
            stems, config = htdemucs.describe(meta)
            return Header("htdemucs", stems, config, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{p.name}: malformed model description ({exc})") from exc
    raise ModelLoadError(f"{p.name}: not a Stemweave model file")


def load(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> SeparationModel:
    """Load any supported weights file for the engine, on ``device``.

    Raises:
        ModelNotFoundError: no such file.
        ModelLoadError: unreadable, unsafe, not fitting, or its family's package is missing.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelNotFoundError(f"Model file not found: {p}")
    return read_any(p).to(torch.device(device))


def read_any(path: str | os.PathLike[str]) -> SeparationModel:
    """Read a native file, the authors' Meta-TasNet ``.pt`` or a demucs ``.th`` release file
    (on the CPU)."""
    from core.checkpoint import load_model

    p = Path(path)
    if not p.is_file():
        raise ModelNotFoundError(f"Model file not found: {p}")
    if htdemucs.is_demucs_package(p):
        return htdemucs.from_release_files([p])
    header = read_header(p)
    if header.family == "htdemucs":
        return htdemucs.load_native(p, header.meta)
    from core.checkpoint import network_window

    return MetaTasNetFamily(load_model(p), window_s=network_window(p.name, header.meta))


def wrap(model: torch.nn.Module | SeparationModel) -> SeparationModel:
    """A :class:`SeparationModel` for an in-memory network (a MetaTasNet being trained, ...)."""
    from core.model import MetaTasNet

    if isinstance(model, MetaTasNet):
        return MetaTasNetFamily(model)
    if isinstance(model, SeparationModel):
        return model
    raise TypeError(f"not a separation model: {type(model).__name__}")


def save(model: torch.nn.Module | SeparationModel, path: str | os.PathLike[str],
         extra: dict[str, str] | None = None) -> Path:
    """Write any family's model in its native format, atomically."""
    from core.checkpoint import save_model

    fam = wrap(model)
    if isinstance(fam, htdemucs.HTDemucsFamily):
        return htdemucs.save(fam, path, extra)
    return save_model(fam.module, path, extra, window_s=getattr(fam, "window_s", None))


def parameter_count(model: SeparationModel) -> int:
    """Number of parameters of a loaded model."""
    return sum(p.numel() for p in model.module.parameters())


def runs_wiener(family: str) -> bool:
    """Whether separations by a model of ``family`` (:attr:`Header.family`) run the Wiener
    post-filter when it is on: the family's choice (Meta-TasNet yes, HTDemucs no)."""
    return {"metatasnet": MetaTasNetFamily.wiener,
            "htdemucs": htdemucs.HTDemucsFamily.wiener}[family]


__all__ = ["FAMILIES", "Header", "MetaTasNetFamily", "SeparationModel", "load", "read_any",
           "read_header", "runs_wiener", "save", "wrap"]
