"""Meta-TasNet masking network: a temporal convolutional network run for all instruments at once.

Input and output use the layout ``(batch, stems, channels, frames)``; inside, the instruments are
stacked on the channel axis and kept apart by grouped layers (see :mod:`core.model.generated`).
"""

from __future__ import annotations

import torch
from torch import nn

from core.model.generated import (
    GeneratedConv1d,
    GeneratedGroupNorm,
    IndependentConv1d,
    IndependentGroupNorm,
)


class _Layers:
    """Factory for generated or independent layers with shared embedding sizes."""

    def __init__(self, E_1: int, E_2: int, stems: int, independent: bool) -> None:
        self.E_1, self.E_2, self.stems = E_1, E_2, stems
        self.conv_cls = IndependentConv1d if independent else GeneratedConv1d
        self.norm_cls = IndependentGroupNorm if independent else GeneratedGroupNorm

    def conv(self, c_in: int, c_out: int, k: int = 1, **kw: int | bool) -> nn.Module:
        return self.conv_cls(c_in, c_out, k, self.E_1, self.E_2, self.stems, **kw)

    def norm(self, channels: int) -> nn.Module:
        return self.norm_cls(channels, self.E_1, self.E_2, self.stems)


class TCNBlock(nn.Module):
    """1x1 conv -> PReLU -> norm -> dilated depthwise conv -> PReLU -> norm -> residual, skip.

    Args:
        B: block input/output channels.
        H: hidden channels.
        kernel: depthwise kernel size.
        dilation: depthwise dilation.
        layers: layer factory.
        bias: biases on the convolutions.
    """

    def __init__(self, B: int, H: int, kernel: int, dilation: int, layers: _Layers,
                 bias: bool) -> None:
        super().__init__()
        # Registration order follows the authors' state_dict.
        self.norm_1 = layers.norm(H)
        self.prelu_1 = nn.PReLU()
        self.conv1d = layers.conv(B, H, 1, bias=bias)
        self.norm_2 = layers.norm(H)
        self.prelu_2 = nn.PReLU()
        self.dconv1d = layers.conv(H, H, kernel, groups=H, dilation=dilation,
                                   padding=dilation * (kernel - 1) // 2, bias=bias)
        self.res_out = layers.conv(H, B, 1, bias=bias)
        self.skip_out = layers.conv(H, B, 1, bias=bias)

    def forward(
        self, x: torch.Tensor, emb: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, stems*B, frames)`` -> (residual output, skip), both the same shape."""
        y = self.norm_1(self.prelu_1(self.conv1d(x, emb)), emb)
        y = self.norm_2(self.prelu_2(self.dconv1d(y, emb)), emb)
        return x + self.res_out(y, emb), self.skip_out(y, emb)


class Masker(nn.Module):
    """Estimates one softmax mask per instrument over the stage's latent.

    Args:
        in_channels: masking input channels (``N_s``, plus ``N_s/2`` from the previous stage).
        N: latent channels of the stage (mask width).
        B, H, kernel, layers_per_stack, stack: TCN sizes.
        E_1, E_2: embedding and generator sizes.
        stems: number of instruments.
        independent: use the independent-parameter ablation.
        bias: biases on the TCN convolutions (``residual_bias``).
    """

    def __init__(
        self, in_channels: int, N: int, B: int, H: int, kernel: int, layers_per_stack: int,
        stack: int, E_1: int, E_2: int, stems: int = 4, independent: bool = False,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.stems, self.N = stems, N
        lay = _Layers(E_1, E_2, stems, independent)
        self.norm_1 = lay.norm(in_channels)
        self.prelu_1 = nn.PReLU()
        self.in_conv = lay.conv(in_channels, B)
        self.norm_2 = lay.norm(B)
        self.prelu_2 = nn.PReLU()
        self.tcn = nn.ModuleList(
            TCNBlock(B, H, kernel, 2**i, lay, bias)
            for _ in range(stack) for i in range(layers_per_stack)
        )
        self.norm_3 = lay.norm(B)
        self.prelu_3 = nn.PReLU()
        self.mask_output = lay.conv(B, N)
        self.norm_4 = lay.norm(N)
        self.prelu_4 = nn.PReLU()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        """Masks for every instrument.

        Args:
            x: ``(batch, stems, in_channels, frames)``.
            emb: instrument embedding ``(stems, E_1)``, or ``None`` for independent layers.

        Returns:
            ``(batch, stems, N, frames)``, summing to one over the stem axis.
        """
        b, s, c, t = x.shape
        x = x.reshape(b, s * c, t)
        x = self.norm_1(self.prelu_1(x), emb)
        x = self.norm_2(self.prelu_2(self.in_conv(x, emb)), emb)
        skips = torch.zeros((), dtype=x.dtype, device=x.device)
        for block in self.tcn:
            x, skip = block(x, emb)
            skips = skips + skip
        x = self.norm_3(self.prelu_3(skips), emb)
        x = self.norm_4(self.prelu_4(self.mask_output(x, emb)), emb)
        return torch.softmax(x.view(b, s, self.N, t), dim=1)
