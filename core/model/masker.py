"""Meta-TasNet masking network: a temporal convolutional network run for all instruments at once.

Input and output use the layout ``(batch, stems, channels, frames)``; inside, the instruments are
stacked on the channel axis and kept apart by grouped layers (see :mod:`core.model.generated`).
"""

from __future__ import annotations

import torch
from torch import nn

from core.model.generated import (
    GROUPS_PER_STEM,
    NORM_EPS,
    GeneratedConv1d,
    GeneratedGroupNorm,
    IndependentConv1d,
    IndependentGroupNorm,
    prelu,
)


def _per_stem(weight: torch.Tensor, stems: int, batch: int) -> torch.Tensor:
    """A grouped 1x1 kernel ``(stems*out, in, 1)`` as ``(batch*stems, out, in)`` for ``bmm``."""
    w = weight.view(stems, weight.shape[0] // stems, weight.shape[1])
    if batch == 1:
        return w
    return w.unsqueeze(0).expand(batch, *w.shape).reshape(batch * stems, *w.shape[1:])


def _add_bias(y: torch.Tensor, bias: torch.Tensor | None, stems: int) -> None:
    """Add a per-stem bias ``(stems*channels,)`` in place to ``y (batch*stems, channels, t)``."""
    if bias is not None:
        y.view(-1, stems, y.shape[1], y.shape[2]).add_(bias.view(1, stems, -1, 1).to(y.dtype))


def _channel_var_mean(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Biased variance and mean over time of every channel: ``(..., C, t)`` -> ``(..., C)`` each.

    Taken from the group-norm kernel's statistics with one group per channel (its normalised
    output is discarded): on the CPU ``torch.var_mean`` over the last axis ran 15x slower than
    that kernel (80 vs 5 ms for ``(2, 3520, 2000)`` bf16, one thread). ``eps = 0``: a constant
    channel has ``rstd = inf`` and variance 0.
    """
    *lead, c, t = x.shape
    n = 1
    for d in lead:
        n *= d
    _, mean, rstd = torch.ops.aten.native_group_norm(x.reshape(n, c, t), None, None, n, c, t,
                                                     c, 0.0)
    return rstd.pow(-2).view(*lead, c), mean.view(*lead, c)


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

    def accumulate(self, x: torch.Tensor, skips: torch.Tensor | None, emb: torch.Tensor | None,
                   stems: int, last: bool) -> torch.Tensor:
        """Inference form of :meth:`forward` that updates its inputs in place.

        The residual and skip outputs are accumulated into ``x`` and ``skips`` by the matmul
        itself (``baddbmm``), so no intermediate outputs or sums are allocated; the last block's
        residual output, which nothing reads, is not computed.

        Args:
            x: block input ``(batch*stems, B, frames)``; becomes the residual output.
            skips: running skip sum of the same shape, or ``None`` for the first block.
            emb: instrument embedding or ``None`` (independent layers).
            stems: number of instruments.
            last: this is the network's last block.

        Returns:
            the updated (or, for the first block, new) skip sum.
        """
        bs, _, t = x.shape
        batch = bs // stems
        w, b = self.conv1d.weights(emb)
        y = torch.bmm(_per_stem(w.to(x.dtype), stems, batch), x)
        _add_bias(y, b, stems)
        y = y.view(batch, -1, t)
        y = self.norm_1(prelu(y, self.prelu_1), emb)
        y = self.norm_2(prelu(self.dconv1d(y, emb), self.prelu_2), emb)
        y = y.view(bs, -1, t)
        w, b = self.skip_out.weights(emb)
        w = _per_stem(w.to(x.dtype), stems, batch)
        if skips is None:
            skips = torch.bmm(w, y)
        else:
            skips.baddbmm_(w, y)
        _add_bias(skips, b, stems)
        if not last:
            w, b = self.res_out.weights(emb)
            x.baddbmm_(_per_stem(w.to(x.dtype), stems, batch), y)
            _add_bias(x, b, stems)
        return skips


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

    def masks_for(self, latent: torch.Tensor, previous: torch.Tensor | None,
                  emb: torch.Tensor | None) -> torch.Tensor:
        """:meth:`forward` on ``cat([latent] * stems, previous)`` without building that input.

        Inference only (no autograd). The masking input repeats the stage's latent for every
        instrument; its PReLU is computed once, and the first group norm is folded into the
        first convolution: the group statistics are combined from per-channel statistics and
        turned into a per-window rescaling of the convolution's columns plus a bias, so the
        ``stems * in_channels`` input is never materialised.

        Args:
            latent: ``(batch, N, frames)``.
            previous: previous stage's masked latents ``(batch, stems, N_prev, frames)`` or
                ``None``.
            emb: instrument embedding or ``None`` (independent layers).

        Returns:
            ``(batch, stems, N, frames)`` masks.
        """
        b, n, t = latent.shape
        s = self.stems
        lat = prelu(latent.clone(), self.prelu_1)
        var_l, mean_l = _channel_var_mean(lat)  # (b, n)
        var_c = var_l.unsqueeze(1).expand(b, s, n)
        mean_c = mean_l.unsqueeze(1).expand(b, s, n)
        prev = None
        if previous is not None:
            prev = prelu(previous.clone(), self.prelu_1)
            var_p, mean_p = _channel_var_mean(prev)  # (b, s, n_prev)
            var_c, mean_c = torch.cat([var_c, var_p], dim=2), torch.cat([mean_c, mean_p], dim=2)
        c = var_c.shape[2]
        # Group statistics from channel statistics (equal frame counts): exact, no cancellation.
        g_mean_c = mean_c.view(b, s, GROUPS_PER_STEM, -1)
        g_mean = g_mean_c.mean(-1, keepdim=True)
        g_var = (var_c.view(b, s, GROUPS_PER_STEM, -1) + (g_mean_c - g_mean).square()).mean(
            -1, keepdim=True)
        per_group = c // GROUPS_PER_STEM
        inv = torch.rsqrt(g_var + NORM_EPS).expand(-1, -1, -1, per_group).reshape(b, s, c)
        g_mean = g_mean.expand(-1, -1, -1, per_group).reshape(b, s, c)
        scale, shift = self.norm_1.scale_shift(emb)
        col = scale.view(1, s, c).to(inv.dtype) * inv  # norm(x)_c = col_c * x_c + off_c
        off = shift.view(1, s, c).to(inv.dtype) - col * g_mean
        w, conv_bias = self.in_conv.weights(emb)
        w = w.view(1, s, -1, c).to(latent.dtype)  # (1, stems, B, C)
        bias = torch.matmul(w, off.unsqueeze(-1))  # (b, stems, B, 1)
        if conv_bias is not None:
            bias = bias + conv_bias.view(1, s, -1, 1).to(bias.dtype)
        w = w * col.unsqueeze(2)  # (b, stems, B, C)
        x = torch.matmul(w[..., :n].reshape(b, -1, n), lat)  # (b, stems*B, frames)
        x = x.view(b * s, -1, t)
        if prev is not None:
            x.baddbmm_(w[..., n:].reshape(b * s, -1, c - n), prev.reshape(b * s, c - n, t))
        x.add_(bias.view(b * s, -1, 1))
        x = self.norm_2(prelu(x.view(b, -1, t), self.prelu_2), emb).view(b * s, -1, t)
        skips = None
        for i, block in enumerate(self.tcn):
            skips = block.accumulate(x, skips, emb, s, last=i == len(self.tcn) - 1)
        assert skips is not None
        x = self.norm_3(prelu(skips.view(b, -1, t), self.prelu_3), emb)
        x = self.norm_4(prelu(self.mask_output(x, emb), self.prelu_4), emb)
        return torch.softmax(x.view(b, s, self.N, t), dim=1)
