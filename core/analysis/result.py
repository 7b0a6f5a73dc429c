"""The result of a song's analysis: tempo, beat grid, time signature, key and chords.

Pure data with helpers the GUI and CLI need: the bar and beat at a time, snapping a time to the
nearest beat or bar, the chord at a time, and a JSON form (the ``stemweave analyze --json`` line).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ChordSpan:
    """One chord: ``start``/``end`` in seconds and a label like ``"Am"``, ``"F#7"`` or ``"N"``."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Analysis:
    """A song's musical grid and harmony.

    Attributes:
        tempo_bpm: the main tempo (beats per minute).
        beats_per_bar: the time signature's numerator (3 or 4); the denominator is 4.
        key: e.g. ``"E major"`` or ``"C# minor"``.
        beats: beat times in seconds, ascending.
        downbeats: the beats that start a bar (a subset of ``beats``).
        chords: consecutive chord spans covering the song.
        duration: the song's length in seconds.
        source: what was analysed: ``"mix"`` or ``"stems"``.
    """

    tempo_bpm: float
    beats_per_bar: int
    key: str
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    chords: tuple[ChordSpan, ...]
    duration: float
    source: str = "mix"
    _beat_numbers: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        # position of every beat in its bar (1-based); beats before the first downbeat count
        # backwards from it (a pickup).
        numbers: list[int] = []
        downs = set(self.downbeats)
        first = next((i for i, b in enumerate(self.beats) if b in downs), 0)
        n = self.beats_per_bar
        count = 0
        for i, b in enumerate(self.beats):
            if b in downs:
                count = 1
            elif i < first:
                count = (n - (first - i)) % n + 1
            else:
                count = count % n + 1 if count else 1
            numbers.append(count)
        object.__setattr__(self, "_beat_numbers", tuple(numbers))

    @property
    def time_signature(self) -> str:
        """``"4/4"`` or ``"3/4"``."""
        return f"{self.beats_per_bar}/4"

    def bar_beat(self, t: float) -> tuple[int, int, float]:
        """``(bar, beat, fraction)`` at time ``t``: bars and beats count from 1.

        ``fraction`` is how far (0..1) ``t`` lies between this beat and the next. Times before
        the first downbeat give bar 0 (a pickup) or negative bars.
        """
        beats = self.beats
        if not beats:
            return 1, 1, 0.0
        i = bisect.bisect_right(beats, t) - 1
        period = 60.0 / self.tempo_bpm if self.tempo_bpm > 0 else 0.5
        if i < 0:  # before the first beat: extrapolate backwards
            steps = int(np.ceil((beats[0] - t) / period))
            i_virtual = -steps
            start = beats[0] - steps * period
            nxt = start + period
        else:
            i_virtual = i
            start = beats[i]
            nxt = beats[i + 1] if i + 1 < len(beats) else start + period
        frac = float(np.clip((t - start) / max(nxt - start, 1e-9), 0.0, 1.0))
        bar_index = self._bar_index(i_virtual)
        beat_in_bar = self._beat_number(i_virtual)
        return bar_index, beat_in_bar, frac

    def _first_down_index(self) -> int:
        downs = set(self.downbeats)
        return next((i for i, b in enumerate(self.beats) if b in downs), 0)

    def _beat_number(self, i: int) -> int:
        if 0 <= i < len(self._beat_numbers):
            return self._beat_numbers[i]
        return (i - self._first_down_index()) % self.beats_per_bar + 1

    def _bar_index(self, i: int) -> int:
        """Bar number of beat ``i`` (beat index may be negative: before the first beat)."""
        if 0 <= i < len(self.beats) and self.downbeats:
            return bisect.bisect_right(self.downbeats, self.beats[i])
        return (i - self._first_down_index()) // self.beats_per_bar + 1

    def label_at(self, t: float) -> str:
        """``"bar.beat"`` at time ``t``, e.g. ``"12.3"``."""
        bar, beat, _ = self.bar_beat(t)
        return f"{bar}.{beat}"

    def snap(self, t: float, unit: str = "beat") -> float:
        """The beat (``unit="beat"``) or downbeat (``unit="bar"``) nearest to ``t``."""
        grid = self.downbeats if unit == "bar" else self.beats
        if not grid:
            return t
        i = bisect.bisect_left(grid, t)
        candidates = [grid[j] for j in (i - 1, i) if 0 <= j < len(grid)]
        return min(candidates, key=lambda g: abs(g - t))

    def beats_between(self, a: float, b: float) -> list[tuple[float, int, int]]:
        """``(time, bar, beat)`` of every beat in ``[a, b]``."""
        lo = bisect.bisect_left(self.beats, a)
        hi = bisect.bisect_right(self.beats, b)
        return [(self.beats[i], self._bar_index(i), self._beat_number(i)) for i in range(lo, hi)]

    def chord_at(self, t: float) -> str:
        """The chord label sounding at ``t`` (``"N"`` outside every span)."""
        starts = [c.start for c in self.chords]
        i = bisect.bisect_right(starts, t) - 1
        if i >= 0 and t < self.chords[i].end:
            return self.chords[i].label
        return "N"

    def chords_per_bar(self) -> list[tuple[int, list[str]]]:
        """``(bar number, labels)`` per bar: the chords sounding in each bar, in order."""
        out: list[tuple[int, list[str]]] = []
        downs = list(self.downbeats) + [self.duration]
        for i in range(len(downs) - 1):
            a, b = downs[i], downs[i + 1]
            labels: list[str] = []
            for c in self.chords:
                if c.end > a + 1e-6 and c.start < b - 1e-6:
                    # ignore slivers shorter than a quarter of a beat
                    overlap = min(c.end, b) - max(c.start, a)
                    if overlap >= 0.25 * 60.0 / self.tempo_bpm and (
                            not labels or labels[-1] != c.label):
                        labels.append(c.label)
            out.append((self._bar_index(self.beats.index(a)) if a in self.beats else i + 1,
                        labels or ["N"]))
        return out

    def to_json(self, file: str | None = None) -> dict[str, Any]:
        """The ``stemweave analyze --json`` object (with ``file`` when given)."""
        obj: dict[str, Any] = {} if file is None else {"file": file}
        obj.update({
            "tempo_bpm": round(self.tempo_bpm, 2),
            "time_signature": self.time_signature,
            "key": self.key,
            "beats": [round(b, 3) for b in self.beats],
            "downbeats": [round(b, 3) for b in self.downbeats],
            "chords": [{"start": round(c.start, 3), "end": round(c.end, 3), "label": c.label}
                       for c in self.chords],
            "duration": round(self.duration, 3),
            "source": self.source,
        })
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Analysis:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: a key is missing or malformed.
        """
        try:
            num, _ = str(obj["time_signature"]).split("/")
            beats = tuple(float(b) for b in obj["beats"])
            downs = tuple(b for b in (float(d) for d in obj["downbeats"]))
            return cls(
                tempo_bpm=float(obj["tempo_bpm"]), beats_per_bar=int(num), key=str(obj["key"]),
                beats=beats, downbeats=downs,
                chords=tuple(ChordSpan(float(c["start"]), float(c["end"]), str(c["label"]))
                             for c in obj["chords"]),
                duration=float(obj.get("duration", beats[-1] if beats else 0.0)),
                source=str(obj.get("source", "mix")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an analysis: {exc}") from exc
