"""The real main window driven offscreen: open, separate (tiny model), lane controls change the
mixer's rendered output, seek, loop, export, cancel, errors, stem cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from app.widgets.export_dialog import ExportDialog, ExportOptions
from tests.app.conftest import separation_held_after_first_window, write_song

SEPARATE_TIMEOUT_MS = 90_000


def _open(qtbot, window, path: Path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.song_loaded, timeout=20_000):
        window.open_file(path)


def _separate(qtbot, window) -> list[tuple[int, int]]:  # noqa: ANN001
    segments: list[tuple[int, int]] = []
    window.session.stems_changed.connect(lambda a, b: segments.append((a, b)))
    with qtbot.waitSignal(window.separation_ended, timeout=SEPARATE_TIMEOUT_MS) as blocker:
        assert window.separate() is not None
    assert blocker.args == ["finished"], window.errors
    return segments


@pytest.fixture(scope="module")
def separated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Filled by the first separation test: the song path, shared with later tests."""
    return {}


def _render(mixer, start: int, n: int) -> np.ndarray:  # noqa: ANN001
    out = np.zeros((2, n), dtype=np.float32)
    mixer.render(start, out)  # first block ramps to the new gains
    mixer.render(start, out)
    return out


def test_open_shows_the_mix_waveform_at_once(qtbot, make_window, song_path) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    assert w.session.is_open and w.session.sample_rate == 44100
    assert w.lanes[0].view.points_drawn > 100  # the envelope is drawn
    assert w.lanes[1].view.points_drawn == 0  # no stems yet
    assert str(song_path.resolve()) == w.settings.recent_files[0]
    assert w.recent_menu.actions()  # File > Open Recent lists it
    assert w.separate_button.isEnabled()


def test_unreadable_file_shows_a_dialog_not_a_crash(qtbot, make_window, tmp_path) -> None:
    bad = tmp_path / "not audio.wav"
    bad.write_bytes(b"this is not a wave file at all" * 10)
    w = make_window()
    with qtbot.waitSignal(w.error_shown, timeout=10_000) as blocker:
        w.open_file(bad)
    assert "not audio.wav" in blocker.args[0]
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "not audio.wav" in boxes[0].text()
    assert not w.session.is_open


def test_separate_shows_stems_progressively_and_caches_them(
        qtbot, make_window, tmp_path, tiny_checkpoint, monkeypatch) -> None:
    """A song of several model windows: stems arrive window by window, in order, and what the
    window ends up with is exactly what the engine makes of the mix."""
    import app.workers
    from core.separator import Separator

    def engine() -> Separator:  # 2-s windows, so that a 6-s song takes several
        return Separator(tiny_checkpoint, "cpu", segment_s=2.0, overlap=0.1, threads=1)

    monkeypatch.setattr(app.workers, "get_separator", lambda path, device, wiener: engine())
    song = write_song(tmp_path / "six seconds.wav", seconds=6.0)
    cache = tmp_path / "cache"
    w = make_window(cache_dir=cache)
    _open(qtbot, w, song)
    assert not w.session.stems_complete
    progress: list[float] = []
    w.progress.valueChanged.connect(progress.append)
    frames = w.session.frames
    segments = _separate(qtbot, w)
    windows = [seg for seg in segments if seg != (0, frames)]  # (0, frames): the final refresh
    assert len(windows) >= 3, segments  # several windows, delivered one by one
    assert windows[0][0] == 0 and windows[0][1] < frames // 2  # the first one early
    assert [a for a, _ in windows] == sorted(a for a, _ in windows)  # in song order
    assert windows[-1][1] == frames
    assert progress and max(progress) > 0
    assert w.session.stems_complete
    assert all(lane.view.points_drawn > 0 for lane in w.lanes[1:])
    stems = np.asarray(w.session.mixer.stems)
    mix, _ = sf.read(str(song), dtype="float32", always_2d=True)
    want = engine().separate(mix.T, w.session.sample_rate)  # (4, 2, frames), stems in order
    assert stems.shape == want.shape == (4, 2, frames)
    np.testing.assert_allclose(stems, want, rtol=0, atol=1e-5)
    assert list(cache.glob("*.npy")) and list(cache.glob("*.json"))
    # reopening the same song with the same model loads the stems from the cache at once
    w2 = make_window(cache_dir=cache)
    _open(qtbot, w2, song)
    assert w2.session.stems_complete
    np.testing.assert_array_equal(np.asarray(w2.session.mixer.stems), stems)


