"""The multi-stage Meta-TasNet (8/16/32 kHz) with the hidden hand-over between stages."""

from __future__ import annotations

import torch
from torch import nn

from core.config import ModelConfig
from core.model.generated import GeneratedConv1d, GeneratedGroupNorm, fast_path
from core.model.stage import Stage


class MetaTasNet(nn.Module):
    """Meta-TasNet (Samuel et al., ICASSP 2020).

    ``forward`` takes one mono mixture per stage rate and returns every stage's four stems in the
    order of ``config.stems`` (drums, bass, other, vocals). Losses live in ``training``.

    Args:
        config: hyper-parameters; the defaults are the released MUSDB18 model's.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.stages = nn.ModuleList(Stage(self.config, s) for s in range(self.config.stages_num))

    def forward(self, mixes: list[torch.Tensor], last_only: bool = False,
                dtype: torch.dtype | None = None) -> list[torch.Tensor]:
        """Separate.

        Args:
            mixes: per-stage mixtures ``[(batch, 1, T), (batch, 1, 2T), (batch, 1, 4T)]`` with
                ``T`` a multiple of ``config.W``.
            last_only: decode only the last stage (inference); the list then has one entry.
            dtype: run the network in this precision (e.g. ``torch.bfloat16`` on a CPU with
                native bf16): the activations are kept in ``dtype`` from the encoder on and
                each weight is cast where it is used, while the spectrogram branch and the
                decoder's overlap-add stay in the mixtures' precision (``None``: the mixtures'
                precision throughout). Where the inference kernels cannot run (gradients on,
                :func:`~core.model.generated.reference_kernels`), ``dtype`` means autocast.

        Returns:
            per-stage estimates ``[(batch, stems, 1, T_s)]`` (only the last if ``last_only``).
        """
        if len(mixes) != len(self.stages):
            raise ValueError(f"expected {len(self.stages)} mixtures, got {len(mixes)}")
        if (dtype is not None and dtype != mixes[0].dtype
                and (torch.is_grad_enabled() or not fast_path(mixes[0]))):
            with torch.autocast(mixes[0].device.type, dtype=dtype):
                return self.forward(mixes, last_only)
        outputs: list[torch.Tensor] = []
        previous = None
        for i, (stage, mix) in enumerate(zip(self.stages, mixes)):
            decode = not last_only or i == len(self.stages) - 1
            estimates, previous = stage(mix, previous, decode=decode, dtype=dtype)
            if estimates is not None:
                outputs.append(estimates)
        return outputs

    def bake(self, enabled: bool = True) -> MetaTasNet:
        """Cache generated weights for inference (no-grad) use.

        The cache is recomputed automatically when any parameter changes and is bypassed while
        gradients are enabled, so baking never changes results; it only saves the generator
        matmuls on every call. Returns ``self``.
        """
        for module in self.modules():
            if isinstance(module, (GeneratedConv1d, GeneratedGroupNorm)):
                module.baked.enabled = enabled
                if not enabled:
                    module.baked.clear()
        return self

    def set_float64_magnitude(self, enabled: bool) -> None:
        """Compute the spectrogram branch's power spectrum in float64 (see ``LogSpectrogram``)."""
        for stage in self.stages:
            stage.encoder.spectrogram.float64_magnitude = enabled

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.parameters()).device
