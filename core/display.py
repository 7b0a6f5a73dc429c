"""What the lanes draw: min/max waveform envelopes and log-frequency spectrograms (no Qt).

:class:`EnvelopePyramid` keeps min/max envelopes of a signal at several resolutions (blocks of
``base_block``, ``base_block * factor``, ...), so that any zoom level of a 10-minute song is drawn
from at most a few thousand points: :meth:`EnvelopePyramid.query` picks the coarsest level that
still has at least one point per pixel. Ranges can be recomputed as a progressive separation
delivers stems (:meth:`EnvelopePyramid.update`).

:func:`log_spectrogram` computes a magnitude spectrogram in dB on a logarithmic frequency axis
(triangular bands between ``fmin`` and ``fmax``), chunk by chunk so memory stays flat; the app
runs it on a worker thread and caches the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _fold(audio: np.ndarray) -> np.ndarray:
    """``(channels, frames)`` or ``(frames,)`` -> 2-D view ``(channels, frames)``."""
    return audio[None, :] if audio.ndim == 1 else audio


class EnvelopePyramid:
    """Multi-resolution min/max envelope of ``audio`` (all channels folded together).

    Args:
        audio: ``(channels, frames)`` or ``(frames,)`` float array; kept by reference (needed
            for the finest zoom and for :meth:`update`).
        base_block: frames per point of the finest envelope level.
        factor: each level has ``factor`` times fewer points than the one below.
        min_points: stop adding levels once a level has fewer points than this.
        compute: compute the levels now; pass ``False`` for a silent buffer that will be
            filled later (every level starts at zero; call :meth:`update` as data arrives).
    """

    def __init__(self, audio: np.ndarray, *, base_block: int = 64, factor: int = 4,
                 min_points: int = 256, compute: bool = True) -> None:
        self.audio = _fold(audio)
        self.frames = int(self.audio.shape[-1])
        self.base_block = int(base_block)
        self.factor = int(factor)
        #: block sizes in frames, finest first (level 0 is ``base_block``).
        self.blocks: list[int] = []
        #: per level: ``(mins, maxs)`` float32 arrays, one value per block.
        self.levels: list[tuple[np.ndarray, np.ndarray]] = []
        block = self.base_block
        while True:
            n = -(-self.frames // block)
            self.blocks.append(block)
            self.levels.append((np.zeros(n, np.float32), np.zeros(n, np.float32)))
            if n <= min_points:
                break
            block *= self.factor
        if compute:
            self.update(0, self.frames)

    def update(self, start_frame: int, stop_frame: int) -> None:
        """Recompute all levels for the frames ``[start_frame, stop_frame)`` (audio changed)."""
        start = max(0, int(start_frame))
        stop = min(self.frames, int(stop_frame))
        if stop <= start:
            return
        b0 = self.base_block
        i0, i1 = start // b0, -(-stop // b0)
        a, b = i0 * b0, min(i1 * b0, self.frames)
        mins, maxs = self.levels[0]
        full = (b - a) // b0
        if full:
            seg = self.audio[:, a:a + full * b0].reshape(self.audio.shape[0], full, b0)
            mins[i0:i0 + full] = seg.min(axis=(0, 2))
            maxs[i0:i0 + full] = seg.max(axis=(0, 2))
        if i0 + full < i1:  # the ragged last block of the song
            tail = self.audio[:, a + full * b0:b]
            mins[i0 + full] = tail.min()
            maxs[i0 + full] = tail.max()
        for level in range(1, len(self.levels)):
            f = self.factor
            lo_min, lo_max = self.levels[level - 1]
            hi_min, hi_max = self.levels[level]
            j0, j1 = i0 // f, -(-i1 // f)
            k0, k1 = j0 * f, min(j1 * f, lo_min.shape[0])
            full = (k1 - k0) // f
            if full:
                hi_min[j0:j0 + full] = lo_min[k0:k0 + full * f].reshape(full, f).min(axis=1)
                hi_max[j0:j0 + full] = lo_max[k0:k0 + full * f].reshape(full, f).max(axis=1)
            if j0 + full < j1:
                hi_min[j0 + full] = lo_min[k0 + full * f:k1].min()
                hi_max[j0 + full] = lo_max[k0 + full * f:k1].max()
            i0, i1 = j0, j1

    def query(self, start_frame: float, stop_frame: float, points: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Envelope of ``[start_frame, stop_frame)`` with about ``points`` (or more) values.

        Args:
            start_frame: first frame of the visible range (clamped to the song).
            stop_frame: end of the visible range.
            points: wanted resolution, typically the view's width in pixels.

        Returns:
            ``(frames, mins, maxs)``: the first frame of each block and its min and max. When
            zoomed in beyond ``base_block`` frames per point, the samples themselves (channel 0
            and the channel-wise min/max) are returned with one block per frame.
        """
        start = int(max(0, min(self.frames, np.floor(start_frame))))
        stop = int(max(start, min(self.frames, np.ceil(stop_frame))))
        span = max(1, stop - start)
        per_point = span / max(1, points)
        if per_point < self.base_block:
            seg = self.audio[:, start:stop]
            frames = np.arange(start, stop, dtype=np.float64)
            return frames, seg.min(axis=0).astype(np.float32), seg.max(axis=0).astype(np.float32)
        level = 0
        while level + 1 < len(self.blocks) and self.blocks[level + 1] <= per_point:
            level += 1
        block = self.blocks[level]
        i0, i1 = start // block, -(-stop // block)
        mins, maxs = self.levels[level]
        frames = np.arange(i0, i1, dtype=np.float64) * block
        return frames, mins[i0:i1], maxs[i0:i1]


