"""Bad audio files through the GUI: a dialog naming the file and the reason, never a crash, no
song open; NaN or infinite samples are refused at open, also when they lie past the first block
read (after the waveform was shown)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtWidgets import QMessageBox

from app.session import LANES
from app.workers import LoadWorker
from tests.app.conftest import write_song


def _bad(folder: Path, kind: str) -> Path:
    f = folder / f"{kind}.wav"
    x = np.zeros((22050, 2), np.float32)
    x[:, :] = 0.1 * np.sin(np.arange(22050) / 20)[:, None]
    if kind in ("nan", "inf"):
        x[100, 0] = np.nan if kind == "nan" else np.inf
        sf.write(str(f), x, 22050, subtype="FLOAT")
    elif kind == "zero-frames":
        sf.write(str(f), x[:0], 22050)
    elif kind == "empty":
        f.write_bytes(b"")
    else:
        full = write_song(folder / "full.wav", seconds=1.0)
        data = full.read_bytes()
        f.write_bytes(data[: len(data) // 2])
    return f


@pytest.mark.parametrize(("kind", "reason"), [
    ("nan", "NaN or infinite"), ("inf", "NaN or infinite"),
    ("zero-frames", "no audio frames"), ("empty", "the file is empty"),
    ("truncated", "the file is truncated"),
])
def test_bad_file_gives_a_dialog_with_the_reason(qtbot, make_window, tmp_path, kind,
                                                 reason) -> None:
    path = _bad(tmp_path, kind)
    w = make_window()
    errors: list[str] = []
    w.error_shown.connect(errors.append)
    loaded: list[bool] = []
    w.song_loaded.connect(lambda: loaded.append(True))
    w.open_file(path)
    qtbot.waitUntil(lambda: bool(loaded or errors), timeout=20_000)
    assert errors and not loaded, "the file was opened"
    message = errors[0]
    assert reason in message, message
    assert path.name in message, message  # says which file
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and reason in boxes[0].text()
    assert not w.session.is_open and w.player is None
    assert not w.separate_button.isEnabled()


def _float_wav(path: Path, frames: int, bad_frame: int, value: float) -> Path:
    """A stereo 32-bit float WAV (a quiet sine) with ``value`` at ``bad_frame`` (right)."""
    x = np.repeat(0.1 * np.sin(np.arange(frames) / 20)[:, None], 2, axis=1).astype(np.float32)
    x[bad_frame, 1] = value
    sf.write(str(path), x, 44100, subtype="FLOAT")
    return path


def _open_good(qtbot, w, path: Path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(path)
    assert w.session.is_open and w.separate_button.isEnabled()


def _dialog_text(w) -> str:  # noqa: ANN001
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1, [b.text() for b in boxes]
    return boxes[0].text()


def test_nan_in_the_first_block_is_refused_before_the_song_shows(qtbot, make_window, tmp_path,
                                                                 song_path) -> None:
    """The first block is checked before ``decoded``: the file never replaces the open song,
    which stays open, shown and playable (as after any file that cannot be opened)."""
    bad = _float_wav(tmp_path / "nan first.wav", 22050, 100, np.nan)
    assert 22050 <= LoadWorker.BLOCK_FRAMES  # one block
    w = make_window()
    _open_good(qtbot, w, song_path)
    mixer, player = w.session.mixer, w.player
    shown: list[bool] = []
    w.waveform_shown.connect(lambda: shown.append(True))
    with qtbot.waitSignal(w.error_shown, timeout=20_000) as blocker:
        w.open_file(bad)
    message = blocker.args[0]
    assert "nan first.wav" in message and "NaN or infinite samples" in message, message
    assert "NaN or infinite samples" in _dialog_text(w)
    assert not shown, "the bad file's waveform was shown"
    assert w.load_worker is None
    # the song open before is untouched and usable
    assert w.session.path == song_path and w.session.mixer is mixer and w.player is player
    assert w.lanes[0].view.envelope is w.session.envelopes[0]
    assert w.lanes[0].view.points_drawn > 100
    assert w.separate_button.isEnabled() and w.transport.isEnabled()
    assert song_path.name in w.windowTitle()


def test_inf_in_a_later_block_drops_the_song_already_shown(qtbot, make_window, tmp_path,
                                                           song_path, monkeypatch) -> None:
    """A non-finite sample past the first block is found after the waveform was shown: the
    window drops that song and is left with no song open (the one open before was replaced
    when the waveform showed), in a state from which a song opens normally."""
    monkeypatch.setattr(LoadWorker, "BLOCK_FRAMES", 4096)
    bad = _float_wav(tmp_path / "inf later.wav", 5 * 4096, 3 * 4096 + 7, np.inf)
    w = make_window()
    axis = w.timeline.getPlotItem().getViewBox()
    empty_range, empty_limits = axis.viewRange()[0], list(axis.state["limits"]["xLimits"])
    _open_good(qtbot, w, song_path)
    shown: list[bool] = []
    loaded: list[bool] = []
    w.waveform_shown.connect(lambda: shown.append(True))
    w.song_loaded.connect(lambda: loaded.append(True))
    with qtbot.waitSignal(w.error_shown, timeout=20_000) as blocker:
        w.open_file(bad)
    assert shown, "the first block was not shown: the later-block case is not exercised"
    assert not loaded
    message = blocker.args[0]
    assert "inf later.wav" in message and "NaN or infinite samples" in message, message
    assert "NaN or infinite samples" in _dialog_text(w)
    # no half-opened song: the window is as with no song
    s = w.session
    assert not s.is_open and s.path is None and s.mixer is None and s.frames == 0
    assert w.player is None and w.load_worker is None
    assert w.separate() is None
    assert not w.separate_button.isEnabled() and not w.separate_action.isEnabled()
    assert not w.export_action.isEnabled() and not w.transport.isEnabled()
    assert tuple(lane.name for lane in w.lanes) == LANES
    assert all(lane.view.envelope is None and lane.view.points_drawn == 0 for lane in w.lanes)
    assert w.windowTitle() == "Stemweave"
    assert str(bad.resolve()) not in w.settings.recent_files
    # the time axis no longer shows, nor is held to, the dropped file's length
    lo, hi = axis.state["limits"]["xLimits"]  # unbounded again (None or pyqtgraph's default)
    assert lo in (None, empty_limits[0]) and hi in (None, empty_limits[1])
    assert axis.viewRange()[0] == pytest.approx(empty_range)
    assert w.lanes[1].view.getPlotItem().getViewBox().viewRange()[0] == pytest.approx(empty_range)
    # and a song opens normally afterwards
    _open_good(qtbot, w, song_path)
    assert w.player is not None and w.lanes[0].view.points_drawn > 100
