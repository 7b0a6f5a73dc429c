"""Tap tempo, click sounds, count-in and a metronome that follows the song at any tempo.

Beats live in *source* time (the song's own timeline): beat ``k`` is at
``offset_s + k * 60 / bpm`` seconds of the song, so the clicks stay on the song's beats whatever
the playback tempo. Clicks are rendered in *output* time (after :class:`TempoPitch`) so they are
neither stretched nor pitch-shifted: a click is always the same short, crisp sound.

* :class:`TapTempo` -- BPM from tap times (median of recent intervals, outliers dropped,
  restarts after a pause).
* :func:`click_sound` -- one click (accented downbeat: higher and louder).
* :func:`count_in` -- ``bars`` bars of clicks to play before playback starts.
* :func:`click_track` -- the clicks for a source range at a tempo (offline export).
* :class:`Metronome` -- the same, block by block for the player (carries click tails over);
  :meth:`Metronome.set_grid` makes it click on detected beats (core.analysis) instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from core.practice.stretch import PracticeError, check_tempo

#: BPM range accepted for taps, typed tempi, count-in and metronome.
BPM_MIN, BPM_MAX = 20.0, 300.0
#: length of one click in seconds.
CLICK_S = 0.035


def check_bpm(bpm: float) -> float:
    """Validate a BPM value; returns it as float.

    Raises:
        PracticeError: outside ``[BPM_MIN, BPM_MAX]`` or not finite.
    """
    b = float(bpm)
    if not (math.isfinite(b) and BPM_MIN <= b <= BPM_MAX):
        raise PracticeError(f"Tempo must be between {BPM_MIN:g} and {BPM_MAX:g} BPM, got {bpm!r}.")
    return b


class TapTempo:
    """Estimate a BPM from tap times.

    The estimate is the mean of the recent tap intervals that lie within ``tolerance`` of their
    median (so one late or double tap does not throw it off). A pause longer than
    ``reset_after_s`` (or than three times the current beat) starts a new measurement.

    Args:
        max_taps: how many recent taps are used.
        reset_after_s: a gap longer than this starts over.
        tolerance: relative deviation from the median interval above which an interval is
            treated as an outlier.
    """

    def __init__(self, max_taps: int = 8, reset_after_s: float = 2.5,
                 tolerance: float = 0.25) -> None:
        self.max_taps = max(2, int(max_taps))
        self.reset_after_s = float(reset_after_s)
        self.tolerance = float(tolerance)
        self._taps: list[float] = []

    def reset(self) -> None:
        """Forget all taps."""
        self._taps = []

    @property
    def taps(self) -> int:
        """Number of taps in the current measurement."""
        return len(self._taps)

    def tap(self, t: float | None = None) -> float | None:
        """Register a tap.

        Args:
            t: tap time in seconds (any monotonic clock); ``time.monotonic()`` when omitted.

        Returns:
            the BPM estimate (rounded to 0.1), or ``None`` until two taps were made.
        """
        now = time.monotonic() if t is None else float(t)
        if self._taps:
            gap = now - self._taps[-1]
            current = self.bpm
            limit = self.reset_after_s
            if current is not None:
                limit = max(limit, 3.0 * 60.0 / current)
            if gap <= 0.0 or gap > limit:
                self._taps = []
        self._taps.append(now)
        self._taps = self._taps[-self.max_taps:]
        return self.bpm

    @property
    def bpm(self) -> float | None:
        """The current estimate, or ``None`` with fewer than two taps."""
        if len(self._taps) < 2:
            return None
        intervals = np.diff(np.asarray(self._taps, dtype=np.float64))
        med = float(np.median(intervals))
        good = intervals[np.abs(intervals - med) <= self.tolerance * med]
        beat = float(good.mean()) if good.size else med
        bpm = 60.0 / beat
        return round(min(BPM_MAX, max(BPM_MIN, bpm)), 1)


@lru_cache(maxsize=16)
def _click(sample_rate: int, accent: bool) -> np.ndarray:
    n = int(round(CLICK_S * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate
    freq = 1760.0 if accent else 1320.0
    level = 1.0 if accent else 0.6
    env = np.exp(-t / 0.008)
    attack = min(n, max(1, int(0.001 * sample_rate)))  # 1 ms rise: no click-in-the-click
    env[:attack] *= np.linspace(0.0, 1.0, attack, endpoint=False) + 1.0 / attack
    release = min(n, max(1, int(0.004 * sample_rate)))  # fade to exactly zero at the end
    env[n - release:] *= np.linspace(1.0, 0.0, release)
    wave = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 2 * freq * t)
    out = (level * env * wave / 1.3).astype(np.float32)
    out.setflags(write=False)
    return out


def click_sound(sample_rate: int, accent: bool = False) -> np.ndarray:
    """One click, float32 mono ``(frames,)``, peak below 1, starting and ending at zero.

    Args:
        sample_rate: in Hz.
        accent: the downbeat click (higher and louder).
    """
    return _click(int(sample_rate), bool(accent))


def _beat_times(start_s: float, stop_s: float, bpm: float, offset_s: float) -> np.ndarray:
    """Indices of beats whose time lies in ``[start_s, stop_s)``."""
    beat = 60.0 / bpm
    k0 = math.ceil((start_s - offset_s) / beat - 1e-9)
    k1 = math.ceil((stop_s - offset_s) / beat - 1e-9)
    return np.arange(k0, max(k0, k1), dtype=np.int64)


def count_in(bpm: float, sample_rate: int, *, bars: int = 1, beats_per_bar: int = 4,
             channels: int = 2, gain: float = 0.5, next_beat: int = 1) -> np.ndarray:
    """The count-in to play before playback: ``bars`` bars of clicks, downbeats accented.

    Args:
        bpm: the tempo as heard (the song's BPM times the playback tempo ratio).
        sample_rate: in Hz.
        bars: number of bars (0 gives an empty array).
        beats_per_bar: clicks per bar.
        channels: channels of the result.
        gain: linear level of the clicks.
        next_beat: the beat of the bar (1-based) playback starts on: the clicks count up to
            it, so the accents fall where the song's bar lines would (1: on a downbeat).

    Returns:
        float32 ``(channels, round(bars * beats_per_bar * 60 / bpm * sample_rate))``; playback
        starts right after its last frame, on beat ``next_beat``.

    Raises:
        PracticeError: invalid BPM, bars or beats per bar.
    """
    bpm = check_bpm(bpm)
    if bars < 0 or bars > 16 or beats_per_bar < 1 or beats_per_bar > 16:
        raise PracticeError("Count-in needs 0-16 bars of 1-16 beats.")
    if not 1 <= next_beat <= beats_per_bar:
        raise PracticeError(f"Count-in: beat {next_beat} is not in a bar of {beats_per_bar}.")
    beats = bars * beats_per_bar
    total = int(round(beats * 60.0 / bpm * sample_rate))
    mono = np.zeros(total, dtype=np.float32)
    for k in range(beats):
        at = int(round(k * 60.0 / bpm * sample_rate))
        c = click_sound(sample_rate, accent=(k - beats + next_beat - 1) % beats_per_bar == 0)
        n = min(c.shape[0], total - at)
        mono[at:at + n] += c[:n] * np.float32(gain)
    return np.repeat(mono[None, :], max(1, int(channels)), axis=0)


def click_track(source_start_frame: float, n_out: int, sample_rate: int, bpm: float, *,
                tempo: float = 1.0, offset_s: float = 0.0, beats_per_bar: int = 4,
                gain: float = 0.5) -> np.ndarray:
    """Clicks for ``n_out`` output frames starting at a source position, at a tempo.

    Output frame ``i`` is source frame ``source_start_frame + i * tempo``; a beat at source
    frame ``b`` clicks at output frame ``(b - source_start_frame) / tempo``. Clicks that began
    before the range are included as tails, so consecutive ranges join seamlessly while the
    tempo is constant (use :class:`Metronome` when it can change).

    Args:
        source_start_frame: source frame of output frame 0.
        n_out: output frames to render.
        sample_rate: in Hz.
        bpm: the song's BPM (in source time).
        tempo: playback tempo ratio (source seconds per output second).
        offset_s: source time of a downbeat (the first bar's start).
        beats_per_bar: accent every this many beats.
        gain: linear level.

    Returns:
        float32 mono ``(n_out,)``.
    """
    bpm = check_bpm(bpm)
    tempo = check_tempo(tempo)
    out = np.zeros(max(0, int(n_out)), dtype=np.float32)
    click_len = click_sound(sample_rate).shape[0]
    sr = float(sample_rate)
    start_s = (source_start_frame - click_len * tempo) / sr
    stop_s = (source_start_frame + n_out * tempo) / sr
    for k in _beat_times(start_s, stop_s, bpm, offset_s):
        src = (offset_s + k * 60.0 / bpm) * sr
        at = int(round((src - source_start_frame) / tempo))
        _add_click(out, at, k, beats_per_bar, sample_rate, gain)
    return out


def _add_click(out: np.ndarray, at: int, k: int, beats_per_bar: int, sample_rate: int,
               gain: float) -> None:
    c = click_sound(sample_rate, accent=int(k) % beats_per_bar == 0)
    a, b = max(at, 0), min(at + c.shape[0], out.shape[0])
    if b > a:
        out[a:b] += c[a - at:b - at] * np.float32(gain)


class Metronome:
    """Renders clicks block by block in output time, following the song's beats.

    Call :meth:`render` once per output block with the source position of the block's first
    frame (:attr:`TempoPitch.output_source_position` read before ``process``) and the tempo;
    each beat clicks once, when its source time is reached, and a click that runs past the end
    of a block continues in the next one. Call :meth:`reset` on seek or loop wrap.

    Args:
        sample_rate: in Hz.
        bpm: the song's BPM (source time).
        offset_s: source time of a downbeat.
        beats_per_bar: accent every this many beats.
        gain: linear level of the clicks.
    """

    def __init__(self, sample_rate: int, bpm: float, *, offset_s: float = 0.0,
                 beats_per_bar: int = 4, gain: float = 0.5) -> None:
        self.sample_rate = int(sample_rate)
        self.bpm = check_bpm(bpm)
        self.offset_s = float(offset_s)
        self.beats_per_bar = max(1, int(beats_per_bar))
        self.gain = float(gain)
        self._tail = np.zeros(0, dtype=np.float32)
        self._last_beat: int | None = None
        self._stop_s: float | None = None
        self._grid: np.ndarray | None = None
        self._numbers: np.ndarray | None = None

    def set_bpm(self, bpm: float, offset_s: float | None = None) -> None:
        """Change the song's BPM (and optionally the downbeat time)."""
        self.bpm = check_bpm(bpm)
        if offset_s is not None:
            self.offset_s = float(offset_s)
        self._last_beat = None

    def set_grid(self, beats: Sequence[float] | None, numbers: Sequence[int] | None = None,
                 beats_per_bar: int | None = None) -> None:
        """Click on detected beats instead of a steady BPM.

        Args:
            beats: beat times in source seconds, ascending (``None`` or empty: back to the
                steady ``bpm``/``offset_s`` grid).
            numbers: each beat's position in its bar (1 = downbeat, accented); all accented
                when omitted.
            beats_per_bar: the metre (kept when omitted).
        """
        if beats is None or len(beats) == 0:
            self._grid = None
            self._numbers = None
        else:
            self._grid = np.asarray(beats, dtype=np.float64)
            nums = np.ones(len(beats), dtype=np.int64) if numbers is None else np.asarray(
                numbers, dtype=np.int64)
            if nums.shape != self._grid.shape:
                raise PracticeError("one bar position per beat is needed")
            self._numbers = nums
        if beats_per_bar is not None:
            self.beats_per_bar = max(1, int(beats_per_bar))
        self._last_beat = None

    @property
    def locked(self) -> bool:
        """Whether the clicks follow detected beats (:meth:`set_grid`)."""
        return self._grid is not None

    def reset(self) -> None:
        """Forget click tails and which beats already clicked (seek, loop wrap)."""
        self._tail = np.zeros(0, dtype=np.float32)
        self._last_beat = None
        self._stop_s = None

    def render(self, source_start_frame: float, n_out: int, tempo: float = 1.0) -> np.ndarray:
        """Clicks for the next ``n_out`` output frames.

        Args:
            source_start_frame: source frame of the block's first output frame.
            n_out: frames in the block.
            tempo: tempo ratio in effect for the block.

        Returns:
            float32 mono ``(n_out,)``; add it (times a gain) to every output channel.
        """
        tempo = check_tempo(tempo)
        n_out = max(0, int(n_out))
        out = np.zeros(n_out, dtype=np.float32)
        k = min(self._tail.shape[0], n_out)
        out[:k] = self._tail[:k]
        self._tail = self._tail[k:]
        if n_out == 0:
            return out
        sr = float(self.sample_rate)
        start_s = source_start_frame / sr
        stop_s = (source_start_frame + n_out * tempo) / sr
        if self._stop_s is not None:
            if 0.0 < start_s - self._stop_s < 0.1:
                start_s = self._stop_s  # a small gap in the position estimate: miss no beat
            elif abs(start_s - self._stop_s) >= 0.1:
                self._last_beat = None  # the position jumped (loop wrap, seek)
        self._stop_s = stop_s
        grid, numbers = self._grid, self._numbers
        if grid is not None:
            beats = np.arange(np.searchsorted(grid, start_s - 1e-9),
                              np.searchsorted(grid, stop_s - 1e-9))
        else:
            beats = _beat_times(start_s, stop_s, self.bpm, self.offset_s)
        click_len = click_sound(self.sample_rate).shape[0]
        ext = np.zeros(n_out + click_len, dtype=np.float32)
        for b in beats:
            if self._last_beat is not None and b <= self._last_beat:
                continue
            if grid is not None and numbers is not None:
                src = grid[b] * sr
                k = int(numbers[b]) - 1  # accented when it is the bar's first beat
            else:
                src = (self.offset_s + b * 60.0 / self.bpm) * sr
                k = int(b)
            at = max(0, int(round((src - source_start_frame) / tempo)))
            _add_click(ext, at, k, self.beats_per_bar, self.sample_rate, self.gain)
            self._last_beat = int(b)
        out += ext[:n_out]
        spill = ext[n_out:]
        if spill.any():
            if self._tail.shape[0] < spill.shape[0]:
                self._tail = np.pad(self._tail, (0, spill.shape[0] - self._tail.shape[0]))
            self._tail = self._tail + spill
        return out


def bars_duration_s(bars: int, bpm: float, beats_per_bar: int = 4) -> float:
    """Duration in seconds of ``bars`` bars at ``bpm``."""
    return bars * beats_per_bar * 60.0 / check_bpm(bpm)


def estimate_bpm(tap_times: Sequence[float]) -> float | None:
    """BPM from a list of tap times in seconds (see :class:`TapTempo`); ``None`` if < 2 taps."""
    tt = TapTempo(max_taps=max(2, len(tap_times)))
    bpm = None
    for t in tap_times:
        bpm = tt.tap(t)
    return bpm
