"""Fixtures for the training tests: small generated multitrack songs and a prepared dataset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

#: CLI flags of a tiny model that trains in a fraction of a second per step.
TINY_MODEL = ["--N", "32", "--B", "16", "--H", "32", "--layers", "2", "--stack", "1",
              "--num-mels", "16"]
#: CLI flags of a short, cheap training run.
TINY_RUN = ["--batch-size", "2", "--crop-s", "0.5", "--stats-crops", "4", "--workers", "0",
            "--no-progress", "--valid-max-s", "1", "--log-every", "1", "--threads", "1"]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run a training test on one torch thread (on the shared 2-core machine two intra-op threads
    are several times slower than one) and put the thread count back afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_song(folder: Path, seed: int, seconds: float = 4.0, sample_rate: int = 22050,
              drop: tuple[str, ...] = (), extra: bool = False, mixture: bool = False) -> None:
    """Write a short random-ish stereo multitrack song as WAV stems into ``folder``.

    Drums are gated noise bursts, bass a low sine, other a tremolo chord, vocals a vibrato tone;
    each song has its own pitches and rhythm from ``seed``.
    """
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    gate = np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t) > 0.8
    stems = {
        "drums": 0.5 * rng.standard_normal(t.size) * gate,
        "bass": 0.4 * np.sin(2 * np.pi * rng.uniform(40, 90) * t),
        "other": 0.2 * np.sin(2 * np.pi * rng.uniform(250, 400) * t)
        * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t)),
        "vocals": 0.3 * np.sin(2 * np.pi * rng.uniform(500, 800) * t
                               + 3 * np.sin(2 * np.pi * 5 * t)),
    }
    folder.mkdir(parents=True, exist_ok=True)
    pan = rng.uniform(0.5, 1.0)
    for name, x in stems.items():
        if name in drop:
            continue
        sf.write(folder / f"{name}.wav", np.stack([x, pan * x], 1).astype(np.float32),
                 sample_rate)
    if extra:
        sf.write(folder / "piano.wav", (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
                 sample_rate)
    if mixture:
        sf.write(folder / "mixture.wav", np.ones((t.size, 2), np.float32), sample_rate)


@pytest.fixture(scope="session")
def song_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five generated songs, all stems present (one has an extra stem and a mixture file)."""
    root = tmp_path_factory.mktemp("songs")
    for k in range(5):
        make_song(root / f"song{k}", seed=k, extra=k == 0, mixture=k == 0)
    return root


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory, song_folder: Path) -> Path:
    """``song_folder`` prepared (4 train songs, 1 validation song)."""
    from training.prepare import prepare_folder

    out = tmp_path_factory.mktemp("prepared") / "data"
    report = prepare_folder(song_folder, out, seed=0, valid_fraction=0.2)
    assert report.written == {"train": 4, "valid": 1, "test": 0}
    return out
