"""The window's musical grid: background analysis, the bars:beats ruler, chords, snapping.

:class:`AnalysisWorker` runs :func:`core.analysis.analyze` on a QThread (progress, then the
:class:`core.analysis.Analysis` or an error). :class:`GridController` is the window's grid
feature: it analyses every opened song (and, with View ▸ Musical grid from the separated stems,
again on the stems once a separation ends: off by default, as with the built-in model the mix
measured better, docs/analysis.md), shows the result (ruler ticks, chord row, key / tempo /
time signature label), locks the practice panel's BPM, count-in and metronome to the detected
beats, and snaps loop edges and seeks to beats or bars (Shift held: no snapping).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu

from app.workers import Worker, describe_error, lower_thread_priority
from core.errors import Cancelled

log = logging.getLogger(__name__)


class AnalysisWorker(Worker):
    """Analyse a song (mixture, and stems by name when given) on a worker thread.

    ``returned`` carries the :class:`core.analysis.Analysis`.
    """

    def __init__(self, mix: np.ndarray, sample_rate: int,
                 stems: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        self.mix = mix
        self.sample_rate = int(sample_rate)
        self.stems = stems
        self.token: Any = None

    def work(self) -> Any:
        lower_thread_priority()
        from core.analysis import analyze

        def progress(fraction: float) -> None:
            if self.is_cancelled():
                raise Cancelled("analysis cancelled")
            self.report(fraction)

        return analyze(self.mix, self.sample_rate, stems=self.stems, progress=progress)


class GridController(QObject):
    """The grid feature of :class:`app.main_window.MainWindow` (wired by the window).

    Signals:
        analysed(): a song's analysis arrived and is shown (``self.analysis``).
        analysis_failed(message): the analysis could not be made (also shown in the label).
    """

    analysed = Signal()
    analysis_failed = Signal(str)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.analysis: Any = None
        self.worker: AnalysisWorker | None = None
        self.info = QLabel("")
        self.info.setObjectName("gridInfo")
        self.info.setFixedWidth(210)
        self.info.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.info.setStyleSheet("color: #f6d77a; font-size: 12px; font-weight: bold;")
        self.info.setToolTip("Key, time signature and tempo detected in the song")

    # -- menu --------------------------------------------------------------------------------
    def build_actions(self, view_menu: QMenu) -> None:
        """Add the ruler toggle and the snap choice to the View menu."""
        w = self.window
        self.bars_action = QAction("Ruler in &bars:beats", w)
        self.bars_action.setCheckable(True)
        self.bars_action.setChecked(w.settings.ruler_bars)
        self.bars_action.setShortcut(QKeySequence("Ctrl+B"))
        self.bars_action.setToolTip("Count the ruler in bars:beats (off: minutes:seconds)")
        self.bars_action.toggled.connect(self.set_bars_mode)
        w.addAction(self.bars_action)
        view_menu.addSeparator()
        view_menu.addAction(self.bars_action)
        self.stems_action = QAction("Musical grid from the separated &stems", w)
        self.stems_action.setCheckable(True)
        self.stems_action.setChecked(w.settings.grid_from_stems)
        self.stems_action.setToolTip("Analyse again on the stems after a separation (with the "
                                     "built-in model the mix measured better)")
        self.stems_action.toggled.connect(self._stems_toggled)
        view_menu.addAction(self.stems_action)
        snap_menu = view_menu.addMenu("&Snap loop and seeks to")
        self.snap_group = QActionGroup(w)
        self.snap_actions: dict[str, QAction] = {}
        for value, text in (("beat", "&Beats"), ("bar", "B&ars"), ("off", "&Nothing")):
            action = QAction(text, w)
            action.setCheckable(True)
            action.setChecked(w.settings.snap == value)
            action.setData(value)
            action.triggered.connect(self._snap_chosen)
            self.snap_group.addAction(action)
            snap_menu.addAction(action)
            self.snap_actions[value] = action
        snap_menu.setToolTipsVisible(True)
        w.timeline.axis.set_bars_mode(w.settings.ruler_bars)

    def _stems_toggled(self, on: bool) -> None:
        self.window.settings.grid_from_stems = bool(on)
        s = self.window.session
        if on and s.is_open and s.stems_complete and self.window.load_worker is None:
            self.start(use_stems=True)

    def _snap_chosen(self) -> None:
        action = self.snap_group.checkedAction()
        if action is not None:
            self.window.settings.snap = str(action.data())

    def set_bars_mode(self, on: bool) -> None:
        """Ruler in bars:beats (True) or m:ss (False)."""
        self.window.settings.ruler_bars = bool(on)
        self.window.timeline.axis.set_bars_mode(bool(on))
        if self.bars_action.isChecked() != bool(on):
            self.bars_action.setChecked(bool(on))

    # -- analysis ----------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget the grid (a new song is opening)."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker = None
        self.analysis = None
        self.window.timeline.axis.set_grid(None)
        self.window.chord_row.set_chords(None)
        self.info.setText("")
        self._lock_practice()

    def start(self, use_stems: bool = False) -> AnalysisWorker | None:
        """Analyse the open song in the background (with its stems when ``use_stems``)."""
        w = self.window
        s = w.session
        if not s.is_open or not w.settings.auto_analyze:
            return None
        from core.analysis import INSTALL_HINT, available

        if not available():
            self.info.setText("No grid: librosa missing")
            self.info.setToolTip(INSTALL_HINT)
            return None
        if self.worker is not None:
            self.worker.cancel()
        stems = None
        if use_stems and s.stems_complete and s.mixer is not None:
            stems = {name: arr for name in s.stem_names
                     if (arr := s.mixer.stem(name)) is not None}
        worker = AnalysisWorker(s.mixer.mix, s.sample_rate, stems)
        worker.token = s.mixer
        self.worker = worker
        if self.analysis is None:
            self.info.setText("Analysing…")
        w.pool.start(worker, {"progressed": self._progress, "returned": self._done,
                              "errored": self._failed, "aborted": self._aborted})
        return worker

    def _progress(self, fraction: float, _eta: float) -> None:
        if self.sender() is self.worker and self.analysis is None:
            self.info.setText(f"Analysing… {fraction:.0%}")

    def _done(self, analysis: Any) -> None:
        worker = self.sender()
        if worker is not self.worker:
            return
        self.worker = None
        if getattr(worker, "token", None) is not self.window.session.mixer:
            return
        self.show(analysis)

    def show(self, analysis: Any) -> None:
        """Show ``analysis`` (ruler, chords, label) and lock the practice tools to it."""
        w = self.window
        self.analysis = analysis
        w.timeline.axis.set_grid(analysis)
        w.chord_row.set_chords(analysis.chords)
        self.info.setText(f"{analysis.key} · {analysis.time_signature}\n"
                          f"{analysis.tempo_bpm:.1f} BPM")
        source = "separated stems" if analysis.source == "stems" else "mix"
        self.info.setToolTip(f"Detected from the {source}: "
                             f"key {analysis.key}, {analysis.time_signature}, "
                             f"{analysis.tempo_bpm:.1f} BPM, {len(analysis.beats)} beats")
        self._lock_practice()
        self.analysed.emit()

    def _failed(self, error: BaseException) -> None:
        if self.sender() is not self.worker:
            return
        self.worker = None
        message = describe_error(error)
        log.warning("analysis failed: %s", message)
        self.info.setText("No grid")
        self.info.setToolTip(f"The song could not be analysed: {message}")
        self.analysis_failed.emit(message)

    def _aborted(self, _error: BaseException) -> None:
        if self.sender() is self.worker:
            self.worker = None

    # -- practice ----------------------------------------------------------------------------
    def _lock_practice(self) -> None:
        """Metronome on the detected beats; the panel's BPM shows the detected tempo."""
        w = self.window
        a = self.analysis
        metronome = getattr(w, "metronome", None)
        if metronome is not None and hasattr(metronome, "set_grid"):
            if a is not None and a.beats:
                numbers = [a.bar_beat(b + 1e-6)[1] for b in a.beats]
                metronome.set_grid(a.beats, numbers, a.beats_per_bar)
            else:
                metronome.set_grid(None)
        if a is not None and 20.0 <= a.tempo_bpm <= 300.0:
            w.practice.show_bpm(round(a.tempo_bpm, 1))
            w._set_bpm(float(round(a.tempo_bpm, 1)))  # the metronome's steady BPM too

    @property
    def beats_per_bar(self) -> int:
        """Beats per bar of the open song (4 without a grid)."""
        return self.analysis.beats_per_bar if self.analysis is not None else 4

    # -- snapping ----------------------------------------------------------------------------
    def snap(self, seconds: float) -> float:
        """``seconds`` moved to the nearest beat or bar (setting), unless Shift is held."""
        unit = self.window.settings.snap
        if self.analysis is None or unit == "off":
            return seconds
        if QGuiApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier:
            return seconds
        return float(self.analysis.snap(seconds, unit))
