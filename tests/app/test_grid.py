"""The musical grid in the real window: background analysis, bars:beats ruler, chord row, key
and tempo label, snapping of seeks and loop edges (Shift: none), metronome on the beats."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from core.audio import save_audio
from tests.app.test_main_window import _drag
from tests.core.music_signal import make_song

pytest.importorskip("librosa")

CHORDS = ["C", "Am", "F", "G"] * 2
ANALYSIS_TIMEOUT_MS = 180_000  # the first analysis in a fresh venv compiles librosa's kernels


@pytest.fixture(scope="module")
def grid_song(tmp_path_factory):
    mix, truth = make_song(CHORDS, bpm=120.0, start_silence=0.5, sr=44100)
    path = save_audio(tmp_path_factory.mktemp("grid") / "grid song.wav", mix, 44100)
    return path, truth


@pytest.fixture
def window(qtbot, make_window, grid_song):  # noqa: ANN001, ANN201
    w = make_window(analyze=True)
    with qtbot.waitSignal(w.grid.analysed, timeout=ANALYSIS_TIMEOUT_MS):
        w.open_file(grid_song[0])
    return w


def _ticks(w):  # noqa: ANN001, ANN202
    axis = w.timeline.axis
    (x0, x1), _ = w.timeline.getPlotItem().getViewBox().viewRange()
    levels = axis.tickValues(x0, x1, axis.width())
    return [(values, axis.tickStrings(values, 1.0, spacing)) for spacing, values in levels]


def test_ruler_chords_key_and_tempo(qtbot, window, grid_song) -> None:
    w = window
    _, truth = grid_song
    assert "C major" in w.grid.info.text() and "4/4" in w.grid.info.text()
    assert "120" in w.grid.info.text()
    # whole song in view: one labelled tick per bar, on the true bar lines
    (bars, labels), _ = _ticks(w)
    assert labels[:8] == [str(n) for n in range(1, 9)]
    assert np.allclose(bars[:8], truth["downbeats"], atol=0.07)
    assert w.chord_row.visible_labels() == CHORDS
    # zoomed in on bar 2: beats labelled 2.2, 2.3, 2.4
    vb = w.timeline.getPlotItem().getViewBox()
    vb.setXRange(2.4, 4.6, padding=0.0)
    qtbot.wait(20)
    (_, major), (_, minor) = _ticks(w)
    assert "2" in major and [s for s in minor if s][:3] == ["2.2", "2.3", "2.4"]
    assert "Am" in w.chord_row.visible_labels()
    # the chord row follows the ruler's zoom (x-linked)
    assert w.chord_row.getPlotItem().getViewBox().viewRange()[0] == pytest.approx([2.4, 4.6])
    # m:ss mode
    w.grid.bars_action.trigger()
    assert not w.settings.ruler_bars
    assert all(":" in s for _, strings in _ticks(w) for s in strings if s)
    w.grid.bars_action.trigger()
    assert w.timeline.axis.showing_bars


def _click_lane(qtbot, w, seconds, modifier=Qt.KeyboardModifier.NoModifier):  # noqa: ANN001, ANN202
    view = w.lanes[0].view
    vb = view.getPlotItem().getViewBox()
    pos = view.mapFromScene(vb.mapViewToScene(QPointF(seconds, 0.0)))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier, pos)


def test_seeks_and_loop_edges_snap_to_the_grid(qtbot, window, grid_song) -> None:
    w = window
    _, truth = grid_song
    beats = np.asarray(w.grid.analysis.beats)
    _click_lane(qtbot, w, 1.12)
    assert np.min(np.abs(beats - w.player.position_s)) < 0.005
    assert w.player.position_s == pytest.approx(1.0, abs=0.07)

    ruler_vb = w.timeline.getPlotItem().getViewBox()

    def drag(a: float, b: float) -> None:
        w.set_loop(0.0, 0.0)  # no region under the mouse: the drag draws a new one
        p0 = w.timeline.mapFromScene(ruler_vb.mapViewToScene(QPointF(a, 0.5)))
        p1 = w.timeline.mapFromScene(ruler_vb.mapViewToScene(QPointF(b, 0.5)))
        _drag(qtbot, w.timeline.viewport(), p0, p1)

    drag(2.8, 6.2)  # snaps to the beats at ~3.0 and ~6.0
    a, b = w.loop_s
    assert np.min(np.abs(beats - a)) < 0.005 and np.min(np.abs(beats - b)) < 0.005
    assert a == pytest.approx(3.0, abs=0.07) and b == pytest.approx(6.0, abs=0.07)
    assert w.timeline.region.getRegion() == pytest.approx((a, b))
    w.grid.snap_actions["bar"].trigger()  # snap to bars: the loop covers whole bars
    assert w.settings.snap == "bar"
    drag(2.8, 6.2)
    a, b = w.loop_s
    assert a == pytest.approx(truth["downbeats"][1], abs=0.07)
    assert b == pytest.approx(truth["downbeats"][3], abs=0.07)
    w.grid.snap_actions["off"].trigger()
    drag(2.8, 6.2)
    assert w.loop_s == pytest.approx((2.8, 6.2), abs=0.03)
    w.grid.snap_actions["beat"].trigger()
    w.set_loop(0.0, 0.0)
    _click_lane(qtbot, w, 1.12, Qt.KeyboardModifier.ShiftModifier)  # Shift: exactly there
    assert w.player.position_s == pytest.approx(1.12, abs=0.01)


def test_practice_tools_follow_the_detected_beats(window) -> None:
    w = window
    a = w.grid.analysis
    assert w.practice.bpm == pytest.approx(a.tempo_bpm, abs=0.1)
    assert w.metronome is not None and w.metronome.locked
    # the metronome clicks on the detected beats: render the first 3 s in one block
    w.metronome.reset()
    clicks = w.metronome.render(0, 3 * w.session.sample_rate)
    onsets = np.flatnonzero((np.abs(clicks[1:]) > 1e-3) & (np.abs(clicks[:-1]) <= 1e-3)) + 1
    expected = [b for b in a.beats if b < 3.0 - 0.04]
    assert len(onsets) >= len(expected) - 1
    found = onsets / w.session.sample_rate
    assert all(np.min(np.abs(found - b)) < 0.01 for b in expected if b > 0.01)
    count = w._count_in()
    if w.practice.count_in_bars:
        assert count.shape[1] == pytest.approx(
            w.practice.count_in_bars * a.beats_per_bar * 60 / w.practice.heard_bpm
            * w.session.sample_rate, abs=2)


def test_a_new_song_clears_the_grid(qtbot, window, tmp_path) -> None:
    w = window
    mix, _ = make_song(["Am", "Dm", "E7", "Am"] * 2, bpm=96.0, start_silence=0.5, sr=44100)
    path = save_audio(tmp_path / "minor.wav", mix, 44100)
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(path)
    assert w.grid.analysis is None or w.grid.worker is None
    with qtbot.waitSignal(w.grid.analysed, timeout=ANALYSIS_TIMEOUT_MS):
        pass
    assert w.grid.analysis.key == "A minor"
    assert w.chord_row.visible_labels()[:4] == ["Am", "Dm", "E7", "Am"]


def test_count_in_starts_the_song_on_the_detected_beat(qtbot, jack_server, window,
                                                       grid_song) -> None:
    """Play with a count-in from between two beats: the playhead moves onto the nearest
    detected beat, waits there through the clicks (accented on the song's bar lines), and the
    song starts on that beat; without a count-in Play starts where the playhead is."""
    w = window
    _, truth = grid_song
    a = w.grid.analysis
    sr = w.session.sample_rate
    w.grid.snap_actions["off"].trigger()  # the seek itself stays between the beats
    w.seek(3.3)
    assert w.player.position_s == pytest.approx(3.3, abs=0.001)
    beat = a.snap(3.3)
    assert beat == pytest.approx(3.5, abs=0.07)  # the true beat 3 of bar 2 (bars from 0.5 s)
    assert a.bar_beat(beat + 1e-6)[1] == 3
    w.practice.bpm_spin.setValue(240.0)  # 1 bar of 4 clicks = 1 s
    w.practice.count_in_combo.setCurrentIndex(1)
    given: list[np.ndarray] = []
    play = w.player.play
    w.player.play = lambda count_in=None: (given.append(count_in), play(count_in=count_in))[1]
    w.toggle_play()
    assert w.player.playing, w.errors
    assert w.player.position_frames == int(beat * sr)  # on the beat, counting in
    clicks = given[0][0]
    assert clicks.shape[0] == sr  # 4 clicks at 240 BPM, one every 0.25 s
    peaks = [np.abs(clicks[k * sr // 4:k * sr // 4 + 1000]).max() for k in range(4)]
    assert min(peaks) > 0.05
    assert [i for i, p in enumerate(peaks) if p > 1.3 * min(peaks)] == [2]  # 3 4 (1) 2 | 3
    qtbot.wait(400)
    assert w.player.position_frames == int(beat * sr)  # still counting in
    qtbot.waitUntil(lambda: w.player.position_s > beat + 0.1, timeout=5000)
    w.toggle_play()
    assert not w.player.playing

    w.practice.count_in_combo.setCurrentIndex(0)  # no count-in: no move
    w.seek(3.3)
    w.toggle_play()
    assert w.player.playing and given[-1] is None
    assert 3.299 <= w.player.position_s < 3.45  # from the playhead, not the beat at 3.5
    w.toggle_play()