@dataclass(frozen=True)
class Spectrogram:
    """A log-frequency magnitude spectrogram.

    Attributes:
        db: float32 ``(bands, columns)`` magnitudes in dB (0 dB = full-scale sine), floor at
            ``floor_db``.
        hop: frames between columns; column ``j`` is centred on frame ``j * hop``.
        sample_rate: of the analysed signal.
        freqs: ``(bands,)`` centre frequency of each band in Hz (ascending).
        floor_db: the lowest value in ``db``.
    """

    db: np.ndarray
    hop: int
    sample_rate: int
    freqs: np.ndarray
    floor_db: float


def log_filterbank(n_fft: int, sample_rate: int, bands: int, fmin: float, fmax: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Triangular bands equally spaced in log frequency.

    Returns:
        ``(weights (bands, n_fft // 2 + 1), centre_freqs (bands,))``; each band's weights sum
        to one (a band averages the bins it covers), and a band narrower than a bin takes the
        nearest bin so low bands are never empty.
    """
    bins = n_fft // 2 + 1
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, bins)
    edges = np.geomspace(fmin, fmax, bands + 2)
    weights = np.zeros((bands, bins), dtype=np.float32)
    for k in range(bands):
        lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
        up = (fft_freqs - lo) / (mid - lo)
        down = (hi - fft_freqs) / (hi - mid)
        w = np.maximum(0.0, np.minimum(up, down))
        if not w.any():
            w[int(np.argmin(np.abs(fft_freqs - mid)))] = 1.0
        weights[k] = w / w.sum()
    return weights, edges[1:-1].astype(np.float32)


def log_spectrogram(audio: np.ndarray, sample_rate: int, *, n_fft: int = 2048,
                    hop: int | None = None, max_columns: int = 8000, bands: int = 192,
                    fmin: float = 30.0, fmax: float | None = None, floor_db: float = -90.0,
                    chunk_columns: int = 512,
                    progress: Callable[[float], None] | None = None,
                    cancel: Callable[[], bool] | None = None) -> Spectrogram:
    """Log-frequency spectrogram of ``audio`` (channels averaged).

    Args:
        audio: ``(channels, frames)`` or ``(frames,)``.
        sample_rate: Hz.
        n_fft: FFT size (Hann window).
        hop: frames between columns; by default chosen so there are at most ``max_columns``
            columns (but never less than ``n_fft // 4``).
        max_columns: see ``hop``.
        bands: number of log-spaced frequency bands.
        fmin: lowest band centre region in Hz.
        fmax: highest frequency (Nyquist by default).
        floor_db: values are clipped below this.
        chunk_columns: columns computed per chunk (bounds memory).
        progress: called with the fraction done.
        cancel: polled per chunk; returning true stops and returns what was computed (the rest
            stays at ``floor_db``).

    Returns:
        the :class:`Spectrogram`.
    """
    x = _fold(audio)
    frames = x.shape[-1]
    if hop is None:
        hop = max(n_fft // 4, -(-frames // max(1, max_columns)))
    fmax = min(fmax or sample_rate / 2.0, sample_rate / 2.0)
    weights, freqs = log_filterbank(n_fft, sample_rate, bands, fmin, fmax)
    window = np.hanning(n_fft).astype(np.float32)
    norm = 2.0 / window.sum()  # full-scale sine -> 1.0
    mono = x.mean(axis=0, dtype=np.float32) if x.shape[0] > 1 else x[0].astype(np.float32)
    pad = n_fft // 2
    padded = np.pad(mono, (pad, pad + n_fft))
    columns = max(1, -(-frames // hop))
    db = np.full((bands, columns), floor_db, dtype=np.float32)
    for c0 in range(0, columns, chunk_columns):
        if cancel is not None and cancel():
            break
        c1 = min(columns, c0 + chunk_columns)
        idx = np.arange(c0, c1)[:, None] * hop + np.arange(n_fft)[None, :]
        spec = np.abs(np.fft.rfft(padded[idx] * window, axis=1)).astype(np.float32) * norm
        bandmag = weights @ spec.T
        np.maximum(bandmag, 1e-12, out=bandmag)
        db[:, c0:c1] = np.maximum(20.0 * np.log10(bandmag), floor_db)
        if progress is not None:
            progress(c1 / columns)
    return Spectrogram(db=db, hop=int(hop), sample_rate=int(sample_rate), freqs=freqs,
                       floor_db=float(floor_db))
