"""Meta-TasNet model modules: encoder, generated layers, masker, decoder, stage, multi-stage."""

from core.model.meta_tasnet import MetaTasNet
from core.model.stage import Stage

__all__ = ["MetaTasNet", "Stage"]
