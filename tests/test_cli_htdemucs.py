"""``stemweave separate`` with a six-stem HTDemucs model (tiny, random, imported from a demucs
release file into a temporary store): six stem files; ``--stems`` checked against the model."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("demucs")

from stemweave.cli import main  # noqa: E402
from tests.core.htdemucs_tiny import SIX, tiny_htdemucs, write_release_file  # noqa: E402


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMWEAVE_MODELS_DIR", str(tmp_path / "models"))
    path = write_release_file(tiny_htdemucs(SIX, samplerate=44100, seed=3), tmp_path / "dl",
                              "six")
    assert main(["models", "import", str(path), "--name", "six"]) == 0
    return tmp_path / "models"


def _song(path, seconds=1.5, rate=44100):
    t = np.arange(int(seconds * rate)) / rate
    x = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]).T * 0.3
    sf.write(path, x.astype(np.float32), rate)
    return path


def test_six_stem_model_writes_six_files(tmp_path, store, capsys):
    song = _song(tmp_path / "song.wav")
    code = main(["separate", str(song), "-o", str(tmp_path / "out"), "--model", "six",
                 "--device", "cpu", "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    files = sorted(p.name for p in (tmp_path / "out" / "song").iterdir())
    assert files == sorted(f"{s}.wav" for s in SIX)
    stems = np.stack([sf.read(tmp_path / "out" / "song" / f"{s}.wav")[0] for s in SIX])
    assert stems.shape[1:] == (int(1.5 * 44100), 2) and np.abs(stems).max() > 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("six "))
    assert "htdemucs" in row and ", ".join(SIX) in row


def test_stems_are_checked_against_the_model(tmp_path, store, tiny_checkpoint, capsys):
    song = _song(tmp_path / "song.wav", seconds=0.5)
    code = main(["separate", str(song), "-o", str(tmp_path / "out"), "--model", "six",
                 "--stems", "guitar,piano", "--device", "cpu", "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == [
        "guitar.wav", "piano.wav"]
    capsys.readouterr()
    code = main(["separate", str(song), "-o", str(tmp_path / "four"), "--model",
                 str(tiny_checkpoint), "--stems", "guitar"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "unknown stem(s) guitar" in err and "drums,bass,other,vocals" in err
    assert not (tmp_path / "four").exists()


def test_verbose_precision_says_it_was_not_measured(tmp_path, store, capsys):
    song = _song(tmp_path / "song.wav", seconds=0.5)
    code = main(["separate", str(song), "-o", str(tmp_path / "out"), "--model", "six",
                 "--device", "cpu", "--threads", "1", "-v"])
    assert code == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "precision" in ln]
    assert len(lines) == 1, lines
    assert lines[0].startswith("stemweave: precision fp32 on cpu (auto, not measured: "
                               "HTDemucs runs in fp32 only")
    assert "measurement" not in lines[0] and "measured now" not in lines[0]
