"""``stemweave analyze`` through ``stemweave.cli.main`` on real audio files."""

from __future__ import annotations

import json

import pytest

from core.audio import save_audio
from stemweave.cli import main
from tests.core.music_signal import make_song

pytest.importorskip("librosa")


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    mix, _ = make_song(["Am", "Dm", "E7", "Am"] * 2, bpm=96.0, start_silence=0.5)
    return save_audio(tmp_path_factory.mktemp("cli") / "minor song.wav", mix, 22050)


def test_json_line_per_file(song, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    code = main(["analyze", str(song), str(bad), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "bad.wav" in err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["file"] == str(song)
    assert obj["tempo_bpm"] == pytest.approx(96.0, rel=0.02)
    assert obj["time_signature"] == "4/4" and obj["key"] == "A minor"
    assert len(obj["beats"]) >= 30 and set(obj["downbeats"]) <= set(obj["beats"])
    labels = [c["label"] for c in obj["chords"]]
    assert labels[:4] == ["Am", "Dm", "E7", "Am"] or labels[1:5] == ["Am", "Dm", "E7", "Am"]
    assert all(set(c) == {"start", "end", "label"} for c in obj["chords"])


def test_human_report(song, capsys):
    assert main(["analyze", str(song)]) == 0
    out = capsys.readouterr().out
    assert "tempo 96." in out and "4/4" in out and "key A minor" in out
    assert "bars   1-4   Am | Dm | E7 | Am" in out


def test_missing_file_is_one_line(capsys):
    assert main(["analyze", "no such file.flac"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file.flac" in err[0]
