"""core.analysis on generated songs whose tempo, metre, key and chords are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.analysis import ANALYSIS_RATE, Analysis, ChordSpan, analyze, names
from core.audio import load_audio, save_audio
from core.errors import AnalysisError
from tests.core.music_signal import make_song

pytest.importorskip("librosa")


def _near(found, truth, tol=0.07):
    """Fraction of ``truth`` times with a ``found`` time within ``tol`` seconds."""
    found = np.asarray(found)
    return float(np.mean([np.min(np.abs(found - t)) <= tol for t in truth]))


@pytest.fixture(scope="module")
def pop_song(tmp_path_factory):
    """C Am F G twice at 120 BPM in 4/4 after half a second of silence, read back from a FLAC."""
    mix, truth = make_song(["C", "Am", "F", "G"] * 2, bpm=120.0, start_silence=0.5,
                           sr=44100)
    path = save_audio(tmp_path_factory.mktemp("a") / "pop.flac", mix, 44100)
    audio, rate = load_audio(path)
    return analyze(audio, rate), truth


def test_tempo_beats_and_downbeats_of_a_4_4_song(pop_song):
    result, truth = pop_song
    assert result.tempo_bpm == pytest.approx(120.0, rel=0.02)
    assert result.time_signature == "4/4"
    assert _near(result.beats, truth["beats"]) >= 0.9
    assert _near(result.downbeats, truth["downbeats"]) >= 0.9
    assert set(result.downbeats) <= set(result.beats)


def test_key_and_one_chord_per_bar(pop_song):
    result, _ = pop_song
    assert result.key == "C major"
    bars = result.chords_per_bar()
    assert [labels for _, labels in bars[:8]] == [[c] for c in ["C", "Am", "F", "G"] * 2]
    assert [n for n, _ in bars[:8]] == list(range(1, 9))
    # spans are contiguous and cover the song
    assert result.chords[0].start == 0.0
    assert all(a.end == b.start for a, b in zip(result.chords, result.chords[1:]))
    assert result.chords[-1].end == pytest.approx(result.duration)


def test_minor_key_seventh_chord_and_three_four():
    mix, _ = make_song(["Am", "Dm", "E7", "Am"] * 2, bpm=96.0, start_silence=0.5)
    result = analyze(mix, 22050)
    assert result.key == "A minor"
    assert [lab for _, lab in result.chords_per_bar()[:4]] == [["Am"], ["Dm"], ["E7"], ["Am"]]
    waltz, truth = make_song(["C", "F", "G", "C"] * 3, bpm=140.0, beats_per_bar=3,
                             start_silence=0.5)
    result = analyze(waltz, 22050)
    assert result.time_signature == "3/4"
    assert _near(result.downbeats, truth["downbeats"]) >= 0.9


def test_stems_give_the_same_grid(pop_song):
    mix, truth = make_song(["C", "Am", "F", "G"] * 2, bpm=120.0, start_silence=0.5)
    result = analyze(mix, ANALYSIS_RATE, stems=truth["stems"])
    assert result.source == "stems"
    assert result.key == "C major"
    assert _near(result.downbeats, truth["downbeats"]) >= 0.9
    assert [lab for _, lab in result.chords_per_bar()[:4]] == [["C"], ["Am"], ["F"], ["G"]]


def test_progress_is_reported_and_bad_audio_is_refused():
    mix, _ = make_song(["C", "G"], bpm=120.0)
    seen: list[float] = []
    analyze(mix, 22050, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 4
    with pytest.raises(AnalysisError, match="too short"):
        analyze(np.zeros((2, 22050), np.float32), 22050)
    silent = analyze(np.zeros((2, 5 * 22050), np.float32), 22050)
    assert silent.chords == (ChordSpan(0.0, 5.0, "N"),)


def test_grid_helpers_and_json_round_trip():
    beats = tuple(0.5 + 0.5 * i for i in range(12))  # one pickup beat, then bars of 4
    a = Analysis(tempo_bpm=120.0, beats_per_bar=4, key="E major", beats=beats,
                 downbeats=beats[1::4], chords=(ChordSpan(0.0, 3.0, "E"),
                                                ChordSpan(3.0, 6.5, "F#7")), duration=6.5)
    assert a.bar_beat(1.0) == (1, 1, 0.0)
    assert a.bar_beat(1.75)[:2] == (1, 2) and a.bar_beat(1.75)[2] == pytest.approx(0.5)
    assert a.bar_beat(0.6)[:2] == (0, 4)  # the pickup beat
    assert a.label_at(3.1) == "2.1"
    assert a.snap(1.2) == 1.0 and a.snap(1.3) == 1.5
    assert a.snap(2.4, "bar") == 3.0 and a.snap(1.9, "bar") == 1.0
    assert a.chord_at(2.9) == "E" and a.chord_at(3.0) == "F#7" and a.chord_at(7.0) == "N"
    assert [b for b, _ in a.chords_per_bar()] == [1, 2, 3]
    obj = json.loads(json.dumps(a.to_json(file="x.wav")))
    assert obj["file"] == "x.wav" and obj["time_signature"] == "4/4"
    assert obj["chords"][1] == {"start": 3.0, "end": 6.5, "label": "F#7"}
    assert Analysis.from_json(obj) == a
    with pytest.raises(ValueError):
        Analysis.from_json({"tempo_bpm": 1})


def test_names():
    assert names.key_name(4, "major") == "E major"
    assert names.key_name(1, "minor") == "C# minor"
    assert names.key_name(10, "major") == "Bb major"
    assert names.chord_label(9, "min") == "Am" and names.chord_label(6, "7") == "F#7"
    assert names.chord_label(1, "maj", flats=True) == "Db"
    for label in ("Am", "F#7", "Bbmaj7", "Cm7", "Bm7b5", "Ddim", "E"):
        root, quality = names.parse_chord(label)
        assert names.chord_label(root, quality, "b" in label) == label
    assert names.parse_chord("N") is None
    assert names.to_mirex("Bbm7") == "A#:min7"
    assert names.quality_of((60, 64, 67, 70), 0) == "7"
    assert names.parse_key("C# minor") == (1, "minor")
    with pytest.raises(ValueError):
        names.parse_chord("Hsus4")


def test_blocks_do_not_change_the_result(monkeypatch):
    """The song is analysed block by block (bounded memory): cutting it into 8-s blocks gives
    the grid, key and chords of one block holding the whole song, at 44.1 kHz (each block
    resampled on its own) as at the analysis rate."""
    from core.analysis import features

    mix, truth = make_song(["C", "Am", "F", "G"] * 2, bpm=120.0, start_silence=0.5,
                           sr=44100)
    whole = analyze(mix, 44100)
    monkeypatch.setattr(features, "BLOCK_S", 8.0)
    seen: list[int] = []
    read = features.Signal.read
    monkeypatch.setattr(features.Signal, "read",
                        lambda self, s0, s1: seen.append(s1 - s0) or read(self, s0, s1))
    blocks = analyze(mix, 44100)
    assert len(seen) >= 3 and max(seen) < 15 * ANALYSIS_RATE  # several short blocks were read
    assert (blocks.key, blocks.beats_per_bar) == (whole.key, whole.beats_per_bar)
    assert blocks.tempo_bpm == pytest.approx(whole.tempo_bpm, rel=0.005)
    assert len(blocks.beats) == len(whole.beats)
    assert np.max(np.abs(np.subtract(blocks.beats, whole.beats))) <= 0.024  # one hop
    assert blocks.chords_per_bar()[:8] == whole.chords_per_bar()[:8]
    assert _near(blocks.downbeats, truth["downbeats"]) >= 0.9


def test_a_generated_song_is_not_tracked_at_half_its_tempo():
    """A generated song (the synthesiser's test split, song 4: 122.8 BPM) that librosa's default
    tempo prior (110 BPM, one octave) tracked at 61 BPM; the prior picked on the validation
    split finds its tempo and beats."""
    from training.synth import render_song, song_rng

    stems, plan = render_song(song_rng(0, 4, "test"), 20.0, ANALYSIS_RATE)
    result = analyze(stems.sum(axis=0), ANALYSIS_RATE)
    assert result.tempo_bpm == pytest.approx(plan.tempo, rel=0.04)
    assert _near(result.beats, np.arange(0.0, 19.9, plan.beat)) >= 0.8
