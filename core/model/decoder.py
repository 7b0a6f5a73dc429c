"""Meta-TasNet decoder: latent frames -> waveform through multi-kernel transposed convolutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.model.generated import fast_path


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
        self.W = W
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
        if fast_path(latent):
            return self._forward_inference(latent)
        x = self.bottleneck(latent)
        pieces = torch.split(x, self.widths, dim=1)
        out = self.filters[0](pieces[0])
        for f, piece in zip(self.filters[1:], pieces[1:]):
            out = out + f(piece)
        return out

    def _forward_inference(self, latent: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` as matmuls and an overlap-add (no autograd).

        PyTorch's strided transposed convolution is ~10x slower on CPU than computing every
        frame's output samples with one matmul and summing the overlapping frames; the time-major
        layout ``(batch, frames, channels)`` makes each filterbank's input a plain column slice.
        """
        b, _, t = latent.shape
        w = self.bottleneck[0].weight  # (N, sum(widths), 1)
        x = torch.matmul(latent.transpose(1, 2), w[:, :, 0].to(latent.dtype))
        x = F.relu_(x)  # (batch, frames, sum(widths))
        hop = self.W
        longest = self.filters[-1].weight.shape[-1] // hop
        # Each filterbank's transposed convolution writes frame i's ``k`` samples at ``i*hop``
        # and crops its own padding; aligning every bank on the largest padding lets them share
        # one buffer.
        crop = max(f.padding[0] for f in self.filters)
        # The overlapping frames are summed in at least float32 (a bf16 sum would round the
        # waveform itself).
        out = latent.new_zeros(b, (t + longest - 1) * hop,
                               dtype=torch.promote_types(latent.dtype, torch.float32))
        start = 0
        for f, width in zip(self.filters, self.widths):
            k = f.weight.shape[-1]
            frames = torch.matmul(x[:, :, start : start + width],
                                  f.weight.view(width, k).to(x.dtype)).view(b, t, k // hop, hop)
            shift = crop - f.padding[0]
            for j in range(k // hop):
                s0 = shift + j * hop
                out[:, s0 : s0 + t * hop].view(b, t, hop).add_(frames[:, :, j])
            start += width
        return out[:, None, crop : crop + t * hop]


def decode_stems(decoder: Decoder, latents: torch.Tensor) -> torch.Tensor:
    """Decode per-stem latents ``(batch, stems, N, frames)`` to ``(batch, stems, 1, time)``."""
    b, s, n, t = latents.shape
    return decoder(latents.reshape(b * s, n, t)).view(b, s, 1, -1)

