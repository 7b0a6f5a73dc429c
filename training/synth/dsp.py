"""Small vectorised DSP building blocks for the song generator (numpy/scipy only).

Every function is deterministic given its arguments (randomness comes in through an explicit
``numpy.random.Generator``). Audio is float64 mono ``(frames,)`` unless stated otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import signal


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def phase_from_freq(freq: np.ndarray, sr: int, start: float = 0.0) -> np.ndarray:
    """Running phase in cycles (not wrapped) of a frequency track in Hz."""
    return start + np.cumsum(freq / sr)


def polyblep_saw(freq: np.ndarray, sr: int, phase0: float = 0.0) -> np.ndarray:
    """Band-limited (PolyBLEP) sawtooth in [-1, 1] following a frequency track."""
    t = np.mod(phase_from_freq(freq, sr, phase0), 1.0)
    dt = np.clip(freq / sr, 1e-6, 0.5)
    y = 2.0 * t - 1.0
    lo = t < dt
    x = t[lo] / dt[lo]
    y[lo] -= x + x - x * x - 1.0
    hi = t > 1.0 - dt
    x = (t[hi] - 1.0) / dt[hi]
    y[hi] -= x * x + x + x + 1.0
    return y


def polyblep_square(freq: np.ndarray, sr: int, width: float = 0.5,
                    phase0: float = 0.0) -> np.ndarray:
    """Band-limited pulse wave (difference of two saws), zero-mean-ish, in about [-1, 1]."""
    a = polyblep_saw(freq, sr, phase0)
    b = polyblep_saw(freq, sr, phase0 + width)
    return 0.5 * (a - b)


def adsr(n: int, sr: int, attack: float, decay: float, sustain: float, release: float,
         gate: int) -> np.ndarray:
    """An ADSR envelope of ``n`` samples; the note is held for ``gate`` samples."""
    t = np.arange(n) / sr
    a = max(attack, 1e-4)
    env = np.where(t < a, t / a, sustain + (1.0 - sustain) * np.exp(-(t - a) / max(decay, 1e-4)))
    gate = int(min(max(gate, 1), n))
    level = env[gate - 1]
    tail = np.arange(n - gate) / sr
    env[gate:] = level * np.exp(-tail / max(release, 1e-4) * 4.0)
    return env


def exp_decay(n: int, sr: int, tau: float) -> np.ndarray:
    """``exp(-t / tau)`` over ``n`` samples."""
    return np.exp(-np.arange(n) / (sr * max(tau, 1e-5)))


def fade_out(x: np.ndarray, sr: int, seconds: float = 0.005) -> np.ndarray:
    """Linear fade over the last ``seconds`` (in place; returns ``x``) to avoid clicks."""
    k = min(len(x), max(1, int(seconds * sr)))
    x[-k:] *= np.linspace(1.0, 0.0, k)
    return x


def fade_in(x: np.ndarray, sr: int, seconds: float = 0.002) -> np.ndarray:
    """Linear fade over the first ``seconds`` (in place; returns ``x``)."""
    k = min(len(x), max(1, int(seconds * sr)))
    x[:k] *= np.linspace(0.0, 1.0, k)
    return x


def _sos(kind: str, freq: float | tuple[float, float], sr: int, order: int) -> np.ndarray:
    nyq = sr / 2.0
    if isinstance(freq, tuple):
        lo, hi = freq
        lo = min(max(lo, 10.0), nyq * 0.95)
        hi = min(max(hi, lo * 1.05), nyq * 0.98)
        return signal.butter(order, (lo, hi), btype=kind, fs=sr, output="sos")
    return signal.butter(order, min(max(freq, 10.0), nyq * 0.98), btype=kind, fs=sr,
                         output="sos")


def lowpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth low-pass along the last axis."""
    return signal.sosfilt(_sos("lowpass", cutoff, sr, order), x, axis=-1)


def highpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth high-pass along the last axis."""
    return signal.sosfilt(_sos("highpass", cutoff, sr, order), x, axis=-1)


def bandpass(x: np.ndarray, lo: float, hi: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth band-pass along the last axis."""
    return signal.sosfilt(_sos("bandpass", (lo, hi), sr, order), x, axis=-1)


def swept_lowpass(x: np.ndarray, env: np.ndarray, lo: float, hi: float, sr: int) -> np.ndarray:
    """A cheap time-varying low-pass: crossfade of a dark and a bright filtered copy.

    ``env`` in [0, 1] (same length as ``x``) moves the cutoff from ``lo`` to ``hi``.
    """
    dark = lowpass(x, lo, sr, 2)
    bright = lowpass(x, hi, sr, 2)
    return dark + (bright - dark) * env


def karplus_strong(freq: float, n: int, sr: int, rng: np.random.Generator,
                   brightness: float = 0.7, decay: float = 0.996,
                   pick_position: float = 0.2) -> np.ndarray:
    """A plucked string (Karplus-Strong), computed block-wise one period at a time.

    Args:
        freq: fundamental in Hz.
        n: samples to render.
        sr: sample rate.
        rng: noise source for the excitation.
        brightness: 0..1, low-pass of the excitation (darker pluck when low).
        decay: loop gain per period (closer to 1 = longer sustain).
        pick_position: relative pluck position (comb-filters the excitation).
    """
    period = max(2, int(round(sr / freq - 0.5)))  # the averaging filter adds half a sample
    burst = rng.uniform(-1.0, 1.0, period)
    if brightness < 0.99:
        burst = lowpass(burst, 500.0 + 9000.0 * brightness**2, sr, 1)
    shift = max(1, int(period * pick_position))
    burst = burst - np.roll(burst, shift)
    burst -= burst.mean()
    y = np.zeros(n + period + 1)
    y[1:period + 1] = burst[: period]
    g = 0.5 * decay
    start = period + 1
    total = n + 1
    while start < total:
        stop = min(start + period, total)
        y[start:stop] = g * (y[start - period:stop - period]
                             + y[start - period - 1:stop - period - 1])
        start = stop
    return y[1:n + 1]


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power left/right gains for ``pan`` in [-1 (left), 1 (right)]."""
    angle = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))


def reverb_ir(sr: int, rng: np.random.Generator, rt60: float, predelay: float = 0.01,
              damping: float = 6000.0) -> np.ndarray:
    """A stereo diffuse-tail impulse response ``(2, frames)`` (decaying filtered noise)."""
    n = int(sr * min(rt60, 3.0) * 1.1) + 1
    t = np.arange(n) / sr
    noise = rng.standard_normal((2, n)) * np.exp(-6.9 * t / rt60)
    noise = lowpass(noise, damping, sr, 1)
    pre = int(predelay * sr)
    ir = np.zeros((2, n + pre))
    ir[:, pre:] = noise
    ir /= np.sqrt(np.sum(ir**2) / 2.0) + 1e-12
    return ir


def apply_reverb(x: np.ndarray, ir: np.ndarray, wet: float) -> np.ndarray:
    """Stereo ``x (2, frames)`` plus ``wet`` times its reverb (same length, tail cut)."""
    n = x.shape[-1]
    size = sfft.next_fast_len(n + ir.shape[-1] - 1, real=True)
    spec = sfft.rfft(x.mean(axis=0), size)
    tail = sfft.irfft(sfft.rfft(ir, size, axis=-1) * spec[None, :], size, axis=-1)[:, :n]
    return x + wet * tail


def add_at(buffer: np.ndarray, start: int, sound: np.ndarray) -> None:
    """Add ``sound`` into ``buffer`` (last axis) at sample ``start``, clipped to the buffer."""
    n = buffer.shape[-1]
    if start >= n or start + sound.shape[-1] <= 0:
        return
    s0 = max(0, -start)
    s1 = min(sound.shape[-1], n - start)
    buffer[..., start + s0:start + s1] += sound[..., s0:s1]