def test_wiener_post_filter_setting(qtbot, make_window, tmp_path, song_path, tiny_checkpoint):
    """Settings ▸ Post-filter off: the stems are the network's raw output, cached apart from the
    filtered ones (which are what a window makes by default)."""
    from core.separator import Separator

    cache = tmp_path / "wiener cache"
    w = make_window(cache_dir=cache)
    assert w.settings.wiener  # on by default
    w.settings_dialog()
    dlg = w.settings_dlg
    assert dlg.wiener_check.isChecked()
    dlg.wiener_check.setChecked(False)
    dlg.accept()
    assert w.settings.wiener is False
    _open(qtbot, w, song_path)
    _separate(qtbot, w)
    mix, sr = sf.read(str(song_path), dtype="float32", always_2d=True)
    raw = Separator(tiny_checkpoint, "cpu", threads=1, wiener=False).separate(mix.T, sr)
    filtered = Separator(tiny_checkpoint, "cpu", threads=1).separate(mix.T, sr)
    stems = np.asarray(w.session.mixer.stems)
    np.testing.assert_allclose(stems, raw, rtol=0, atol=1e-5)
    assert np.abs(stems - filtered).max() > 1e-3  # the setting changed what was made
    # the raw stems are not what a window with the filter on finds in the cache
    w2 = make_window(cache_dir=cache)
    _open(qtbot, w2, song_path)
    assert not w2.session.stems_complete
    # the key names the filter only for a family that runs it (Meta-TasNet here; HTDemucs
    # never does, so its cached stems survive the setting: tests/core/test_htdemucs.py)
    assert w2._model_id().endswith("|wiener")
    assert not w.settings.stems_identity("id", filtered=True).endswith("|wiener")
    w.settings.wiener = True
    assert w.settings.stems_identity("id", filtered=True) == "id|wiener"
    assert w.settings.stems_identity("id", filtered=False) == "id"


@pytest.fixture
def window_with_stems(qtbot, make_window, song_path, tiny_checkpoint):  # noqa: ANN001, ANN201
    """A window with the test song separated; its stems are checked against the engine's (so
    that the tests using them cannot pass on stems in the wrong order or at the wrong level)."""
    from core.separator import Separator

    w = make_window()
    _open(qtbot, w, song_path)
    if not w.session.stems_complete:  # this test runs alone: separate now
        _separate(qtbot, w)
    mix, sr = sf.read(str(song_path), dtype="float32", always_2d=True)
    want = Separator(tiny_checkpoint, "cpu", threads=1).separate(mix.T, sr)
    np.testing.assert_allclose(np.asarray(w.session.mixer.stems), want, rtol=0, atol=1e-5)
    return w


