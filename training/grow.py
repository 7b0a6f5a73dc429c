"""Grow a trained Meta-TasNet's masking networks: more TCN blocks, same function at the start.

A small network's receptive field is set by its TCN: ``layers`` blocks per stack with dilations
``1, 2, ..., 2**(layers-1)`` and kernel ``k`` see ``1 + (k-1) * (2**layers - 1)`` latent frames
per stack (the built-in model: 5 blocks, 63 frames of 2.5 ms, 0.16 s;
:attr:`core.config.ModelConfig.receptive_field_s`). :func:`grow_layers`
appends blocks to every stack, continuing the dilations, and starts each new block as the
identity: its residual and skip outputs are generated from zero (the generators' output layers
are zero, their bottlenecks keep their random start so gradients reach them). The grown network
therefore computes exactly what the trained one did, and fine-tuning starts from its quality
rather than from scratch (``stemweave train --init ... --grow-layers N``).
"""

from __future__ import annotations

import dataclasses
import logging
import re

import torch
from torch import nn

from core.config import ModelConfig
from core.errors import DataError
from core.model.generated import GeneratedConv1d, IndependentConv1d
from core.model.masker import TCNBlock
from core.model.meta_tasnet import MetaTasNet

log = logging.getLogger(__name__)

_TCN_KEY = re.compile(r"^(stages\.\d+\.mask\.tcn\.)(\d+)(\..*)$")


def _silence(conv: nn.Module) -> None:
    """Make a (generated or independent) 1x1 convolution output zero for every instrument."""
    if isinstance(conv, GeneratedConv1d):
        layers = [conv.kernel] + ([conv.bias] if conv.bias is not None else [])
        for layer in layers:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
    elif isinstance(conv, IndependentConv1d):
        nn.init.zeros_(conv.conv.weight)
        if conv.conv.bias is not None:
            nn.init.zeros_(conv.conv.bias)
    else:  # pragma: no cover - the masker builds only these two
        raise TypeError(f"cannot silence {type(conv).__name__}")


def _start_as_identity(block: TCNBlock) -> None:
    _silence(block.res_out)
    _silence(block.skip_out)


def check_growth(config: ModelConfig, layers: int) -> None:
    """Refuse a growth that would remove blocks.

    Raises:
        DataError: ``layers`` is smaller than ``config.layers`` or below 1.
    """
    if layers < max(1, config.layers):
        raise DataError(f"cannot grow to {layers} TCN layers: the model already has "
                        f"{config.layers} per stack (growing only adds blocks)")


def grow_layers(model: MetaTasNet, layers: int, seed: int = 0) -> MetaTasNet:
    """A copy of ``model`` with ``layers`` TCN blocks per stack in every stage's masker.

    Block ``i`` of stack ``s`` keeps its weights (``mask.tcn.{s*layers+i}``); the blocks added
    at the end of each stack continue the dilations and start as the identity, so the grown
    model's output equals the original's.

    Args:
        model: a trained model (unchanged).
        layers: blocks per stack of the result, at least the model's.
        seed: seed of the new blocks' random parts (their inner layers and generator
            bottlenecks).

    Returns:
        the grown model, in the original's training/eval mode, on the CPU.

    Raises:
        DataError: ``layers`` is smaller than the model's.
    """
    old = model.config
    check_growth(old, layers)
    config = dataclasses.replace(old, layers=layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = MetaTasNet(config)
    state = {}
    for key, value in model.state_dict().items():
        m = _TCN_KEY.match(key)
        if m:
            j = int(m.group(2))
            s, i = divmod(j, old.layers)
            key = f"{m.group(1)}{s * layers + i}{m.group(3)}"
        state[key] = value.detach().to("cpu")
    missing, unexpected = grown.load_state_dict(state, strict=False)
    if unexpected:  # pragma: no cover - same configuration apart from layers
        raise RuntimeError(f"unexpected tensors when growing: {unexpected[:3]}")
    new_blocks = 0
    for stage in grown.stages:
        for j, block in enumerate(stage.mask.tcn):
            if j % layers >= old.layers:
                _start_as_identity(block)
                new_blocks += 1
    log.info("grew the TCN from %d to %d layers per stack: %d new blocks, %d new tensors; "
             "receptive field %.2f -> %.2f s", old.layers, layers, new_blocks, len(missing),
             old.receptive_field_s, config.receptive_field_s)
    return grown.train(model.training)
