"""BSSEval scoring of one track, including a song in which one stem is silent throughout."""

from __future__ import annotations

import math

import numpy as np

from training.evaluate import score_track


def test_silent_stem_scores_nan_and_the_others_are_scored() -> None:
    rng = np.random.default_rng(0)
    sr = 8000
    refs = rng.standard_normal((4, 2, 3 * sr)).astype(np.float32)
    refs[3] = 0.0  # no vocals in this song
    noisy = refs + 0.1 * rng.standard_normal(refs.shape).astype(np.float32)
    noisier = refs + 0.5 * rng.standard_normal(refs.shape).astype(np.float32)
    good = score_track(refs, noisy, sr)
    bad = score_track(refs, noisier, sr)
    assert math.isnan(good["vocals"]["SDR"])
    for stem in ("drums", "bass", "other"):
        assert 15 < good[stem]["SDR"] < 25  # 0.1 noise: about 20 dB
        assert good[stem]["SDR"] > bad[stem]["SDR"] + 10
