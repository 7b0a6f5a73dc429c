"""Bad audio files through the GUI: a dialog naming the reason, never a crash, no song open (or,
for samples the engine cannot take, a clear error when separating)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtWidgets import QMessageBox

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
    if not errors:  # it opened: the engine must refuse it when separating
        assert w.session.is_open
        with qtbot.waitSignal(w.error_shown, timeout=60_000):
            w.separate()
    message = errors[0]
    assert reason in message, message
    assert path.name in message or w.session.is_open, message  # else say which file
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and reason in boxes[0].text()
    assert w.session.mixer is None or w.session.mixer.stems is None or not (
        w.session.stems_complete)
