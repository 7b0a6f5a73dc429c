"""Per-instrument convolutions and group norms, generated from an instrument embedding or learned.

All layers work on the "instrument-stacked" layout ``(batch, stems * channels, time)``: the four
instruments are processed independently by grouped convolutions and group norms with the group
count multiplied by the number of stems.

*Generated* layers (the meta-learning part of Meta-TasNet) own a small generator
``Linear(E_1 -> E_2)`` then ``Linear(E_2 -> layer weights)`` applied to the stage's instrument
embedding. The weights depend only on parameters, so at inference they can be computed once and
cached ("baked"); the cache is keyed on the parameters' version counters and is dropped as soon as
any of them changes (optimiser step, ``load_state_dict``) or gradients are needed.

*Independent* layers are the paper's ablation: an ordinary grouped ``Conv1d`` or ``GroupNorm``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

GROUPS_PER_STEM = 8
NORM_EPS = 1e-8

_fast_kernels = True


def fast_path(x: torch.Tensor) -> bool:
    """Whether inference-only kernels may be used for ``x``.

    They are used when gradients are off (``torch.no_grad`` / ``inference_mode``), autocast is
    off (its casts do not apply to in-place operations) and :func:`reference_kernels` is not
    active. They compute the same function with fewer passes
    over memory (in-place activations, fused residual/skip accumulation, matmul transposed
    convolutions); results agree with the reference kernels to float rounding (tested).
    """
    return (_fast_kernels and not (torch.is_grad_enabled() and x.requires_grad)
            and not torch.is_autocast_enabled(x.device.type))


@contextlib.contextmanager
def reference_kernels() -> Iterator[None]:
    """Run the model with its plain PyTorch layers only (benchmarks' naive path, tests).

    Process-wide while active: PyTorch's grouped/depthwise/transposed convolutions and
    out-of-place activations, exactly as in training.
    """
    global _fast_kernels
    previous, _fast_kernels = _fast_kernels, False
    try:
        yield
    finally:
        _fast_kernels = previous


def prelu(x: torch.Tensor, prelu_module: nn.PReLU) -> torch.Tensor:
    """PReLU; in place on CPU inference (a single-slope PReLU is a leaky ReLU)."""
    w = prelu_module.weight
    if x.device.type == "cpu" and w.numel() == 1 and fast_path(x):
        return F.leaky_relu_(x, float(w))
    return prelu_module(x)


def grouped_conv1d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int,
    padding: int = 0, dilation: int = 1,
) -> torch.Tensor:
    """Grouped ``conv1d``; pointwise (kernel 1) layers run as one batched matmul.

    oneDNN's grouped convolution is 2-3x slower on CPU than a batched matmul for the masker's
    1x1 layers (see ``bench/bench_separate.py``); the results agree to float rounding.

    Args:
        x: ``(batch, in_total, time)``.
        weight: ``(out_total, in_total / groups, k)``.
        bias: ``(out_total,)`` or ``None``.
        groups: number of groups.
        padding: padding.
        dilation: dilation.
    """
    out_total, in_per_group, k = weight.shape
    if in_per_group == 1 and out_total == groups == x.shape[1] and fast_path(x):
        return _depthwise(x, weight, bias, padding, dilation)
    if k != 1 or in_per_group == 1 or padding or not _fast_kernels:
        return F.conv1d(x, weight, bias, padding=padding, dilation=dilation, groups=groups)
    b, _, t = x.shape
    w = weight.view(groups, out_total // groups, in_per_group)
    y = torch.matmul(w, x.view(b, groups, in_per_group, t)).view(b, out_total, t)
    return y if bias is None else y + bias.view(1, -1, 1)


def _depthwise(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int,
    dilation: int,
) -> torch.Tensor:
    """Dilated depthwise convolution as ``k`` shifted multiply-adds (inference only).

    oneDNN runs these small-kernel dilated depthwise convolutions about 10x slower than the
    memory-bound sum of shifted copies. With "same" padding (the TCN's) the unshifted tap
    starts the sum and the others are added to the output ranges they reach, so no padded copy
    of ``x`` is made.
    """
    k = weight.shape[-1]
    t = x.shape[-1]
    t_out = t + 2 * padding - dilation * (k - 1)
    taps = weight.view(1, -1, k)
    if t_out == t and padding % dilation == 0:
        centre = padding // dilation
        y = x * taps[..., centre : centre + 1]
        for j in range(k):
            o = j * dilation - padding  # output i reads x[i + o]
            if j == centre or abs(o) >= t:
                continue
            if o > 0:
                y[..., : t - o].addcmul_(x[..., o:], taps[..., j : j + 1])
            else:
                y[..., -o:].addcmul_(x[..., : t + o], taps[..., j : j + 1])
        return y if bias is None else y + bias.view(1, -1, 1)
    xp = F.pad(x, (padding, padding)) if padding else x
    y = xp[..., :t_out] * taps[..., 0:1]
    for j in range(1, k):
        y.addcmul_(xp[..., j * dilation : j * dilation + t_out], taps[..., j : j + 1])
    return y if bias is None else y + bias.view(1, -1, 1)


class _Baked:
    """A cache of generated tensors valid while its parameters are unchanged."""

    def __init__(self) -> None:
        self.enabled = False
        self._key: tuple[Any, ...] | None = None
        self._value: Any = None

    @staticmethod
    def key(tensors: list[torch.Tensor]) -> tuple[Any, ...]:
        return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)

    def get(self, tensors: list[torch.Tensor], make: Any) -> Any:
        if not self.enabled or torch.is_grad_enabled():
            return make()
        key = self.key(tensors)
        if key != self._key:
            self._value, self._key = make(), key
        return self._value

    def clear(self) -> None:
        self._key = self._value = None


class GeneratedConv1d(nn.Module):
    """Convolution whose per-instrument kernel is generated from the instrument embedding.

    Args:
        in_channels: input channels per instrument.
        out_channels: output channels per instrument.
        kernel_size: kernel length.
        E_1: embedding size.
        E_2: generator bottleneck size.
        stems: number of instruments.
        groups: convolution groups per instrument (``in_channels`` for depthwise).
        dilation: dilation.
        padding: padding.
        bias: also generate a bias.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, E_1: int, E_2: int,
        stems: int = 4, groups: int = 1, dilation: int = 1, padding: int = 0, bias: bool = False,
    ) -> None:
        super().__init__()
        self.stems, self.groups = stems, groups
        self.dilation, self.padding = dilation, padding
        self.weight_shape = (stems * out_channels, in_channels // groups, kernel_size)
        self.bottleneck = nn.Linear(E_1, E_2)
        self.kernel = nn.Linear(E_2, out_channels * in_channels // groups * kernel_size)
        self.bias = nn.Linear(E_2, out_channels) if bias else None
        self.baked = _Baked()

    def generate(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weights for all instruments.

        Args:
            embedding: ``(stems, E_1)``.

        Returns:
            kernel ``(stems*out, in/groups, k)`` and bias ``(stems*out,)`` or ``None``.
        """
        def make() -> tuple[torch.Tensor, torch.Tensor | None]:
            e = self.bottleneck(embedding)
            w = self.kernel(e).reshape(self.weight_shape)
            b = self.bias(e).reshape(-1) if self.bias is not None else None
            return w, b

        return self.baked.get([embedding, *self.parameters()], make)

    def weights(
        self, embedding: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Kernel ``(stems*out, in/groups, k)`` and bias (or ``None``) for all instruments."""
        assert embedding is not None
        return self.generate(embedding)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """``(batch, stems*in, time)`` -> ``(batch, stems*out, time')``."""
        w, b = self.generate(embedding)
        return grouped_conv1d(x, w.to(x.dtype), None if b is None else b.to(x.dtype),
                              self.stems * self.groups, self.padding, self.dilation)


class GeneratedGroupNorm(nn.Module):
    """Group norm (8 groups per instrument) with a generated per-instrument scale and shift.

    Args:
        channels: channels per instrument.
        E_1: embedding size.
        E_2: generator bottleneck size.
        stems: number of instruments.
    """

    def __init__(self, channels: int, E_1: int, E_2: int, stems: int = 4) -> None:
        super().__init__()
        self.channels, self.stems = channels, stems
        self.bottleneck = nn.Linear(E_1, E_2)
        self.affine = nn.Linear(E_2, 2 * channels)
        self.baked = _Baked()

    def generate(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale and shift ``(1, stems*channels, 1)`` each, from ``embedding (stems, E_1)``."""
        def make() -> tuple[torch.Tensor, torch.Tensor]:
            a = self.affine(self.bottleneck(embedding))
            scale, shift = a[:, : self.channels], a[:, self.channels :]
            return scale.reshape(1, -1, 1), shift.reshape(1, -1, 1)

        return self.baked.get([embedding, *self.parameters()], make)

    def scale_shift(self, embedding: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel scale and shift, ``(stems*channels,)`` each."""
        assert embedding is not None
        scale, shift = self.generate(embedding)
        return scale.reshape(-1), shift.reshape(-1)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Normalise ``(batch, stems*channels, time)`` over each group's channels and time."""
        scale, shift = self.generate(embedding)
        # The affine step is fused into the norm kernel (one pass over memory).
        return F.group_norm(x, GROUPS_PER_STEM * self.stems, scale.reshape(-1).to(x.dtype),
                            shift.reshape(-1).to(x.dtype), eps=NORM_EPS)


class IndependentConv1d(nn.Module):
    """Ablation counterpart of :class:`GeneratedConv1d`: one grouped ``Conv1d``."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, E_1: int = 0, E_2: int = 0,
        stems: int = 4, groups: int = 1, dilation: int = 1, padding: int = 0, bias: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            stems * in_channels, stems * out_channels, kernel_size, padding=padding,
            dilation=dilation, groups=stems * groups, bias=bias,
        )

    def weights(
        self, embedding: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Kernel ``(stems*out, in/groups, k)`` and bias (or ``None``); embedding unused."""
        return self.conv.weight, self.conv.bias

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, stems*in, time)`` -> ``(batch, stems*out, time')``; embedding unused."""
        c = self.conv
        bias = None if c.bias is None else c.bias.to(x.dtype)
        return grouped_conv1d(x, c.weight.to(x.dtype), bias, c.groups, c.padding[0],
                              c.dilation[0])


class IndependentGroupNorm(nn.Module):
    """Ablation counterpart of :class:`GeneratedGroupNorm`: one ``GroupNorm``."""

    def __init__(self, channels: int, E_1: int = 0, E_2: int = 0, stems: int = 4) -> None:
        super().__init__()
        self.group_norm = nn.GroupNorm(GROUPS_PER_STEM * stems, stems * channels, eps=NORM_EPS)

    def scale_shift(
        self, embedding: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel scale and shift, ``(stems*channels,)`` each; embedding unused."""
        return self.group_norm.weight, self.group_norm.bias

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise ``(batch, stems*channels, time)``; embedding unused."""
        g = self.group_norm
        return F.group_norm(x, g.num_groups, g.weight.to(x.dtype), g.bias.to(x.dtype), g.eps)
