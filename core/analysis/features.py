"""Per-frame features of a song, computed block by block in bounded memory.

The song is read in blocks of :data:`BLOCK_S` seconds with :data:`PAD_S` seconds of context on
each side. Each block is mixed to mono and resampled to the analysis rate (soxr) on its own, and
turned into what the analysis needs, one value per hop (:data:`core.analysis.rhythm.HOP` samples,
23 ms): the full-band and low-band onset strength of a log-mel spectrogram (beats, bar lines) and
the 12-class chroma and bass chroma of a constant-Q transform (key, chords). Only one block's
signal and spectra are alive at a time; what grows with the song is the features alone,
26 float32 values per hop (4.5 kB per second of song, 2.7 MB for ten minutes).

The context is longer than any filter reaches (the lowest constant-Q filter, C1, spans 1.6 s;
HPSS's median filters 0.7 s), so a block's features do not depend on where the blocks are cut.
Levels are floored relative to the song's loudest value (the log-mel 80 dB, the constant-Q
60 dB below it), as an analysis of the whole signal at once would do: the blocks are processed
loudest first (by sample peak), so the reference is, in practice, the song's maximum when the
quieter blocks are floored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.analysis import harmony, rhythm

#: analysis rate (Hz).
ANALYSIS_RATE = 22050
#: seconds of song per block (its features are kept), and of context on each side.
BLOCK_S = 30.0
PAD_S = 3.0


@dataclass
class Features:
    """Per-hop features of a song (``frames = 1 + samples // HOP`` at the analysis rate).

    Attributes:
        onset: ``(frames,)`` full-band onset strength (beat tracking).
        low: ``(frames,)`` low-band onset strength (< ~200 Hz: kick drums, bass; bar lines).
        chroma: ``(12, frames)`` chroma of the harmonic part.
        bass: ``(12, frames)`` chroma of its lowest two octaves.
        duration: the song's length in seconds.
    """

    onset: np.ndarray
    low: np.ndarray
    chroma: np.ndarray
    bass: np.ndarray
    duration: float


class Signal:
    """A sum of ``(channels, frames)`` (or ``(frames,)``) arrays at ``rate``, read as mono at
    :data:`ANALYSIS_RATE` range by range (nothing is copied whole).

    Args:
        parts: arrays summed into one signal (a mix, or several stems).
        rate: their sample rate.
    """

    def __init__(self, parts: Sequence[np.ndarray], rate: int) -> None:
        self.parts = [np.asarray(p) for p in parts]
        self.rate = int(rate)
        self.frames_in = max((p.shape[-1] for p in self.parts), default=0)
        #: length in analysis samples
        self.samples = int(round(self.frames_in * ANALYSIS_RATE / self.rate))

    def _input_range(self, s0: int, s1: int) -> tuple[int, int]:
        ratio = self.rate / ANALYSIS_RATE
        return int(round(s0 * ratio)), int(round(s1 * ratio))

    def read(self, s0: int, s1: int) -> np.ndarray:
        """Mono float32 ``(s1 - s0,)`` at the analysis rate for analysis samples ``[s0, s1)``
        (zeros before the start and past the end)."""
        a, b = self._input_range(s0, s1)
        x = np.zeros(max(0, b - a), dtype=np.float32)
        lo, hi = max(0, a), min(self.frames_in, b)
        for p in self.parts:
            if hi <= lo:
                break
            seg = p[..., lo:min(hi, p.shape[-1])]
            mono = seg.mean(axis=0, dtype=np.float32) if seg.ndim == 2 else seg
            x[lo - a:lo - a + mono.shape[-1]] += mono
        if self.rate != ANALYSIS_RATE and len(x):
            import soxr

            x = soxr.resample(x, self.rate, ANALYSIS_RATE, quality="HQ")
        out = np.zeros(s1 - s0, dtype=np.float32)
        k = min(len(x), len(out))
        out[:k] = x[:k]
        return np.nan_to_num(out, copy=False)

    def peak(self, s0: int, s1: int) -> float:
        """Largest absolute sample of the parts within analysis samples ``[s0, s1)``."""
        a, b = self._input_range(max(0, s0), s1)
        peak = 0.0
        for p in self.parts:
            seg = p[..., a:min(b, p.shape[-1])]
            if seg.size:
                peak = max(peak, float(np.max(seg)), -float(np.min(seg)))
        return peak

    def silent(self) -> bool:
        """Whether every sample is zero."""
        return all(np.count_nonzero(p) == 0 for p in self.parts)


def frame_count(samples: int) -> int:
    """Hops of a signal of ``samples`` analysis samples (centred frames)."""
    return 1 + samples // rhythm.HOP


def extract(mix: Signal, *, low_from: Signal | None = None,
            harmony_from: Signal | None = None, progress: object = None) -> Features:
    """The features of a song, block by block.

    Args:
        mix: the song; its onsets give the beats, and (without ``low_from``) the bar lines.
        low_from: where the low-band onsets come from instead (the drum stem).
        harmony_from: where chroma comes from as it is (bass + other stems); without it, the
            harmonic part of ``mix`` (librosa HPSS).
        progress: called with the fraction of blocks done (0..1).
    """
    hop = rhythm.HOP
    n_frames = frame_count(mix.samples)
    block = int(BLOCK_S * ANALYSIS_RATE) // hop * hop
    pad = int(np.ceil(PAD_S * ANALYSIS_RATE / hop)) * hop
    feats = Features(onset=np.zeros(n_frames, np.float32), low=np.zeros(n_frames, np.float32),
                     chroma=np.zeros((12, n_frames), np.float32),
                     bass=np.zeros((12, n_frames), np.float32),
                     duration=mix.frames_in / mix.rate)
    starts = list(range(0, n_frames * hop, block))
    order = sorted(starts, key=lambda a: -mix.peak(a, a + block))  # loudest first
    refs = {"mel": -np.inf, "low": -np.inf, "cqt": -np.inf}
    for done, a in enumerate(order):
        f0, f1 = a // hop, min(n_frames, (a + block) // hop)
        s0, s1 = a - pad, a + block + pad
        k0 = pad // hop  # the block's first frame within the padded block
        y = mix.read(s0, s1)
        db = rhythm.mel_db(y, ANALYSIS_RATE)
        refs["mel"] = max(refs["mel"], float(db.max()))
        full, low = rhythm.onsets_from_mel_db(db, ANALYSIS_RATE, refs["mel"])
        feats.onset[f0:f1] = full[k0:k0 + f1 - f0]
        if low_from is not None:
            db = rhythm.mel_db(low_from.read(s0, s1), ANALYSIS_RATE)
            refs["low"] = max(refs["low"], float(db.max()))
            _, low = rhythm.onsets_from_mel_db(db, ANALYSIS_RATE, refs["low"])
        feats.low[f0:f1] = low[k0:k0 + f1 - f0]
        del db, full, low
        if harmony_from is not None:
            h = harmony_from.read(s0, s1)
        else:
            import librosa

            h = librosa.effects.harmonic(y, margin=2.0)
        del y
        cdb = harmony.cqt_db(h, ANALYSIS_RATE, hop)
        del h
        refs["cqt"] = max(refs["cqt"], float(cdb.max()))
        chroma, bass = harmony.chroma_from_db(cdb, refs["cqt"], ANALYSIS_RATE, hop)
        del cdb
        feats.chroma[:, f0:f1] = chroma[:, k0:k0 + f1 - f0]
        feats.bass[:, f0:f1] = bass[:, k0:k0 + f1 - f0]
        if callable(progress):
            progress((done + 1) / len(order))
    return feats
