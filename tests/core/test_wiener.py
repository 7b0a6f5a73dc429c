"""core.wiener: the multichannel Wiener post-filter (against SigSep's norbert, and on signals
whose truth is known), and its place in the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.separator import Separator
from core.wiener import wiener_refine

RATE = 16000


def _sources(channels: int = 2, seconds: float = 3.0) -> np.ndarray:
    """Four sources with different spectra and stereo positions: ``(4, channels, T)``."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * RATE)) / RATE
    clicks = np.zeros_like(t)
    clicks[:: RATE // 4] = 1.0
    drums = np.convolve(clicks, rng.standard_normal(400) * np.exp(-np.arange(400) / 60))[: t.size]
    bass = 0.6 * np.sin(2 * np.pi * 55 * t)
    other = 0.3 * np.sign(np.sin(2 * np.pi * 440 * t)) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
    vocals = 0.4 * np.sin(2 * np.pi * (880 * t + 3 * np.sin(2 * np.pi * 5 * t)))
    pans = (0.2, 0.5, 0.8, 0.4)
    out = np.zeros((4, channels, t.size))
    for j, (sig, pan) in enumerate(zip((drums, bass, other, vocals), pans, strict=True)):
        gains = (1 - pan, pan) if channels == 2 else (1.0,) * channels
        for c in range(channels):
            out[j, c] = gains[c] * sig
    return out.astype(np.float32)


def _sdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2)
                               / np.sum((ref.astype(np.float64) - est) ** 2)))


def _leaky(s: np.ndarray, amount: float = 0.4) -> np.ndarray:
    """Each estimate = its source plus ``amount`` of every other source."""
    total = s.sum(0, keepdims=True)
    return (1 - amount) * s + amount * (total - s) / (s.shape[0] - 1) + amount * s


@pytest.mark.parametrize("channels", [1, 2])
def test_equals_norbert(channels):
    """Same stems as norbert.wiener(use_softmask=True, iterations=1) on the same STFT."""
    norbert = pytest.importorskip("norbert", reason="norbert is the reference (a dev dependency)")
    s = _sources(channels)
    mix, est = s.sum(0), _leaky(s)
    n_fft, hop = 1024, 256
    ours = wiener_refine(mix, est, n_fft=n_fft)
    win = torch.hann_window(n_fft)

    def stft(a: np.ndarray) -> torch.Tensor:
        z = torch.stft(torch.from_numpy(a.reshape(-1, a.shape[-1])), n_fft, hop, window=win,
                       return_complex=True)
        return z.reshape(*a.shape[:-1], *z.shape[-2:])

    x, v = stft(mix), stft(est).abs()
    y = norbert.wiener(v.permute(3, 2, 1, 0).numpy(), x.permute(2, 1, 0).numpy().copy(),
                       iterations=1, use_softmask=True)
    y = torch.from_numpy(np.ascontiguousarray(y.transpose(3, 2, 1, 0)))
    ref = torch.istft(y.reshape(-1, *y.shape[-2:]), n_fft, hop, window=win,
                      length=mix.shape[-1]).reshape(est.shape).numpy()
    for j in range(4):  # float32 rounding of nearly singular 2x2 covariances: measured 76-137 dB
        assert _sdr(ref[j], ours[j]) > 60.0


@pytest.mark.parametrize("channels", [1, 2])
def test_cleaner_stems_that_sum_to_the_mix(channels):
    s = _sources(channels)
    mix, est = s.sum(0), _leaky(s)
    out = wiener_refine(mix, est, n_fft=1024)
    assert out.shape == est.shape and out.dtype == np.float32
    for j in range(4):
        before, after = _sdr(s[j], est[j]), _sdr(s[j], out[j])
        assert after > before + 3.0, (j, before, after)
    # drawn from the mixture, up to the filter's regularisation in the near-empty bins of these
    # sparse spectra (41 dB here, as norbert; -67 dB on noise; the ratio mask alone: 139 dB)
    assert _sdr(mix, out.sum(0)) > 30.0