def test_lane_controls_change_the_rendered_mix(qtbot, window_with_stems) -> None:
    w = window_with_stems
    mixer = w.session.mixer
    stems = np.asarray(mixer.stems)
    start, n = 1000, 1024
    seg = stems[:, :, start:start + n]
    np.testing.assert_allclose(_render(mixer, start, n), seg.sum(axis=0), atol=1e-5)

    drums, bass, other, vocals = w.lanes[1:]
    qtbot.mouseClick(drums.mute_button, Qt.MouseButton.LeftButton)  # mute drums
    assert mixer.lanes[1].mute and drums.mute_button.isChecked()
    np.testing.assert_allclose(_render(mixer, start, n), seg[1:].sum(axis=0), atol=1e-5)

    bass.gain_slider.setValue(-60)  # -6.0 dB (slider in tenths of dB)
    assert mixer.lanes[2].gain_db == pytest.approx(-6.0)
    g = 10 ** (-6 / 20)
    np.testing.assert_allclose(_render(mixer, start, n), g * seg[1] + seg[2] + seg[3],
                               atol=1e-5)

    qtbot.mouseClick(vocals.solo_button, Qt.MouseButton.LeftButton)  # solo vocals
    np.testing.assert_allclose(_render(mixer, start, n), seg[3], atol=1e-5)

    vocals.pan_slider.setValue(-100)  # hard left: the right output is silent
    out = _render(mixer, start, n)
    np.testing.assert_allclose(out[0], seg[3, 0], atol=1e-5)
    assert np.abs(out[1]).max() < 1e-7

    qtbot.keyClick(w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # Ctrl+2: drums
    assert not mixer.lanes[1].mute and not drums.mute_button.isChecked()

    w.lanes[0].solo_button.click()  # solo the original mix too: mix + vocals
    out = _render(mixer, start, n)
    np.testing.assert_allclose(out[0], seg[3, 0] + w.session.mixer.mix[0, start:start + n],
                               atol=1e-5)


def test_click_seeks_and_ruler_drag_sets_the_loop(qtbot, window_with_stems) -> None:
    w = window_with_stems
    view = w.lanes[2].view
    vb = view.getPlotItem().getViewBox()
    scene_pt = vb.mapViewToScene(_pt(1.0, 0.0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(scene_pt))
    assert w.player.position_s == pytest.approx(1.0, abs=0.02)
    assert w.lanes[0].view.playhead.value() == pytest.approx(w.player.position_s)

    seeks: list[float] = []
    w.timeline.seek_requested.connect(seeks.append)
    ruler_vb = w.timeline.getPlotItem().getViewBox()
    # drag on the ruler from 0.5 s to 1.5 s draws the loop region
    p0 = w.timeline.mapFromScene(ruler_vb.mapViewToScene(_pt(0.5, 0.5)))
    p1 = w.timeline.mapFromScene(ruler_vb.mapViewToScene(_pt(1.5, 0.5)))
    _drag(qtbot, w.timeline.viewport(), p0, p1)
    a, b = w.loop_s
    assert a == pytest.approx(0.5, abs=0.03) and b == pytest.approx(1.5, abs=0.03)
    assert w.player.loop_enabled and w.transport.loop_button.isChecked()
    sr = w.session.sample_rate
    assert w.player.loop_start == pytest.approx(0.5 * sr, abs=0.03 * sr)
    assert w.player.loop_end == pytest.approx(1.5 * sr, abs=0.03 * sr)
    assert a <= w.player.position_s < b  # the playhead moved into the loop
    w.transport.loop_button.click()  # loop toggle off
    assert not w.player.loop_enabled
    w.stop()
    assert w.player.position_frames == 0


def _pt(x: float, y: float):  # noqa: ANN202
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def _drag(qtbot, widget, p0: QPoint, p1: QPoint) -> None:  # noqa: ANN001
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    def send(kind, pos, buttons) -> None:  # noqa: ANN001
        ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                         Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, ev)

    from PySide6.QtCore import QEvent

    left = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, p0, left)
    steps = 8
    for i in range(1, steps + 1):
        p = p0 + (p1 - p0) * (i / steps)
        send(QEvent.Type.MouseMove, p, left)
        qtbot.wait(5)
    send(QEvent.Type.MouseButtonRelease, p1, Qt.MouseButton.NoButton)


