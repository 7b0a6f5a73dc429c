"""core.display: min/max envelope pyramid and log-frequency spectrogram."""

from __future__ import annotations

import numpy as np

from core.display import EnvelopePyramid, log_spectrogram


def test_envelope_levels_match_brute_force() -> None:
    rng = np.random.default_rng(1)
    audio = rng.standard_normal((2, 100_003)).astype(np.float32)
    env = EnvelopePyramid(audio, base_block=64, factor=4)
    assert env.blocks[:3] == [64, 256, 1024]
    for level, block in enumerate(env.blocks):
        mins, maxs = env.levels[level]
        for i in (0, 7, len(mins) - 1):
            seg = audio[:, i * block:(i + 1) * block]
            assert mins[i] == seg.min() and maxs[i] == seg.max()


def test_query_picks_resolution_and_raw_samples_when_zoomed_in() -> None:
    audio = np.sin(np.linspace(0, 200, 441_000)).astype(np.float32)
    env = EnvelopePyramid(audio)
    frames, mins, maxs = env.query(0, 441_000, 1000)
    assert 1000 <= len(frames) <= 4000  # about one point per pixel, never fewer
    assert (mins <= maxs).all()
    frames, mins, maxs = env.query(1000, 1500, 1000)  # < 64 frames per point: samples
    assert len(frames) == 500
    np.testing.assert_array_equal(mins, audio[1000:1500])


def test_update_recomputes_a_range() -> None:
    audio = np.zeros((1, 50_000), dtype=np.float32)
    env = EnvelopePyramid(audio, compute=False)
    audio[0, 20_000] = 0.75
    env.update(19_000, 21_000)
    assert env.levels[0][1].max() == 0.75
    assert env.levels[-1][1].max() == 0.75


def test_spectrogram_puts_a_sine_in_the_right_band() -> None:
    sr = 22050
    t = np.arange(sr * 2) / sr
    audio = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    spec = log_spectrogram(audio, sr, bands=96)
    band = int(np.argmax(spec.db[:, spec.db.shape[1] // 2]))
    assert abs(spec.freqs[band] - 1000) / 1000 < 0.1
    assert spec.db.shape[0] == 96 and spec.db.min() >= spec.floor_db
    assert (np.diff(spec.freqs) > 0).all()
