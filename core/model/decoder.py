"""Meta-TasNet decoder: latent frames -> waveform through multi-kernel transposed convolutions."""

from __future__ import annotations

import torch
from torch import nn


class Decoder(nn.Module):
    """Latent -> waveform.

    A 1x1 transposed convolution widens ``N`` channels to ``N/2 + N/4 + ...`` (one block per
    filterbank); block ``l`` is decoded by a transposed convolution of length ``L * 2**l`` and the
    waveforms are summed.

    Args:
        N: latent channels.
        L: shortest filter length.
        W: hop (samples per latent frame).
        filters: number of filterbanks.
    """

    def __init__(self, N: int, L: int, W: int, filters: int) -> None:
        super().__init__()
        self.widths = [N // 2 ** (l + 1) for l in range(filters)]
        self.bottleneck = nn.Sequential(
            nn.ConvTranspose1d(N, sum(self.widths), 1, bias=False), nn.ReLU()
        )
        self.filters = nn.ModuleList(
            nn.ConvTranspose1d(
                w, 1, L * 2**l, stride=W, padding=(L * 2**l - W) // 2, bias=False
            )
            for l, w in enumerate(self.widths)
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Decode latents.

        Args:
            latent: ``(batch, N, frames)``.

        Returns:
            ``(batch, 1, frames * W)``.
        """
        x = self.bottleneck(latent)
        pieces = torch.split(x, self.widths, dim=1)
        out = self.filters[0](pieces[0])
        for f, piece in zip(self.filters[1:], pieces[1:]):
            out = out + f(piece)
        return out


def decode_stems(decoder: Decoder, latents: torch.Tensor) -> torch.Tensor:
    """Decode per-stem latents ``(batch, stems, N, frames)`` to ``(batch, stems, 1, time)``."""
    b, s, n, t = latents.shape
    return decoder(latents.reshape(b * s, n, t)).view(b, s, 1, -1)

