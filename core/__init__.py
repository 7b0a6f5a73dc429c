"""Stemweave's core: model, checkpoints, audio I/O, separation engine and mixer (no Qt).

Public API used by the app, the training code and the tests.
"""

from core.checkpoint import convert_checkpoint, load_model, save_model
from core.config import STEMS, ModelConfig
from core.model import MetaTasNet

__all__ = ["STEMS", "MetaTasNet", "ModelConfig", "convert_checkpoint", "load_model", "save_model"]
