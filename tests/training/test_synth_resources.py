"""The shipped resources made with the synth: the demo song and the built-in model."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
import torch

from core import load_model
from core.resources import builtin_model_path, demo_song_path


def test_demo_song_is_30s_stereo_flac_with_music() -> None:
    path = demo_song_path()
    info = sf.info(str(path))
    assert (info.format, info.samplerate, info.channels) == ("FLAC", 44100, 2)
    assert abs(info.duration - 30.0) < 0.01
    assert path.stat().st_size < 6_000_000
    audio, _ = sf.read(str(path), dtype="float32")
    assert 0.3 < np.abs(audio).max() <= 1.0
    # sound all the way through (no silent second after the first one)
    per_second = np.sqrt(np.mean(audio[: 30 * 44100].reshape(30, 44100, 2) ** 2, axis=(1, 2)))
    assert (per_second[1:] > 0.01).all()


def test_builtin_model_loads_small_and_separates() -> None:
    path = builtin_model_path()
    assert path.stat().st_size <= 25 * 1024 * 1024
    model = load_model(path)
    cfg = model.config
    assert cfg.stages_num == 3 and cfg.output_rate == 32000
    t = cfg.W * 40
    mixes = [torch.randn(1, 1, t * 2**s) * 0.1 for s in range(3)]
    with torch.no_grad():
        out = model(mixes, last_only=True)[-1]
    assert out.shape == (1, 4, 1, 4 * t)
    assert torch.isfinite(out).all()
    # the configuration recorded in the file is the one documented
    assert json.loads(cfg.to_json())["N"] <= 128
