"""Metronome.set_grid: clicks on detected (uneven) beats, accents on bar starts, any tempo."""

from __future__ import annotations

import numpy as np
import pytest

from core.practice import Metronome
from core.practice.stretch import PracticeError

SR = 8000


def _onsets(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of each click (a sound after 100+ silent samples) and its peak level."""
    idx = np.flatnonzero(np.abs(x) > 1e-4)
    on = idx[np.diff(idx, prepend=-1000) > 100]
    peaks = np.array([np.abs(x[i:i + 200]).max() for i in on])
    return on, peaks


def test_clicks_follow_uneven_beats_with_bar_accents():
    beats = [0.5, 1.1, 1.6, 2.3, 2.8, 3.4]  # not a steady tempo
    numbers = [1, 2, 3, 1, 2, 3]
    m = Metronome(SR, 120.0)
    m.set_grid(beats, numbers, beats_per_bar=3)
    assert m.locked and m.beats_per_bar == 3
    out = np.concatenate([m.render(i * 512, 512) for i in range(4 * SR // 512)])
    on, peaks = _onsets(out)
    assert np.allclose(on / SR, beats, atol=2 / SR)
    accented = peaks > 0.8 * peaks.max()
    assert list(accented) == [n == 1 for n in numbers]


def test_half_tempo_playback_keeps_the_beats_in_song_time():
    m = Metronome(SR, 120.0)
    m.set_grid([0.25, 0.75, 1.25], [1, 2, 3])
    blocks = range(3 * SR // 256 + 8)
    out = np.concatenate([m.render(i * 256 * 0.5, 256, tempo=0.5) for i in blocks])
    on, _ = _onsets(out)
    assert np.allclose(on / SR, [0.5, 1.5, 2.5], atol=3 / SR)  # twice as far apart when heard


def test_back_to_a_steady_tempo_and_bad_grids():
    m = Metronome(SR, 60.0)
    m.set_grid([0.3, 0.9])
    m.set_grid(None)
    assert not m.locked
    on, _ = _onsets(m.render(0, 3 * SR))
    assert np.allclose(on / SR, [0.0, 1.0, 2.0], atol=2 / SR)
    with pytest.raises(PracticeError):
        m.set_grid([0.1, 0.2], [1])