def test_export_stems_and_mix_as_heard_of_the_loop(qtbot, window_with_stems, tmp_path) -> None:
    w = window_with_stems
    w.set_loop(0.25, 1.25)
    w.session.set_mute(1, True)
    w.session.set_pan(2, 0.5)
    out_dir = tmp_path / "out"
    opts = ExportOptions(folder=out_dir, sources=("mix", 3), fmt="flac", bits="24",
                         loop_only=True)
    with qtbot.waitSignal(w.export_ended, timeout=30_000) as blocker:
        assert w.export(opts) is not None
    assert blocker.args == ["finished"], w.errors
    files = sorted(out_dir.iterdir())
    assert [f.suffix for f in files] == [".flac", ".flac"]
    assert not [f for f in out_dir.iterdir() if f.name.startswith(".")]  # no temp files left
    sr = w.session.sample_rate
    a, b = int(0.25 * sr), int(1.25 * sr)
    mix_file = next(f for f in files if "- mix" in f.name)
    vocals_file = next(f for f in files if "- vocals" in f.name)
    mix, rate = sf.read(mix_file, dtype="float32", always_2d=True)
    assert rate == sr and mix.shape == (b - a, 2)
    assert sf.info(str(mix_file)).subtype == "PCM_24"
    # the mix as heard, computed here (not with the mixer the export uses): drums (lane 1)
    # muted, bass (lane 2) panned to 0.5 with the sine/cosine law (far side sqrt(2)*cos(3pi/8),
    # near side at unity), other and vocals centred at unity
    stems = w.session.mixer.stems[:, :, a:b].astype(np.float64)
    far = np.sqrt(2.0) * np.cos(3 * np.pi / 8)
    expected = stems[2] + stems[3] + stems[1] * np.array([[far], [1.0]])
    assert np.abs(stems[0]).max() > 0.01 and np.abs(stems[1]).max() > 0.01  # both matter
    np.testing.assert_allclose(mix.T, np.clip(expected, -1, 1), atol=2e-4)
    vocals, _ = sf.read(vocals_file, dtype="float32", always_2d=True)
    np.testing.assert_allclose(vocals.T, np.clip(w.session.mixer.stems[3, :, a:b], -1, 1),
                               atol=2e-4)


def test_export_dialog_options(qtbot) -> None:
    dlg = ExportDialog(None, folder="/tmp/x", have_stems=False, have_loop=False)
    qtbot.addWidget(dlg)
    opts = dlg.options()
    assert opts.sources == ("mix",) and not opts.loop_only  # stems disabled before separation
    dlg.bits_combo.setCurrentIndex(2)  # 32-bit float (WAV)
    assert (dlg.options().fmt, dlg.options().bits) == ("wav", "32f")
    dlg.format_combo.setCurrentIndex(1)  # FLAC cannot hold 32-bit float
    dlg.bits_combo.setCurrentIndex(2)
    assert dlg.options().fmt == "flac" and dlg.options().bits != "32f"
    dlg.mix_box.setChecked(False)
    assert not dlg.ok_button.isEnabled()


def test_cancel_stops_the_separation_and_the_mix_plays_again(
        qtbot, make_window, tmp_path) -> None:
    # 20 s: more than one separation window, so there is a cancel check before the end
    path = write_song(tmp_path / "other song.wav", seconds=20.0)
    w = make_window(cache_dir=tmp_path / "cache")
    _open(qtbot, w, path)
    with qtbot.waitSignal(w.separation_ended, timeout=SEPARATE_TIMEOUT_MS) as blocker:
        with separation_held_after_first_window(qtbot, w, SEPARATE_TIMEOUT_MS):
            assert w.cancel_item.isVisible()
            qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["cancelled"]
    assert w.session.mixer.stems is None and not w.session.stems_complete
    assert not list((tmp_path / "cache").glob("*.npy"))
    out = np.zeros((2, 512), np.float32)
    w.session.mixer.render(0, out)
    np.testing.assert_allclose(out, w.session.mixer.mix[:, :512], atol=1e-6)
    assert w.separate_button.isEnabled() and not w.errors


def test_separate_without_any_model_says_to_pick_one_in_settings(
        qtbot, make_window, song_path, monkeypatch, tmp_path) -> None:
    import core.model_store

    monkeypatch.setattr(core.model_store, "builtin_model_path",
                        lambda: tmp_path / "none.safetensors")
    w = make_window(model=None)
    _open(qtbot, w, song_path)
    with qtbot.waitSignal(w.error_shown, timeout=5000) as blocker:
        assert w.separate() is None
    assert "Settings" in blocker.args[0]
    box = next(b for b in w.findChildren(QMessageBox) if b.isVisible())
    assert any("Settings" in b.text() for b in box.buttons())  # offers to open Settings


