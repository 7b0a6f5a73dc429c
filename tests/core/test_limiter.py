"""core.limiter: nothing above the ceiling, quiet audio untouched, gain recovers, streaming."""

from __future__ import annotations

import numpy as np
import pytest

from core.limiter import Limiter, limit

SR = 44100


def _tone(amp: float, seconds: float = 1.0, f: float = 220.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    x = amp * np.sin(2 * np.pi * f * t)
    return np.stack([x, 0.5 * x]).astype(np.float32)


def test_loud_audio_stays_under_the_ceiling_and_quiet_audio_is_untouched():
    loud = _tone(2.65)  # +8.4 dBFS, as the export
    out = limit(loud, SR, ceiling_db=-0.3)
    ceiling = 10 ** (-0.3 / 20)
    assert np.abs(out).max() <= ceiling + 1e-6
    assert np.abs(out).max() > 0.9 * ceiling  # limited, not silenced
    quiet = _tone(0.5)
    assert np.array_equal(limit(quiet, SR), quiet)


def test_gain_recovers_after_a_burst_and_blocks_join():
    x = np.concatenate([_tone(0.3, 0.5), _tone(3.0, 0.05), _tone(0.3, 1.0)], axis=1)
    lim = Limiter(SR, release_s=0.05)
    blocks = [lim.process(x[:, i:i + 1024]) for i in range(0, x.shape[1], 1024)]
    out = np.concatenate(blocks, axis=1)
    assert out.shape == x.shape and np.abs(out).max() <= 10 ** (-0.3 / 20) + 1e-6
    assert lim.total_limited > 0
    assert np.array_equal(out[:, :SR // 4], x[:, :SR // 4])  # before the burst: untouched
    tail = slice(x.shape[1] - SR // 4, x.shape[1])  # 0.75 s after: back to unity
    np.testing.assert_allclose(out[:, tail], x[:, tail], atol=1e-3)
    assert lim.reduction_db == pytest.approx(0.0, abs=0.01)


def test_reduction_is_reported():
    lim = Limiter(SR)
    lim.process(_tone(2.0, 0.1))
    assert lim.reduction_db > 6.0
