"""Named loops in the real window: save, choose from the toolbar list, step with [ and ],
delete, and find them again when the song is reopened."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core.analysis import Analysis, ChordSpan
from tests.app.conftest import write_song


def _open(qtbot, window, path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.song_loaded, timeout=20_000):
        window.open_file(path)


def test_named_loops(qtbot, make_window, song_path, tmp_path) -> None:
    w = make_window(remember=True, cache_dir=tmp_path / "cache")
    _open(qtbot, w, song_path)
    assert not w.loop_combo.isEnabled()
    assert w.save_loop("nothing drawn") is None  # no region yet: says how instead
    w.set_loop(1.0, 1.5)
    w.save_loop("Chorus")
    w.set_loop(0.25, 0.75)
    assert w.save_loop()["name"] == "Loop 2"
    assert [w.loop_combo.itemText(i) for i in range(w.loop_combo.count())] == [
        "Loops…", "Loop 2", "Chorus"]  # in song order
    w.set_loop(0.0, 0.0)
    w.loop_combo.activated.emit(2)  # the user picks "Chorus"
    assert w.loop_s == pytest.approx((1.0, 1.5)) and w.player.loop_enabled
    assert w.player.position_s == pytest.approx(1.0, abs=0.01)
    w.activateWindow()
    qtbot.keyClick(w, Qt.Key.Key_BracketLeft)
    assert w.loop_s == pytest.approx((0.25, 0.75)) and w.loop_combo.currentText() == "Loop 2"
    qtbot.keyClick(w, Qt.Key.Key_BracketRight)
    assert w.loop_combo.currentText() == "Chorus"
    # with a grid the default name is the bars
    beats = tuple(0.25 * i for i in range(8))
    w.grid.show(Analysis(tempo_bpm=240.0, beats_per_bar=4, key="A major", beats=beats,
                         downbeats=beats[::4], chords=(ChordSpan(0.0, 2.0, "A"),),
                         duration=2.0))
    w.set_loop(1.0, 2.0)
    assert w.default_loop_name() == "Bar 2"
    w.set_loop(0.0, 2.0)
    assert w.default_loop_name() == "Bars 1-2"
    assert w.delete_loop("Loop 2") and [d["name"] for d in w.saved_loops] == ["Chorus"]
    # remembered with the song
    _open(qtbot, w, write_song(tmp_path / "other.wav", seconds=1.0))
    assert w.saved_loops == []
    _open(qtbot, w, song_path)
    assert [d["name"] for d in w.saved_loops] == ["Chorus"]
    assert w.saved_loops[0]["start"] == pytest.approx(1.0)
