"""core.mixer with stems by name: the lane count comes from the model (e.g. six stems)."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import STEMS
from core.mixer import Mixer
from tests.core.test_mixer import _render

SIX = ("drums", "bass", "other", "vocals", "guitar", "piano")


def _six(frames: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """A six-stem song: (mix, stems ``(6, 2, frames)``)."""
    stems = np.random.default_rng(1).uniform(-0.1, 0.1, (6, 2, frames)).astype(np.float32)
    return stems.sum(axis=0), stems


def test_six_stems_give_seven_lanes_and_mix_by_name() -> None:
    mix, stems = _six()
    m = Mixer(mix, 44100, stems, stem_names=SIX)
    assert m.lane_names == ("mix", *SIX) and len(m.lane_states()) == 7
    np.testing.assert_allclose(_render(m, 0, 512), mix[:, :512], atol=1e-6)
    np.testing.assert_array_equal(m.stem("piano"), stems[5])
    m.set_lane(1 + SIX.index("piano"), solo=True)  # the sixth stem alone
    _render(m, 512, 512)  # the ramp block
    np.testing.assert_allclose(_render(m, 1024, 512), stems[5, :, 1024:1536], atol=1e-6)
    # the export path (a snapshot rendered offline) keeps the names and the solo
    snap = m.snapshot()
    assert snap.stem_names == SIX
    np.testing.assert_allclose(snap.render_offline(0, 700), stems[5, :, :700], atol=1e-6)
    with pytest.raises(KeyError, match="no stem named 'cello'"):
        m.stem("cello")


def test_stems_must_match_the_names() -> None:
    mix, stems = _six()
    with pytest.raises(ValueError, match=r"stems must be \(4, channels"):
        Mixer(mix, 44100, stems)  # six rows, four (default) names
    m = Mixer(mix, 44100)
    assert m.stem_names == STEMS
    m.set_stems(stems, SIX)
    assert m.available_frames == m.frames and m.stem("guitar") is not None
    with pytest.raises(ValueError, match="distinct"):
        m.set_stem_names(("a", "a"))
    with pytest.raises(ValueError, match="not 'mix'"):
        m.set_stem_names(("mix", "b"))


def test_progressive_separation_with_another_model_keeps_lanes_by_name() -> None:
    mix, stems = _six()
    m = Mixer(mix, 44100)  # opened with the default four-stem names
    m.set_lane(0, gain_db=-3.0)
    m.set_lane(1 + STEMS.index("vocals"), mute=True)
    _render(m, 0, 256)
    buf = m.allocate_stems(SIX)  # a six-stem model separates
    assert buf.shape == (6, 2, m.frames) and m.available_frames == 0
    assert m.lanes[0].gain_db == -3.0  # the mixture's controls stay
    assert m.lanes[1 + SIX.index("vocals")].mute  # "vocals" keeps its controls by name
    assert not m.lanes[1 + SIX.index("piano")].mute
    m.deliver(0, stems[:, :, :1000])
    assert m.available_frames == 1000
    # rendering goes on across the change (no shape mismatch in the ramp state)
    out = _render(m, 256, 512)
    assert np.isfinite(out).all()
    m.set_lane(0, gain_db=0.0)
    m.set_lane(1 + SIX.index("vocals"), mute=False)
    _render(m, 1200, 256)
    np.testing.assert_allclose(_render(m, 0, 512), mix[:, :512], atol=1e-6)
