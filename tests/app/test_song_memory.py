"""Songs that remember: mixer, loop, tempo/pitch and the analysis come back when a song is
opened again (in the same window or a new one), and are not analysed again."""

from __future__ import annotations

import pytest

from app.song_memory import SongMemory
from core.analysis import Analysis, ChordSpan
from tests.app.conftest import write_song


def _open(qtbot, window, path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.song_loaded, timeout=20_000):
        window.open_file(path)


GRID = Analysis(tempo_bpm=120.0, beats_per_bar=4, key="A minor",
                beats=tuple(0.5 * i for i in range(4)), downbeats=(0.0,),
                chords=(ChordSpan(0.0, 2.0, "Am"),), duration=2.0, source="stems")


def test_a_song_reopened_comes_back_as_it_was_left(qtbot, make_window, song_path,
                                                   tmp_path) -> None:
    cache = tmp_path / "cache"
    w = make_window(remember=True, cache_dir=cache)
    _open(qtbot, w, song_path)
    s = w.session
    s.set_gain_db(0, -6.0)
    s.set_pan(0, 0.4)
    s.set_mute(2, True)
    w.practice.tempo_spin.setValue(80)
    w.practice.pitch_spin.setValue(-2)
    w.set_loop(0.5, 1.5)
    w.grid.show(GRID)  # as if the analysis had just finished (it is remembered then)
    other = write_song(tmp_path / "other.wav", seconds=1.0)
    _open(qtbot, w, other)  # leaving the song remembers it
    assert w.grid.analysis is None and s.mixer.lanes[0].gain_db == 0.0
    w.settings.auto_analyze = True
    _open(qtbot, w, song_path)
    lanes = s.mixer.lanes
    assert lanes[0].gain_db == -6.0 and lanes[0].pan == pytest.approx(0.4) and lanes[2].mute
    assert w.lanes[2].mute_button.isChecked()
    assert w.stretcher.tempo == pytest.approx(0.8) and w.stretcher.semitones == -2
    assert w.practice.tempo_spin.value() == 80
    assert w.loop_s == pytest.approx((0.5, 1.5)) and w.player.loop_enabled
    assert w.grid.analysis == GRID and "A minor" in w.grid.info.text()
    assert w.grid.worker is None  # not analysed again
    w.close()
    # a new window (a new session of the app) finds it too
    again = make_window(remember=True, cache_dir=cache)
    _open(qtbot, again, song_path)
    assert again.session.mixer.lanes[2].mute and again.grid.analysis == GRID


def test_unreadable_memory_is_ignored(qtbot, make_window, song_path, tmp_path) -> None:
    cache = tmp_path / "cache"
    w = make_window(remember=True, cache_dir=cache)
    _open(qtbot, w, song_path)
    path = SongMemory(cache / "songs").path(w.session.song_id)
    w.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    again = make_window(remember=True, cache_dir=cache)
    _open(qtbot, again, song_path)
    assert again.session.mixer.lanes[0].gain_db == 0.0 and not again.errors
    assert SongMemory(cache / "songs").load(again.session.song_id) is None


def test_memory_file_round_trip(tmp_path) -> None:
    m = SongMemory(tmp_path / "songs")
    assert m.load("song-a") is None
    assert m.save("song-a", {"tempo": 0.9})
    assert m.load("song-a")["tempo"] == 0.9 and m.load("song-b") is None
    assert m.path("song-a") != m.path("song-b")
    assert not m.save("", {"tempo": 1.0})
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "songs").write_text("a file where the folder should be")
    assert not SongMemory(tmp_path / "ro" / "songs").save("x", {})
