"""Stemweave's core: model, checkpoints, audio I/O, separation engine and mixer (no Qt).

Public API used by the app, the training code and the tests. Names are imported lazily (PEP 562)
so that light modules such as ``core.config`` load without torch (fast ``stemweave --help``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "STEMS": "core.config",
    "ModelConfig": "core.config",
    "MetaTasNet": "core.model",
    "convert_checkpoint": "core.checkpoint",
    "load_model": "core.checkpoint",
    "save_model": "core.checkpoint",
    "AudioInfo": "core.audio",
    "audio_info": "core.audio",
    "load_audio": "core.audio",
    "save_audio": "core.audio",
    "pick_device": "core.device",
    "Progress": "core.separator",
    "Separator": "core.separator",
}

__all__ = [
    "STEMS", "AudioInfo", "MetaTasNet", "ModelConfig", "Progress", "Separator", "audio_info",
    "convert_checkpoint", "load_audio", "load_model", "pick_device", "save_audio", "save_model",
]

if TYPE_CHECKING:
    from core.audio import AudioInfo, audio_info, load_audio, save_audio
    from core.checkpoint import convert_checkpoint, load_model, save_model
    from core.config import STEMS, ModelConfig
    from core.device import pick_device
    from core.model import MetaTasNet
    from core.separator import Progress, Separator


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
