"""Meta-TasNet encoder: a multi-kernel learned filterbank plus a learnable log-spectrogram branch.

Both branches produce one frame every ``W`` samples; they are concatenated on the channel axis and
mixed by two bias-free 1x1 convolutions into the stage's latent representation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LogSpectrogram(nn.Module):
    """Standardised, affinely rescaled log-power STFT projected to ``num_mels`` channels.

    ``window``, ``mean`` and ``std`` are non-trainable parameters (not buffers), as in the authors'
    checkpoints. ``mean``/``std`` must come from a checkpoint or from training statistics.

    Args:
        n_fft: FFT size (1024 per 8 kHz of sample rate).
        num_mels: output channels of the 1x1 projection.
    """

    def __init__(self, n_fft: int, num_mels: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = n_fft // 4
        bins = n_fft // 2 + 1
        self.window = nn.Parameter(torch.hann_window(n_fft), requires_grad=False)
        self.mean = nn.Parameter(torch.zeros(1, bins, 1), requires_grad=False)
        self.std = nn.Parameter(torch.ones(1, bins, 1), requires_grad=False)
        self.affine_bias = nn.Parameter(torch.zeros(1, bins, 1))
        self.affine_scale = nn.Parameter(torch.ones(1, bins, 1))
        self.mel_transform = nn.Conv1d(bins, num_mels, 1)
        #: compute the power spectrum in float64 (robust in near-silent bins); see core docs.
        self.float64_magnitude = False

    def log_power(self, audio: torch.Tensor) -> torch.Tensor:
        """``log10(|STFT|^2 + 1e-8)``.

        Args:
            audio: ``(batch, time)``.

        Returns:
            ``(batch, n_fft/2+1, time // hop + 1)``.
        """
        window = self.window
        if self.float64_magnitude:
            audio, window = audio.double(), window.double()
        spec = torch.stft(
            audio, n_fft=self.n_fft, hop_length=self.hop, window=window, center=True,
            pad_mode="reflect", normalized=False, onesided=True, return_complex=True,
        )
        power = torch.view_as_real(spec).pow(2).sum(-1)
        return torch.log10(power + 1e-8).to(self.mean.dtype)

    def forward(self, audio: torch.Tensor, frames: int) -> torch.Tensor:
        """Spectrogram features resampled to the latent frame rate.

        Args:
            audio: ``(batch, 1, time)``.
            frames: number of latent frames ``T'`` to interpolate to.

        Returns:
            ``(batch, num_mels, frames)``.
        """
        x = self.log_power(audio.squeeze(1))
        x = (x - self.mean) / self.std
        x = x * self.affine_scale + self.affine_bias
        x = self.mel_transform(x)
        return F.interpolate(x, size=frames, mode="linear", align_corners=True)


class Encoder(nn.Module):
    """Waveform -> latent frames.

    Args:
        N: latent channels.
        L: shortest filter length; filter ``l`` has length ``L * 2**l``.
        W: stride (samples per latent frame).
        filters: number of parallel filterbanks, each with ``N // 4`` channels.
        num_mels: spectrogram branch channels.
        n_fft: spectrogram FFT size.
    """

    def __init__(self, N: int, L: int, W: int, filters: int, num_mels: int, n_fft: int) -> None:
        super().__init__()
        self.W = W
        self.spectrogram = LogSpectrogram(n_fft, num_mels)
        self.filters = nn.ModuleList(
            nn.Conv1d(1, N // 4, L * 2**l, stride=W, padding=(L * 2**l - W) // 2, bias=False)
            for l in range(filters)
        )
        self.bottleneck = nn.Sequential(
            nn.Conv1d(N // 4 * filters + num_mels, N, 1, bias=False),
            nn.ReLU(),
            nn.Conv1d(N, N, 1, bias=False),
        )

    def forward(self, audio: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Encode a waveform.

        Args:
            audio: ``(batch, 1, time)`` with ``time`` a multiple of ``W``.
            dtype: compute the filterbanks and the bottleneck in this precision (weights cast
                on use; e.g. ``torch.bfloat16``); the spectrogram branch always runs in
                ``audio``'s precision (its standardisation loses the signal in bf16) and its
                output is cast. ``None``: ``audio``'s precision.

        Returns:
            ``(batch, N, time // W)`` latent in ``dtype`` (may be negative: no final
            nonlinearity).
        """
        x = audio if dtype is None else audio.to(dtype)
        # Stack on a new axis after the channels, then flatten: channel c*filters + l.
        bank = torch.stack([_conv(f, x) for f in self.filters], dim=2)
        bank = F.relu(bank.flatten(1, 2))
        spec = self.spectrogram(audio, bank.shape[-1]).to(bank.dtype)
        mix, relu, out = self.bottleneck
        return _conv(out, relu(_conv(mix, torch.cat([bank, spec], dim=1))))


def _conv(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` with the weights cast to ``x``'s dtype (no copy when they match)."""
    bias = None if conv.bias is None else conv.bias.to(x.dtype)
    return F.conv1d(x, conv.weight.to(x.dtype), bias, conv.stride, conv.padding, conv.dilation,
                    conv.groups)
