"""``stemweave prepare`` on a MUSDB18-HQ layout, and the training commands' error messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemweave.cli import main
from tests.training.conftest import TINY_MODEL, TINY_RUN, make_song
from training.config import TrainConfig
from training.prepared import list_songs

pytestmark = pytest.mark.usefixtures("one_thread")


def _hq_track(folder: Path, seed: int) -> None:
    make_song(folder, seed=seed, seconds=1.0, sample_rate=44100)
    stems = [sf.read(folder / f"{s}.wav", dtype="float32")[0]
             for s in ("drums", "bass", "other", "vocals")]
    sf.write(folder / "mixture.wav", np.sum(stems, axis=0), 44100)


def test_prepare_musdb_hq_uses_the_official_split(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "musdb18hq"
    _hq_track(root / "train" / "Actions - One Minute Smile", 0)  # an official validation song
    _hq_track(root / "train" / "Some Band - Training Song", 1)
    _hq_track(root / "test" / "Other Band - Test Song", 2)
    out = tmp_path / "prepared"
    assert main(["prepare", str(root), "--out", str(out), "--no-progress"]) == 0
    assert "1 train, 1 valid, 1 test" in capsys.readouterr().out
    assert [s.name for s in list_songs(out, "valid")] == ["Actions - One Minute Smile"]
    song = list_songs(out, "test")[0]
    assert song.frames_8k == 8000 and song.audio(32000).shape == (4, 2, 32000)
    ref, _ = sf.read(root / "test" / "Other Band - Test Song" / "bass.wav", dtype="float32")
    assert np.abs(song.audio(8000)[1]).max() > 0.5 * np.abs(ref).max()
    # re-running skips everything
    assert main(["prepare", str(root), "--out", str(out), "--no-progress"]) == 0
    assert "0 train, 0 valid, 0 test songs written, 3 already done" in capsys.readouterr().out


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "p"),
                 "--format", "folder"]) == 1
    assert capsys.readouterr().err.strip().startswith("stemweave: error:")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "r"), *TINY_MODEL,
                 *TINY_RUN]) == 1
    err = capsys.readouterr().err
    assert "stemweave prepare" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "r"), "--N", "30"]) == 1
    assert "multiple of 8" in capsys.readouterr().err
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "r"), "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "r"),
                 "--init", str(tmp_path / "nope.pt")]) == 1
    assert "nope.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage and one error line
        main(["train", "--data", str(empty), "--out", str(tmp_path / "r"),
              "--stem-weights", "1,2"])
    assert exit_info.value.code == 2
    assert "four non-negative weights" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(empty), "--out", str(tmp_path / "r"),
              "--network-window", "0.5"])
    assert exit_info.value.code == 2
    assert "at least 1 second" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nope.safetensors"), "--data", str(empty),
                 "--out", str(tmp_path / "e")]) == 1
    assert capsys.readouterr().err.startswith("stemweave: error:")


def test_fine_tune_from_authors_checkpoint(tmp_path: Path, prepared: Path,
                                           tiny_checkpoint: Path) -> None:
    """--init with the authors' .pt keeps its configuration and statistics and trains."""
    from safetensors.torch import load_file

    from core import load_model

    run = tmp_path / "ft"
    shutil.copy(tiny_checkpoint, tmp_path / "authors.pt")
    assert main(["train", "--data", str(prepared), "--out", str(run), "--init",
                 str(tmp_path / "authors.pt"), *TINY_RUN, "--steps", "1",
                 "--valid-songs", "0", "--stem-weights", "1,1,2,1.5",
                 "--network-window", "3.5"]) == 0
    # the run records its settings, stem weights included, and resumes with them
    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    assert cfg.stem_weights == (1.0, 1.0, 2.0, 1.5)
    assert cfg.network_window_s == 3.5
    from core.families import read_any

    assert read_any(run / "last.safetensors").window_s == 3.5  # the engine will use it
    src = load_model(tiny_checkpoint)
    got = load_file(str(run / "last.safetensors"))
    spec = "stages.0.encoder.spectrogram."
    assert np.array_equal(got[spec + "mean"].numpy(), src.state_dict()[spec + "mean"].numpy())
    w = "stages.0.encoder.bottleneck.0.weight"
    assert not np.array_equal(got[w].numpy(), src.state_dict()[w].numpy())
    assert load_model(run / "last.safetensors").config == src.config
