"""core.mixer: gains, mute/solo, pan law, smoothing, partial stems, offline render."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.mixer import Mixer, pan_gains


def _song(frames: int = 4000, channels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    stems = rng.uniform(-0.2, 0.2, size=(4, channels, frames)).astype(np.float32)
    return stems.sum(axis=0), stems


def _render(m: Mixer, start: int, n: int) -> np.ndarray:
    out = np.full((2, n), 9.0, dtype=np.float32)
    m.render(start, out)
    return out


def test_unity_stems_sum_to_mix() -> None:
    mix, stems = _song()
    m = Mixer(mix, 44100, stems)
    out = _render(m, 0, 1024)
    np.testing.assert_allclose(out, mix[:, :1024], atol=1e-6)


def test_mute_solo_gain_pan_after_ramp() -> None:
    mix, stems = _song()
    m = Mixer(mix, 44100, stems)
    _render(m, 0, 512)  # prime the current gains
    m.set_lane(1, mute=True)  # drums muted
    m.set_lane(2, gain_db=-6.0)  # bass at -6 dB
    _render(m, 512, 512)  # the ramp block
    out = _render(m, 1024, 512)
    g = 10 ** (-6 / 20)
    expected = stems[1, :, 1024:1536] * g + stems[2, :, 1024:1536] + stems[3, :, 1024:1536]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    m.set_lane(4, solo=True)  # vocals solo: only vocals
    _render(m, 1536, 512)
    out = _render(m, 2048, 512)
    np.testing.assert_allclose(out, stems[3, :, 2048:2560], atol=1e-6)
    m.set_lane(4, pan=1.0)  # hard right: left silent
    _render(m, 2560, 512)
    out = _render(m, 3072, 512)
    assert np.abs(out[0]).max() == 0.0
    np.testing.assert_allclose(out[1], stems[3, 1, 3072:3584], atol=1e-6)


def test_gain_change_is_ramped_not_stepped() -> None:
    mix = np.ones((1, 2048), dtype=np.float32)
    m = Mixer(mix, 44100)
    _render(m, 0, 512)
    m.set_lane(0, mute=True)
    out = _render(m, 512, 512)
    # linear ramp from 1 to 0 over the block: no jump larger than one ramp step
    assert np.abs(np.diff(out[0])).max() <= 1.0 / 512 + 1e-6
    assert out[0, 0] > 0.99 and out[0, -1] == pytest.approx(0.0, abs=1e-6)


def test_pan_law() -> None:
    assert pan_gains(0.0) == pytest.approx((1.0, 1.0))
    assert pan_gains(-1.0) == pytest.approx((1.0, 0.0), abs=1e-7)
    left, right = pan_gains(0.5)
    assert left == pytest.approx(math.sqrt(2) * math.cos(3 * math.pi / 8))
    assert right == 1.0


def test_mono_song_feeds_both_sides() -> None:
    mix, stems = _song(channels=1)
    m = Mixer(mix, 44100, stems)
    out = _render(m, 0, 256)
    np.testing.assert_allclose(out[0], mix[0, :256], atol=1e-6)
    np.testing.assert_allclose(out[1], mix[0, :256], atol=1e-6)


def test_partial_stems_play_the_mix_beyond_what_was_delivered() -> None:
    mix, stems = _song()
    m = Mixer(mix, 44100)
    m.allocate_stems()
    m.deliver(0, stems[:, :, :1000])
    assert m.available_frames == 1000
    m.set_lane(4, mute=True)
    m.snap_gains()
    out = _render(m, 0, 2000)
    np.testing.assert_allclose(out[:, :1000], stems[:3, :, :1000].sum(axis=0), atol=1e-5)
    np.testing.assert_allclose(out[:, 1000:], mix[:, 1000:2000], atol=1e-6)


def test_render_past_end_is_zero_and_reports_frames() -> None:
    mix, stems = _song(frames=1000)
    m = Mixer(mix, 44100, stems)
    out = np.ones((2, 512), dtype=np.float32)
    assert m.render(800, out) == 200
    assert not out[:, 200:].any()


def test_render_offline_is_the_mix_as_heard() -> None:
    mix, stems = _song()
    m = Mixer(mix, 44100, stems)
    m.set_lane(3, gain_db=-200.0)
    fractions: list[float] = []
    out = m.render_offline(100, 3100, progress=fractions.append)
    assert out.shape == (2, 3000)
    np.testing.assert_allclose(out, stems[[0, 1, 3], :, 100:3100].sum(axis=0), atol=1e-5)
    assert fractions[-1] == 1.0
    snap = m.snapshot()
    snap.set_lane(3, gain_db=0.0)
    assert m.lanes[3].gain_db == -200.0
