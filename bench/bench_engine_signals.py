"""Shared helpers for the engine benchmarks: a synthetic song and a random full-size model.

Not a benchmark by itself. The song is a deterministic mix of drum-like noise bursts, a bass line,
chords and a vibrato lead with a -60 dB noise floor, made at 44.1 kHz, so it has music-like level
changes and a real spectrum that the 8/16 kHz stages band-limit (the ill-conditioned near-silent
bins matter for the float64-magnitude question).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import MetaTasNet, ModelConfig  # noqa: E402
from core.resample import resample  # noqa: E402


def synth_song(seconds: float, sample_rate: int = 44100, channels: int = 2,
               seed: int = 0) -> np.ndarray:
    """A deterministic music-like mixture, float32 ``(channels, frames)``, peak about 0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    out = np.zeros((channels, n))
    bpm = 100 + 40 * rng.random()
    beat = 60.0 / bpm
    env_len = int(0.15 * sample_rate)
    env = np.exp(-np.arange(env_len) / (0.03 * sample_rate))
    notes = 40 + rng.integers(0, 12, size=int(seconds / beat) + 2)
    for c in range(channels):
        drums = np.zeros(n)
        for k, start in enumerate(np.arange(0, seconds, beat / 2)):
            i = int(start * sample_rate)
            m = min(env_len, n - i)
            if m <= 0:
                break
            amp = 0.6 if k % 2 == 0 else 0.3
            drums[i:i + m] += amp * env[:m] * rng.standard_normal(m)
        idx = np.minimum((t / beat).astype(int), len(notes) - 1)
        f_bass = 440 * 2 ** ((notes[idx] - 69 - 12) / 12)
        bass = 0.3 * np.sin(2 * np.pi * np.cumsum(f_bass) / sample_rate)
        chord = sum(0.08 * np.sin(2 * np.pi * 440 * 2 ** ((notes[idx] - 57 + d) / 12) * t
                                  + c * 0.3) for d in (0, 4, 7))
        vib = 1 + 0.01 * np.sin(2 * np.pi * 5 * t)
        f_lead = 440 * 2 ** ((notes[idx // 2 * 2 % len(notes)] - 57) / 12) * vib
        phase = 2 * np.pi * np.cumsum(f_lead) / sample_rate
        lead = sum(0.1 / h * np.sin(h * phase) for h in range(1, 8))
        lead *= 0.5 + 0.5 * (np.sin(2 * np.pi * t / 7.0) > -0.3)
        floor = 1e-3 * rng.standard_normal(n)
        out[c] = drums + bass + chord + lead + floor
    out *= 0.5 / np.abs(out).max()
    return out.astype(np.float32)


def random_full_model(seed: int = 0, config: ModelConfig | None = None,
                      stats_song: np.ndarray | None = None) -> MetaTasNet:
    """A randomly initialised model (default: full size) with spectrogram mean/std measured the
    authors' way (mean and unbiased std over time of log10 power) on a synthetic song, so the
    spectrogram branch sees standardised features as after ``compute_stats``."""
    torch.manual_seed(seed)
    model = MetaTasNet(config or ModelConfig()).eval()
    song = synth_song(8.0, 44100, 1, seed=seed + 100) if stats_song is None else stats_song
    with torch.no_grad():
        for stage_index, stage in enumerate(model.stages):
            rate = model.config.sample_rates[stage_index]
            x = resample(song[:1] / song.std(), 44100, rate)
            spec = stage.encoder.spectrogram
            lp = spec.log_power(torch.from_numpy(x))  # (1, F, frames)
            spec.mean.copy_(lp.mean(dim=(0, 2), keepdim=True))
            spec.std.copy_(lp.std(dim=(0, 2), keepdim=True).clamp_min(1e-3))
    return model.bake()


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """10 log10(|ref|^2 / |ref - est|^2) over the whole arrays (dB)."""
    ref = ref.astype(np.float64)
    err = ref - est.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-30)))
