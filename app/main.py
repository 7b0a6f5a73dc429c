"""Composition root of the desktop app: QApplication, theme, excepthook, the window.

:func:`run_gui` starts the interactive app; :func:`take_screenshot` renders the window with a
separated song to a PNG without showing anything (``stemweave gui --screenshot OUT FILE``).
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QEventLoop, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from app.settings import APPLICATION, ORGANIZATION, Settings
from core.errors import StemweaveError

log = logging.getLogger(__name__)


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once) with Stemweave's names and dark theme."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    # Worker threads run Python between torch/numpy calls; PySide releases the GIL around Qt
    # calls, so every re-acquire on the GUI thread can wait a whole switch interval (5 ms by
    # default) behind a busy worker. A short interval keeps painting fluid during separation.
    sys.setswitchinterval(0.0005)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    apply_theme(app)
    qInstallMessageHandler(_qt_message)
    return app  # type: ignore[return-value]


def _qt_message(mode: QtMsgType, context: object, message: str) -> None:
    """Route Qt's own messages into logging (debug level for known platform noise)."""
    if "propagateSizeHints" in message:
        log.debug("Qt: %s", message)
    elif mode in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        log.error("Qt: %s", message)
    elif mode == QtMsgType.QtWarningMsg:
        log.warning("Qt: %s", message)
    else:
        log.debug("Qt: %s", message)


def apply_theme(app: QApplication) -> None:
    """Fusion style with a dark palette (waveforms read best on dark)."""
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor("#1c1f26"), QColor("#23262e"), QColor("#e4e6eb")
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, window)
    p.setColor(QPalette.ColorRole.ToolTipBase, window)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, QColor("#2d313b"))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.Highlight, QColor("#3d7be0"))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8a8f99"))
    for role in (QPalette.ColorRole.ButtonText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b707a"))
    app.setPalette(p)
    app.setStyleSheet(
        "QToolButton#muteButton:checked { background: #c9453f; color: white; }"
        "QToolButton#soloButton:checked { background: #e0a526; color: black; }"
        "QToolButton#viewButton:checked, QToolButton#loopButton:checked"
        " { background: #3d7be0; color: white; }")


def install_excepthook() -> None:
    """Show unexpected exceptions in a dialog instead of crashing the app."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        log.error("unexpected error:\n%s", text)
        if QApplication.instance() is not None:
            box = QMessageBox(QMessageBox.Icon.Critical, "Unexpected error",
                              f"{kind.__name__}: {exc}\n\nThe details are in the log.")
            box.setDetailedText(text)
            box.exec()

    sys.excepthook = hook


def _settings(settings_path: str | Path | None) -> Settings:
    return Settings.from_file(settings_path) if settings_path else Settings()


def run_gui(file: str | Path | None = None, *, settings_path: str | Path | None = None) -> int:
    """Run the interactive app (optionally opening ``file``); returns the exit status."""
    from app.main_window import MainWindow
    from app.workers import warm_up

    app = make_app()
    install_excepthook()
    window = MainWindow(_settings(settings_path))
    window.show()
    warm_up()
    if file:
        window.open_file(file)
    else:
        from app.features.demo_offer import offer_demo

        offer_demo(window)  # first start (no recent songs): one click opens the demo song
    return int(app.exec())


def wait_for_signal(window, signal, timeout_s: float) -> list:  # noqa: ANN001
    """Run the event loop until ``signal`` fires (or the window shows an error, or time runs
    out); returns the list of argument tuples received (empty if it did not fire)."""
    loop = QEventLoop()
    got: list = []

    def done(*args: object) -> None:
        got.append(args)
        loop.quit()

    signal.connect(done)
    window.error_shown.connect(lambda *_: loop.quit())
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(done)
    return got


def take_screenshot(file: str | Path, out: str | Path, *, model: str | None = None,
                    settings_path: str | Path | None = None, size: tuple[int, int] = (1400, 860),
                    timeout_s: float = 600.0, spectrogram_lanes: tuple[int, ...] = (4,)) -> Path:
    """Render the window with ``file`` separated (from the cache, else now) to ``out`` (PNG).

    Args:
        file: the song.
        out: PNG to write.
        model: model name or checkpoint path (default: the settings' model).
        settings_path: INI settings file (default: the user's settings, read only).
        size: window size in pixels.
        timeout_s: give up waiting for the separation after this long.
        spectrogram_lanes: lanes shown as spectrograms (0 = mix, then 1, 2, ... = the model's
            stems in its order: 1-4 for a four-stem model, 1-6 for a six-stem one); lanes the
            model does not have are skipped.

    Raises:
        StemweaveError: the song cannot be opened or separated.
    """
    from app.main_window import MainWindow

    app = make_app()
    tmpdir = None
    if settings_path:
        settings = Settings.from_file(settings_path)
    else:  # a throw-away copy: the screenshot must not touch the user's recent files
        user = Settings()
        tmpdir = tempfile.mkdtemp(prefix="stemweave-shot-")
        settings = Settings.from_file(Path(tmpdir) / "settings.ini")
        settings.model, settings.device = user.model, user.device
        settings.remember_songs = False  # nor the user's per-song memory
    if model:
        settings.model = model
    window = MainWindow(settings)
    try:
        return _render(app, window, file, out, size, timeout_s, spectrogram_lanes)
    finally:
        window.close()
        if tmpdir is not None:  # write the throw-away settings now, then remove them
            settings.sync()
            shutil.rmtree(tmpdir, ignore_errors=True)


def _render(app: QApplication, window: Any, file: str | Path, out: str | Path,
            size: tuple[int, int], timeout_s: float,
            spectrogram_lanes: tuple[int, ...]) -> Path:
    """Open, separate and arrange ``file`` in ``window``, then save the PNG (take_screenshot)."""
    from core.fileio import atomic_path

    window.resize(*size)
    window.show()
    window.open_file(file)
    if not wait_for_signal(window, window.song_loaded, timeout_s) or not window.session.is_open:
        raise StemweaveError(window.errors[-1] if window.errors else f"{file}: could not open")
    if not window.session.stems_complete:
        if window.separate() is None:
            raise StemweaveError(window.errors[-1] if window.errors else "cannot separate")
        got = wait_for_signal(window, window.separation_ended, timeout_s)
        if not got or got[0][0] != "finished":
            raise StemweaveError(window.errors[-1] if window.errors else "separation failed")
    if window.grid.worker is not None:  # the musical grid (refined on the stems)
        wait_for_signal(window, window.grid.analysed, timeout_s)
    window.set_fit_heights(True)
    for lane in spectrogram_lanes:
        if 0 <= lane < len(window.lanes):
            window.set_lane_mode(lane, "spectrogram")
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.start(int(timeout_s * 1000))
    while window.spec_workers and deadline.isActive():
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    dur = window.session.duration_s
    a, b = dur * 0.35, dur * 0.55
    if window.grid.analysis is not None:  # whole bars
        a, b = window.grid.analysis.snap(a, "bar"), window.grid.analysis.snap(b, "bar")
    window.set_loop(a, b)
    window.seek(dur * 0.42)
    window.session.set_gain_db(2, -4.5)
    window.session.set_pan(3, -0.3)
    window.session.set_mute(1, False)
    window.show_levels_at(dur * 0.42)  # the meters as they read at the playhead
    window.statusBar().showMessage(window.statusBar().currentMessage())
    for _ in range(5):
        app.processEvents()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        if not window.grab().save(str(tmp), "PNG"):
            raise StemweaveError(f"{out}: could not write the screenshot")
    return out