def test_spectrogram_toggle_computes_in_the_background_and_caches(
        qtbot, make_window, song_path) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    view = w.lanes[0].view
    qtbot.mouseClick(w.lanes[0].view_button, Qt.MouseButton.LeftButton)
    assert view.mode == "spectrogram"
    qtbot.waitUntil(lambda: 0 in w.session.spectrograms, timeout=20_000)
    assert view.image.isVisible() and view.image.image is not None
    spec = w.session.spectrograms[0]
    w.lanes[0].view_button.click()  # back to the waveform
    assert view.mode == "waveform" and view.curve.isVisible()
    w.lanes[0].view_button.click()  # again: from the cache, no new worker
    assert not w.spec_workers and w.session.spectrograms[0] is spec


def test_window_geometry_is_restored(qtbot, make_window, tmp_path) -> None:
    from app.main_window import MainWindow

    w = make_window()
    w.resize(760, 560)  # the offscreen screen is 800x600; restoreGeometry clamps to it
    qtbot.wait(20)
    size = (w.width(), w.height())
    assert size != (1280, 820)  # not the default
    w.close()
    w2 = MainWindow(w.settings, model_store=w.model_store, cache=w.cache)
    qtbot.addWidget(w2)
    assert (w2.width(), w2.height()) == size
    w2.close()


def test_dropping_a_file_opens_it(qtbot, make_window, song_path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    w = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(song_path))])
    event = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.dropEvent(event)
    assert w.session.path == song_path


def test_zoom_and_scroll_share_one_time_axis(qtbot, make_window, song_path) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    vb = w.timeline.getPlotItem().getViewBox()
    w.zoom(0.25)
    (x0, x1), _ = vb.viewRange()
    assert x1 - x0 == pytest.approx(w.session.duration_s * 0.25, rel=0.05)
    assert w.scrollbar.maximum() > 0
    w.scrollbar.setValue(w.scrollbar.maximum())  # scroll to the end
    (y0, y1), _ = vb.viewRange()
    assert y1 == pytest.approx(w.session.duration_s, abs=0.05) and y1 - y0 == pytest.approx(
        x1 - x0, rel=0.01)
    for lane in w.lanes:  # every lane follows the ruler
        (l0, l1), _ = lane.view.getPlotItem().getViewBox().viewRange()
        assert (l0, l1) == pytest.approx((y0, y1), abs=1e-6)
    w.zoom_fit()
    (z0, z1), _ = vb.viewRange()
    assert (z0, z1) == pytest.approx((0.0, w.session.duration_s), abs=0.01)


def test_playback_on_jack_is_the_sum_of_the_stems(jack_server, qtbot, window_with_stems) -> None:
    """What the audio callback hands to a real PortAudio stream (JACK dummy server) is the
    window's stems added up (all lanes at unity, centred): the separation is what is heard."""
    import time

    w = window_with_stems
    stems = np.asarray(w.session.mixer.stems, dtype=np.float64)
    w.toggle_play()  # opens the stream
    assert w.player.playing, w.errors
    w.player.pause()
    blocks: list[np.ndarray] = []
    orig = w.player._callback

    def spy(outdata, frames, t, status) -> None:  # noqa: ANN001
        orig(outdata, frames, t, status)
        blocks.append(outdata.copy())

    w.player._callback = spy  # before the stream is reopened below
    w.player._stream.close()
    w.player._stream = None
    w.player.seek(0)
    w.player.play()
    time.sleep(1.0)
    w.player.pause()
    heard = np.concatenate(blocks).T.astype(np.float64)  # (2, frames)
    want = stems.sum(axis=0)
    n = min(heard.shape[1], want.shape[1])
    assert n > 30_000 and np.abs(want).max() > 0.01
    # from the first frame on it is the song; the first 2048 frames fade in (no click)
    ramp = 2048
    assert (np.abs(heard[:, :ramp]) <= np.abs(want[:, :ramp]) + 1e-6).all()
    np.testing.assert_allclose(heard[:, ramp:n], want[:, ramp:n], rtol=0, atol=1e-5)