def test_silence_stays_digital_silence_and_short_inputs_pass():
    zeros = np.zeros((2, RATE), np.float32)
    out = wiener_refine(zeros, np.zeros((4, 2, RATE), np.float32))
    assert np.all(out == 0.0)
    short = np.ones((4, 2, 10), np.float32)
    assert np.array_equal(wiener_refine(short.sum(0), short), short)
    mid = wiener_refine(np.ones((2, 300), np.float32), np.full((4, 2, 300), 0.25, np.float32))
    assert mid.shape == (4, 2, 300) and np.all(np.isfinite(mid))


def test_engine_runs_it_for_meta_tasnet_unless_told_not_to(tiny_checkpoint):
    s = _sources(2, seconds=4.0)
    mix = s.sum(0)
    on = Separator(tiny_checkpoint, "cpu", precision="fp32")
    off = Separator(tiny_checkpoint, "cpu", precision="fp32", wiener=False)
    assert on.wiener and not off.wiener
    a, b = on.separate(mix, RATE), off.separate(mix, RATE)
    assert a.shape == b.shape == (4, 2, mix.shape[-1])
    assert _sdr(a, b) < 40.0  # the filter really ran
    # the filtered stems come from the mixture: they add up to it far better than the raw ones
    assert _sdr(mix, a.sum(0)) > _sdr(mix, b.sum(0)) + 10.0


def _band_energy(x: np.ndarray, lo_hz: float, hi_hz: float) -> float:
    spec = np.fft.rfft(x.astype(np.float64), axis=-1)
    f = np.fft.rfftfreq(x.shape[-1], 1.0 / RATE)
    return float(np.sum(np.abs(spec[..., (f >= lo_hz) & (f < hi_hz)]) ** 2))


def test_the_band_above_the_estimates_goes_with_the_stems_just_below_it():
    """A network at half the song's rate leaves the top half of every estimate empty but for a
    resampler's leakage: that leakage must not decide where the top octave goes."""
    s = _sources(2)
    rng = np.random.default_rng(5)
    s[0] += 0.2 * rng.standard_normal(s[0].shape).astype(np.float32)  # drums: noise up to 8 kHz
    mix = s.sum(0)
    spec = np.fft.rfft(s, axis=-1)
    spec[..., np.fft.rfftfreq(s.shape[-1], 1.0 / RATE) > 3900] = 0.0  # the network's band: 4 kHz
    est = np.fft.irfft(spec, n=s.shape[-1], axis=-1).astype(np.float32)
    est[1] += 1e-5 * rng.standard_normal(est[1].shape).astype(np.float32)  # leakage, in bass
    top = _band_energy(mix, 4500, 8000)
    blind = wiener_refine(mix, est, n_fft=1024)
    banded = wiener_refine(mix, est, n_fft=1024, band=0.5)
    # without the band the leakage hands the top octave to the bass ...
    assert _band_energy(blind[1], 4500, 8000) > 0.5 * top
    # ... with it, the stems that sound just below share it, the drums' noise most of all
    truth = _band_energy(s[0], 4500, 8000)
    assert truth > 0.8 * top
    assert _band_energy(banded[0] - s[0], 4500, 8000) < 0.1 * truth
    assert _band_energy(banded[1], 4500, 8000) < 1e-3 * top
    assert _sdr(mix, banded.sum(0)) > 30.0  # the stems still add up to the mix
    # well below the band edge nothing changes (but for the STFT window's leakage: -55 dB)
    for j in range(4):
        assert _band_energy(blind[j] - banded[j], 0, 3000) < 1e-4 * _band_energy(mix, 0, 3000)


def test_engine_tells_the_filter_the_networks_band(tiny_checkpoint):
    sep = Separator(tiny_checkpoint, "cpu", precision="fp32")
    out_rate = sep.family.output_rate
    assert sep._refine(out_rate).keywords["band"] == 1.0
    assert sep._refine(2 * out_rate).keywords["band"] == 0.5
    assert Separator(tiny_checkpoint, "cpu", precision="fp32", wiener=False)._refine(RATE) is None
