"""One Meta-TasNet stage: encoder -> masker (with the previous stage's latents) -> decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.config import ModelConfig
from core.model.decoder import Decoder, decode_stems
from core.model.encoder import Encoder
from core.model.generated import fast_path
from core.model.masker import Masker


class Stage(nn.Module):
    """Separation at one sample rate.

    Args:
        config: the model configuration.
        index: stage number ``s``; the stage runs at ``config.sampling_rate * 2**s``.
    """

    def __init__(self, config: ModelConfig, index: int) -> None:
        super().__init__()
        m = 2**index
        self.index = index
        self.N, self.W = config.N * m, config.W * m
        stems = len(config.stems)
        in_channels = self.N + (self.N // 2 if index > 0 else 0)
        self.encoder = Encoder(self.N, config.L * m, self.W, config.filters, config.num_mels,
                               n_fft=1024 * m * config.sampling_rate // 8000)
        self.decoder = Decoder(self.N, config.L * m, self.W, config.filters)
        self.mask = Masker(
            in_channels, self.N, config.B, config.H, config.kernel, config.layers, config.stack,
            config.E_1, config.E_2, stems, config.independent_params, config.residual_bias,
        )
        self.dropout = config.dropout
        self.instrument_embedding = (
            None if config.independent_params else nn.Embedding(stems, config.E_1)
        )

    @property
    def embedding(self) -> torch.Tensor | None:
        """The instrument embedding table ``(stems, E_1)``, or ``None`` for the ablation."""
        e = self.instrument_embedding
        return None if e is None else e.weight

    def separate_latent(
        self, latent: torch.Tensor, previous: torch.Tensor | None
    ) -> torch.Tensor:
        """Masked per-stem latents.

        Args:
            latent: mixture latent ``(batch, N_s, frames)``.
            previous: previous stage's masked latents ``(batch, stems, N_s/2, frames)`` or None.

        Returns:
            ``(batch, stems, N_s, frames)``.
        """
        if fast_path(latent) and (previous is None or fast_path(previous)):
            masks = self.mask.masks_for(latent, previous, self.embedding)
            return masks.mul_(latent.unsqueeze(1))
        b, n, t = latent.shape
        stems = self.mask.stems
        x = latent.unsqueeze(1).expand(b, stems, n, t)
        if previous is not None:
            x = torch.cat([x, previous], dim=2)
        if self.training and self.dropout > 0:
            c = x.shape[2]
            x = F.dropout2d(x.reshape(b * stems, c, t, 1), self.dropout, True).view(b, stems, c, t)
        return latent.unsqueeze(1) * self.mask(x, self.embedding)

    def forward(
        self, mix: torch.Tensor, previous: torch.Tensor | None = None, decode: bool = True,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Separate one mixture.

        Args:
            mix: ``(batch, 1, time)``, ``time`` a multiple of the stage's stride.
            previous: previous stage's masked latents, or ``None`` for the first stage.
            decode: decode the waveforms (skip it when only the hidden hand-over is needed).
            dtype: activations' precision from the encoder on (inference kernels only; see
                :meth:`core.model.MetaTasNet.forward`); ``None``: ``mix``'s.

        Returns:
            estimates ``(batch, stems, 1, time)`` (``None`` if not decoded) and the masked
            latents ``(batch, stems, N_s, frames)`` handed to the next stage.
        """
        masked = self.separate_latent(self.encoder(mix, dtype), previous)
        estimates = decode_stems(self.decoder, masked) if decode else None
        return estimates, masked
