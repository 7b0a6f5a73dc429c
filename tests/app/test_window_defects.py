"""Defects seen in the real window, each driven as a musician would: keys after touching a
practice number box, Ctrl+= zoom, the time display after opening another song, the Mix
spectrogram of a song still being read, cached stems' spectrograms, the transport staying put
while a separation runs, and "Separate again" keeping the current stems until replaced."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.widgets.lane_view import SPECTROGRAM
from tests.app.conftest import separation_held_after_first_window, write_song

SEPARATE_TIMEOUT_MS = 90_000


def _open(qtbot, window, path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.song_loaded, timeout=20_000):
        window.open_file(path)


def test_space_and_l_work_after_touching_a_practice_number_box(
        qtbot, make_window, song_path, jack_server) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    w.practice_dock.show()
    w.activateWindow()
    w.set_loop(0.5, 1.5)
    assert w.player.loop_enabled
    p = w.practice
    for box in (p.pitch_spin, p.tempo_spin, p.bpm_spin):
        text = box.text()
        box.setFocus()
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
        qtbot.keyClick(box, Qt.Key.Key_Space)
        assert w.player.playing, (box, w.errors)
        qtbot.keyClick(box, Qt.Key.Key_Space)
        assert not w.player.playing
        loop = w.player.loop_enabled
        qtbot.keyClick(box, Qt.Key.Key_L)
        assert w.player.loop_enabled is not loop
        qtbot.keyClick(box, Qt.Key.Key_L)
        assert w.player.loop_enabled is loop
        assert box.text() == text  # nothing typed into the box
    # the preset name still takes spaces and l's
    p.preset_name.setFocus()
    qtbot.keyClicks(p.preset_name, "slow l")
    assert p.preset_name.text() == "slow l" and not w.player.playing


def test_ctrl_equals_zooms_in(qtbot, make_window, song_path) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    w.activateWindow()
    vb = w.timeline.getPlotItem().getViewBox()
    before = np.diff(vb.viewRange()[0])[0]
    qtbot.keyClick(w, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    after = np.diff(vb.viewRange()[0])[0]
    assert after == pytest.approx(before / 2, rel=0.05)
    qtbot.keyClick(w, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert np.diff(vb.viewRange()[0])[0] == pytest.approx(before, rel=0.05)


def test_time_display_shows_the_new_songs_length(qtbot, make_window, song_path,
                                                 tmp_path) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    assert w.transport.time_label.text() == "0:00.0 / 0:02.0"
    longer = write_song(tmp_path / "longer.wav", seconds=3.5)
    _open(qtbot, w, longer)
    assert w.transport.time_label.text() == "0:00.0 / 0:03.5"


def test_mix_spectrogram_waits_for_the_whole_file(qtbot, make_window, tmp_path) -> None:
    w = make_window()
    w.set_lane_mode(0, SPECTROGRAM)
    path = write_song(tmp_path / "twelve.wav", seconds=12.0)
    _open(qtbot, w, path)
    qtbot.waitUntil(lambda: 0 in w.session.spectrograms, timeout=30_000)
    spec = w.session.spectrograms[0]
    covered = spec.db.shape[1] * spec.hop / spec.sample_rate
    assert covered == pytest.approx(12.0, abs=0.1)
    tail = spec.db[:, -int(2.0 * spec.sample_rate / spec.hop):]
    assert tail.max() > spec.floor_db + 40  # not black at the end
    assert w.lanes[0].view.image.isVisible()


@pytest.fixture(scope="module")
def separated_song(tmp_path_factory):  # noqa: ANN001, ANN201
    return write_song(tmp_path_factory.mktemp("defects") / "defects song.wav")


@pytest.fixture(scope="module")
def long_song(tmp_path_factory):  # noqa: ANN001, ANN201
    """Longer than one separation window (12 s): a separation has a window boundary, where it
    polls its cancel flag, before its end."""
    return write_song(tmp_path_factory.mktemp("defects") / "long song.wav", seconds=20.0)


def _separate(qtbot, w) -> None:  # noqa: ANN001
    with qtbot.waitSignal(w.separation_ended, timeout=SEPARATE_TIMEOUT_MS) as blocker:
        assert w.separate() is not None
    assert blocker.args == ["finished"], w.errors


def test_transport_stays_put_and_separate_again_keeps_the_stems(
        qtbot, make_window, long_song, tmp_path) -> None:
    w = make_window(cache_dir=tmp_path / "cache")
    _open(qtbot, w, long_song)
    x_before = w.transport.mapTo(w, w.transport.rect().topLeft()).x()
    with qtbot.waitSignal(w.separation_ended, timeout=SEPARATE_TIMEOUT_MS):
        w.separate()
        qtbot.waitUntil(lambda: w.progress_item.isVisible(), timeout=5000)
        assert w.transport.mapTo(w, w.transport.rect().topLeft()).x() == x_before
    old = w.session.mixer.stems.copy()
    old_envs = list(w.session.envelopes[1:])
    assert w.separate_button.text() == "Separate again"
    # again, then cancel: the current stems stay (audible and shown) all along
    seen_silent = []
    w.session.stems_reset.connect(lambda: seen_silent.append(
        w.session.mixer.stems is None or not w.session.mixer.stems.any()))
    # cancel at a known point: the new separation held after its first window (of two or more)
    with qtbot.waitSignal(w.separation_ended, timeout=SEPARATE_TIMEOUT_MS) as blocker:
        with separation_held_after_first_window(qtbot, w, SEPARATE_TIMEOUT_MS):
            # halfway through the new separation the current stems still play and show
            assert w.session.stems_complete and np.array_equal(w.session.mixer.stems, old)
            assert w.session.envelopes[1:] == old_envs and not seen_silent
            w.cancel_separation()
    assert blocker.args == ["cancelled"], w.errors
    assert w.session.stems_complete and np.array_equal(w.session.mixer.stems, old)
    assert w.session.envelopes[1:] == old_envs and not any(seen_silent)
    assert "previous stems are kept" in w.statusBar().currentMessage()
    # again, to the end: new stems replace the old ones in one step
    _separate(qtbot, w)
    assert w.session.stems_complete and w.session.mixer.stems is not None
    assert seen_silent == [False] and not any(seen_silent)  # one reset: the new stems
    assert all(e is not None for e in w.session.envelopes[1:])


def test_reopened_cached_song_shows_its_spectrogram_lanes(qtbot, make_window, separated_song,
                                                          tmp_path) -> None:
    cache = tmp_path / "cache2"
    w = make_window(cache_dir=cache)
    _open(qtbot, w, separated_song)
    _separate(qtbot, w)
    w.close()
    again = make_window(cache_dir=cache)
    again.set_lane_mode(4, SPECTROGRAM)
    _open(qtbot, again, separated_song)
    assert again.session.stems_complete
    qtbot.waitUntil(lambda: 4 in again.session.spectrograms, timeout=30_000)
    assert again.lanes[4].view.image.isVisible()


def test_space_at_the_end_plays_again_from_the_start(qtbot, make_window, song_path,
                                                     jack_server) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    w.activateWindow()
    for _ in range(4):
        w.seek(w.session.duration_s - 0.15)
        w.toggle_play()
        qtbot.waitUntil(lambda: not w.player.playing, timeout=5000)  # the end pauses it
        assert w.player.reached_end
        qtbot.keyClick(w, Qt.Key.Key_Space)
        qtbot.wait(250)
        assert w.player.playing, w.errors
        assert 0.0 < w.player.position_s < 1.0
        w.toggle_play()
        assert not w.player.playing


def test_a_pending_seek_is_not_reported_as_the_end() -> None:
    """The race behind "Space at the end jumps to 0:00 but stays paused": Play at the end seeks
    to the start; until the producer answers, the ring still ends where the song did, and the
    callback must not report the end again (the window would pause at once)."""
    from app.playback import Player
    from core.mixer import Mixer

    mix = np.zeros((2, 4096), dtype=np.float32)
    player = Player(Mixer(mix, 44100))
    player.ring.write(np.zeros((2, 512), np.float32), 3584.0, 1.0)
    player.ring.mark_end()
    out = np.zeros((512, 2), dtype=np.float32)
    player._callback(out, 512, None, None)  # plays the last frames
    assert player.reached_end
    player.seek(0)  # Play at the end; the producer has not answered yet
    player._callback(out, 512, None, None)
    assert not player.reached_end and player.position_frames == 0


def test_help_menu_and_clearing_recent_files_asks_first(qtbot, make_window, song_path) -> None:
    from PySide6.QtWidgets import QMessageBox, QTableWidget

    w = make_window()
    _open(qtbot, w, song_path)
    rows = dict(w.shortcut_rows())
    assert rows["Play / Pause"] == "Space" and rows["Loop"] == "L"
    assert "Ctrl+=" in rows["Zoom in"] and rows["Ruler in bars:beats"] == "Ctrl+B"
    assert "Help" in [a.text().replace("&", "") for a in w.menuBar().actions()]
    w.shortcuts_action.trigger()
    table = w.findChild(QTableWidget, "shortcutTable")
    assert table is not None and table.rowCount() == len(rows)
    assert table.item(0, 0).text() and table.item(0, 1).text()
    table.window().close()
    w.about_action.trigger()
    about = next(b for b in w.findChildren(QMessageBox) if b.windowTitle() == "About Stemweave")
    assert "MIT" in about.text() and "GPL" in about.text()
    about.close()

    assert w.settings.recent_files
    clear = next(a for a in w.recent_menu.actions() if a.text() == "Clear…")
    clear.trigger()
    box = w.findChild(QMessageBox, "confirmClearRecent")
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert w.settings.recent_files  # Cancel keeps them
    clear = next(a for a in w.recent_menu.actions() if a.text() == "Clear…")
    clear.trigger()
    qtbot.waitUntil(lambda: w.findChild(QMessageBox, "confirmClearRecent") is not None)
    box = w.findChild(QMessageBox, "confirmClearRecent")
    next(b for b in box.buttons() if b.text() == "Clear").click()
    assert w.settings.recent_files == [] and not w.recent_menu.isEnabled()
