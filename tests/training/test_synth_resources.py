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


def _sdr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10((ref**2).sum() / max(((ref - est) ** 2).sum(), 1e-12)))


def _songs_with_all_stems(count: int = 2, seconds: float = 8.0) -> list[np.ndarray]:
    """Held-out synth songs (test split, a seed training never used) in which all four stems
    sound in every second: ``(4, 2, frames)`` at 32 kHz."""
    from training.synth.song import render_song, song_rng

    found = []
    for i in range(40):
        stems = render_song(song_rng(1234, i, "test"), seconds, 32000)[0]
        per_second = np.sqrt((stems[..., : int(seconds) * 32000]
                              .reshape(4, 2, int(seconds), 32000) ** 2).mean(axis=(1, 3)))
        if (per_second > 1e-3).all():
            found.append(stems)
            if len(found) == count:
                return found
    raise AssertionError("the synth made too few songs with all four stems")


def test_builtin_model_separates_synth_songs_well_and_a_random_one_does_not(tmp_path) -> None:
    """SDR floor on songs with known stems: the trained weights (measured 5.3 dB mean on these
    two songs, 1.1 dB for splitting the mix in four equal parts) against the same architecture
    with random weights (about 0 dB)."""
    from core import save_model
    from core.model import MetaTasNet
    from core.separator import Separator

    songs = _songs_with_all_stems()
    torch.manual_seed(0)
    random_path = save_model(MetaTasNet(load_model(builtin_model_path()).config),
                             tmp_path / "random.safetensors")

    def mean_sdr(path) -> float:  # noqa: ANN001
        sep = Separator(str(path), "cpu", threads=1)
        return float(np.mean([[_sdr(s[k], e[k]) for k in range(4)]
                              for s, e in ((s, sep.separate(s.sum(0), 32000)) for s in songs)]))

    naive = float(np.mean([[_sdr(s[k], s.sum(0) / 4) for k in range(4)] for s in songs]))
    trained, untrained = mean_sdr(builtin_model_path()), mean_sdr(random_path)
    assert trained >= 3.0 and trained >= naive + 2.5, (trained, naive)
    assert untrained < 1.0 and trained > untrained + 3.0, (trained, untrained)
