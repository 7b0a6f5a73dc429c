"""Stemweave's core: model, checkpoints, audio I/O, separation engine and mixer (no Qt).

Public API used by the app, the training code and the tests.
"""

from core.checkpoint import convert_checkpoint, load_model, save_model
from core.config import STEMS, ModelConfig
from core.model import MetaTasNet

__all__ = ["STEMS", "MetaTasNet", "ModelConfig", "convert_checkpoint", "load_model", "save_model"]

# The separation engine (issue 3). Imported after the model so that core.separator can use it.
from core.audio import AudioInfo, audio_info, load_audio, save_audio  # noqa: E402
from core.device import pick_device  # noqa: E402
from core.separator import Progress, Separator  # noqa: E402

__all__ += ["AudioInfo", "Progress", "Separator", "audio_info", "load_audio", "pick_device",
            "save_audio"]
