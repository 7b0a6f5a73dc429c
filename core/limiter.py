"""A peak limiter for clip protection (playback and export of the mix as heard).

The signal is cut into chunks of ``chunk`` frames; each chunk's peak gives the gain that keeps
it under ``ceiling_db`` (attack: at once). The gain then recovers towards 1 with the ``release``
time constant. Within a chunk the gain is a ramp between two values that both keep the chunk's
peak under the ceiling, so no sample exceeds it; a final clip only guards against rounding.
Stateful across blocks (streaming), vectorised per block except one short loop over chunks.
"""

from __future__ import annotations

import math

import numpy as np


class Limiter:
    """Keeps ``(channels, frames)`` float audio under a ceiling.

    Args:
        sample_rate: in Hz.
        ceiling_db: the highest level allowed, dBFS (default -0.3).
        release_s: time constant of the gain's recovery.
        chunk: frames per gain step.

    Attributes:
        reduction_db: the largest gain reduction of the last block (0 = untouched), for meters.
        total_limited: blocks in which the limiter acted (since creation).
    """

    def __init__(self, sample_rate: int, *, ceiling_db: float = -0.3, release_s: float = 0.15,
                 chunk: int = 64) -> None:
        self.sample_rate = int(sample_rate)
        self.ceiling = float(10.0 ** (ceiling_db / 20.0))
        self.chunk = max(1, int(chunk))
        self.decay = math.exp(-self.chunk / max(1e-4, release_s * self.sample_rate))
        self.gain = 1.0
        self.reduction_db = 0.0
        self.total_limited = 0

    def reset(self) -> None:
        """Forget the current gain reduction."""
        self.gain = 1.0
        self.reduction_db = 0.0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Limit one block; returns a new float32 array of the same shape."""
        x = np.asarray(block, dtype=np.float32)
        n = x.shape[-1]
        if n == 0:
            return x.copy()
        c = self.chunk
        k = -(-n // c)
        mag = np.abs(x).max(axis=0) if x.ndim == 2 else np.abs(x)
        padded = np.zeros(k * c, dtype=np.float32)
        padded[:n] = mag
        peaks = padded.reshape(k, c).max(axis=1)
        target = np.minimum(1.0, self.ceiling / np.maximum(peaks, 1e-12))
        if self.gain >= 1.0 and target.min() >= 1.0:  # nothing to do (the common case)
            self.reduction_db = 0.0
            return x.copy()
        ends = np.empty(k)
        starts = np.empty(k)
        g = self.gain
        decay = self.decay
        for i in range(k):
            t = float(target[i])
            starts[i] = min(g, t)
            g = min(t, 1.0 - (1.0 - g) * decay)
            ends[i] = g
        self.gain = g
        frac = (np.arange(c, dtype=np.float64) + 1.0) / c
        ramp = (starts[:, None] + (ends - starts)[:, None] * frac[None, :]).reshape(-1)[:n]
        out = (x * ramp.astype(np.float32)).astype(np.float32)
        np.clip(out, -self.ceiling, self.ceiling, out=out)
        low = float(min(starts.min(), ends.min()))
        self.reduction_db = -20.0 * math.log10(max(low, 1e-6)) if low < 1.0 else 0.0
        if low < 1.0:
            self.total_limited += 1
        return out


def limit(audio: np.ndarray, sample_rate: int, *, ceiling_db: float = -0.3) -> np.ndarray:
    """Limit a whole ``(channels, frames)`` array (export); returns a new float32 array."""
    lim = Limiter(sample_rate, ceiling_db=ceiling_db)
    step = 1 << 16
    x = np.asarray(audio, dtype=np.float32)
    parts = [lim.process(x[..., i:i + step]) for i in range(0, x.shape[-1], step)]
    return np.concatenate(parts, axis=-1) if parts else x.copy()
