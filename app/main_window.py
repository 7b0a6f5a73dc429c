"""The main window: layout and wiring only.

Widgets emit intents; this window turns them into calls on the :class:`~app.session.Session`
(lane state), the :class:`~app.playback.Player` (transport) and background
:class:`~app.workers.Worker` jobs (open, separate, spectrogram, export), and shows their results.
A 30 Hz timer polls the player's playhead. Every error ends in a (non-blocking) message box and
in :attr:`MainWindow.errors`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollBar,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.grid import GridController
from app.playback import PlaybackError, Player
from app.session import LANES, Session
from app.settings import Settings
from app.stem_cache import StemCache, cache_key, model_identity
from app.widgets.export_dialog import ExportDialog, ExportOptions
from app.widgets.grid_ruler import ChordRow
from app.widgets.lane_view import SPECTROGRAM
from app.widgets.practice_panel import PracticePanel
from app.widgets.stem_lane import StemLane
from app.widgets.timeline import Timeline
from app.widgets.transport import Transport, format_time
from app.workers import (
    ExportJob,
    ExportWorker,
    LoadedSong,
    LoadWorker,
    SeparationWorker,
    SpectrogramWorker,
    WorkerPool,
    describe_error,
)
from core.config import STEMS
from core.errors import ModelNotFoundError, StemweaveError

log = logging.getLogger(__name__)

AUDIO_FILTER = ("Audio files (*.wav *.flac *.mp3 *.ogg *.oga *.opus *.aif *.aiff *.m4a *.aac "
                "*.wma *.mp4 *.webm);;All files (*)")
TICK_MS = 33
NO_MODEL_MESSAGE = (
    "No separation model is available yet.\n\nOpen Settings (Edit ▸ Settings…) and pick a model: "
    "download one from the list, or choose a checkpoint file (.safetensors or the authors' .pt).")


class MainWindow(QMainWindow):
    """Stemweave's window.

    Args:
        settings: persistent settings (tests pass an INI-backed one).
        model_store: a :class:`core.model_store.ModelStore`; the user's default when ``None``.
        cache: the stem cache; the user's cache folder when ``None``.
        audio_device: PortAudio output device for playback (``None``: the default).

    Signals:
        waveform_shown(): a song was decoded and its waveform is shown (playable).
        song_loaded(): the song is fully opened (identity known, cached stems loaded).
        separation_ended(outcome): "finished", "cancelled" or "failed".
        export_ended(outcome): "finished", "cancelled" or "failed".
        error_shown(message): an error message box was shown.
    """

    waveform_shown = Signal()
    song_loaded = Signal()
    separation_ended = Signal(str)
    export_ended = Signal(str)
    error_shown = Signal(str)

    def __init__(self, settings: Settings, *, model_store: Any = None,
                 cache: StemCache | None = None, audio_device: int | str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._store = model_store
        self.cache = cache if cache is not None else StemCache()
        self.audio_device = audio_device
        self.session = Session(self)
        self.pool = WorkerPool(self)
        self.player: Player | None = None
        self.load_worker: LoadWorker | None = None
        self.sep_worker: SeparationWorker | None = None
        self.export_worker: ExportWorker | None = None
        self.spec_workers: dict[int, SpectrogramWorker] = {}
        self.errors: list[str] = []
        self.open_started_at = 0.0
        self.last_open_s = 0.0  # open -> first waveform shown
        self.last_load_s = 0.0  # decode + envelope of the whole song (worker)
        self.loop_s: tuple[float, float] = (0.0, 0.0)
        self._last_pos = -1.0

        self.setWindowTitle("Stemweave")
        self.setAcceptDrops(True)
        self.resize(1280, 820)
        self._build_widgets()
        self._build_actions()
        self._wire()
        self._update_enabled()
        geometry = settings.window_geometry
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.window_state
        if state is not None:
            self.restoreState(state)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    # ------------------------------------------------------------------------------ building
    def _build_widgets(self) -> None:
        self.transport = Transport()
        self.separate_button = QPushButton("Separate")
        self.separate_button.setToolTip("Separate the song into drums, bass, other and vocals "
                                        "(Ctrl+Return)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the separation")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.eta_label = QLabel("")
        self.eta_label.setMinimumWidth(90)

        self.timeline = Timeline()
        self.chord_row = ChordRow()
        self.chord_row.setXLink(self.timeline)
        self.grid = GridController(self)
        self.lanes = [StemLane(i, name) for i, name in enumerate(LANES)]
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal)
        self.scrollbar.setRange(0, 0)

        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(1)
        ruler_row = QWidget()
        ruler_layout = QHBoxLayout(ruler_row)
        ruler_layout.setContentsMargins(0, 0, 0, 0)
        ruler_layout.setSpacing(0)
        ruler_layout.addWidget(self.grid.info)
        ruler_col = QVBoxLayout()
        ruler_col.setContentsMargins(0, 0, 0, 0)
        ruler_col.setSpacing(0)
        ruler_col.addWidget(self.chord_row)
        ruler_col.addWidget(self.timeline)
        ruler_layout.addLayout(ruler_col, 1)
        col.addWidget(ruler_row)
        for lane in self.lanes:
            lane.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            col.addWidget(lane, 1)
            lane.view.setXLink(self.timeline)
        scroll_row = QWidget()
        scroll_layout = QVBoxLayout(scroll_row)
        scroll_layout.setContentsMargins(210, 0, 0, 0)
        scroll_layout.addWidget(self.scrollbar)
        col.addWidget(scroll_row)
        self.setCentralWidget(central)

        self.practice = PracticePanel(STEMS, capture=self._capture_preset,
                                      bpm=self.settings.song_bpm)
        self.practice.set_user_presets(self.settings.user_presets)
        self.practice_dock = QDockWidget("Practice", self)
        self.practice_dock.setObjectName("practice_dock")
        self.practice_dock.setWidget(self.practice)
        self.practice_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                       | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.practice_dock)
        self.practice_dock.hide()
        self.stretcher: Any = None
        self.metronome: Any = None

        self.export_progress = QProgressBar()
        self.export_progress.setRange(0, 1000)
        self.export_progress.setMaximumWidth(200)
        self.export_progress.setVisible(False)
        self.statusBar().addPermanentWidget(self.export_progress)
        self.statusBar().showMessage("Open a song (File ▸ Open, or drop a file here).")

    def _action(self, text: str, shortcut: str | QKeySequence | None, slot: Any,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setToolTip(tip)
        action.triggered.connect(lambda *_: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open…", QKeySequence.StandardKey.Open, self.open_dialog)
        self.export_action = self._action("&Export…", "Ctrl+E", self.export_dialog)
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        self.settings_action = self._action("&Settings…", "Ctrl+,", self.settings_dialog)
        self.separate_action = self._action("&Separate", "Ctrl+Return", self.separate)
        self.cancel_action = self._action("&Cancel separation", None, self.cancel_separation)
        self.play_action = self._action("&Play / Pause", "Space", self.toggle_play)
        self.stop_action = self._action("S&top", "Escape", self.stop)
        self.loop_action = self._action("&Loop", "L", lambda: self.set_loop_enabled(
            not (self.player.loop_enabled if self.player else False)))
        self.back_action = self._action("Back 5 s", "Left", lambda: self.nudge(-5.0))
        self.fwd_action = self._action("Forward 5 s", "Right", lambda: self.nudge(5.0))
        self.zoom_in_action = self._action("Zoom &in", QKeySequence.StandardKey.ZoomIn,
                                           lambda: self.zoom(0.5))
        self.zoom_out_action = self._action("Zoom &out", QKeySequence.StandardKey.ZoomOut,
                                            lambda: self.zoom(2.0))
        self.zoom_fit_action = self._action("Zoom to &fit", "Ctrl+0", self.zoom_fit)
        self.fit_heights_action = self._action(
            "Fit waveform &heights", "Ctrl+H", lambda: self.set_fit_heights(
                self.fit_heights_action.isChecked()))
        self.fit_heights_action.setCheckable(True)
        self.lane_actions: list[QAction] = []
        for i, name in enumerate(LANES):
            self.lane_actions.append(self._action(
                f"Mute {name}", f"Ctrl+{i + 1}",
                lambda i=i: self.lanes[i].mute_button.toggle()))
            self.lane_actions.append(self._action(
                f"Solo {name}", f"Alt+{i + 1}", lambda i=i: self.lanes[i].solo_button.toggle()))
            self.lane_actions.append(self._action(
                f"Spectrogram {name}", f"Ctrl+Shift+{i + 1}",
                lambda i=i: self.lanes[i].view_button.toggle()))

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addAction(self.settings_action)
        song_menu = menu.addMenu("&Song")
        song_menu.addAction(self.separate_action)
        song_menu.addAction(self.cancel_action)
        play_menu = menu.addMenu("&Playback")
        for a in (self.play_action, self.stop_action, self.loop_action, self.back_action,
                  self.fwd_action):
            play_menu.addAction(a)
        view_menu = menu.addMenu("&View")
        for a in (self.zoom_in_action, self.zoom_out_action, self.zoom_fit_action,
                  self.fit_heights_action):
            view_menu.addAction(a)
        self.practice_action = self.practice_dock.toggleViewAction()
        self.practice_action.setText("&Practice tools (tempo, pitch, presets)")
        self.practice_action.setShortcut(QKeySequence("Ctrl+P"))
        view_menu.addAction(self.practice_action)
        self.grid.build_actions(view_menu)
        lanes_menu = menu.addMenu("L&anes")
        for a in self.lane_actions:
            lanes_menu.addAction(a)
        self._rebuild_recent()

        bar = QToolBar("Main")
        bar.setObjectName("main_toolbar")
        bar.setMovable(False)
        bar.addAction(self.open_action)
        bar.addSeparator()
        bar.addWidget(self.separate_button)
        self.cancel_item = bar.addWidget(self.cancel_button)
        self.progress_item = bar.addWidget(self.progress)
        bar.addWidget(self.eta_label)
        bar.addSeparator()
        bar.addWidget(self.transport)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        bar.addAction(self.export_action)
        bar.addAction(self.settings_action)
        self.addToolBar(bar)
        for w in (self.separate_button, self.cancel_button, self.transport.play_button,
                  self.transport.stop_button, self.transport.loop_button):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def _wire(self) -> None:
        s = self.session
        self.separate_button.clicked.connect(self.separate)
        self.cancel_button.clicked.connect(self.cancel_separation)
        self.transport.play_clicked.connect(self.toggle_play)
        self.transport.stop_clicked.connect(self.stop)
        self.transport.loop_toggled.connect(self.set_loop_enabled)
        self.timeline.loop_changed.connect(self._loop_dragged)
        self.timeline.seek_requested.connect(self._seek_clicked)
        for lane in self.lanes:
            for b in (lane.mute_button, lane.solo_button, lane.view_button):
                b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            lane.gain_changed.connect(s.set_gain_db)
            lane.mute_toggled.connect(s.set_mute)
            lane.solo_toggled.connect(s.set_solo)
            lane.pan_changed.connect(s.set_pan)
            lane.mode_changed.connect(self.set_lane_mode)
            lane.seek_requested.connect(self._seek_clicked)
        p = self.practice
        p.tempo_changed.connect(self._set_tempo)
        p.pitch_changed.connect(self._set_pitch)
        p.bpm_changed.connect(self._set_bpm)
        p.metronome_toggled.connect(self._set_metronome)
        p.preset_chosen.connect(self._apply_preset)
        p.preset_saved.connect(self.settings.add_user_preset)
        p.preset_deleted.connect(self.settings.remove_user_preset)
        s.song_opened.connect(self._song_opened)
        s.stems_reset.connect(self._stems_reset)
        s.stems_changed.connect(self._stems_changed)
        s.lane_changed.connect(self._lane_changed)
        vb = self.timeline.getPlotItem().getViewBox()
        vb.sigXRangeChanged.connect(lambda *_: self._sync_scrollbar())
        self.scrollbar.valueChanged.connect(self._scrolled)

    # ------------------------------------------------------------------------------ errors
    def show_error(self, text: str, title: str = "Stemweave", *,
                   settings_button: bool = False) -> QMessageBox:
        """Show ``text`` in a window-modal (non-blocking) message box and remember it.

        With ``settings_button`` the box also offers to open the settings dialog.
        """
        log.info("error shown: %s", text)
        self.errors.append(text)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                          self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if settings_button:
            button = box.addButton("Open Settings…", QMessageBox.ButtonRole.ActionRole)
            button.clicked.connect(self.settings_dialog)
        box.open()
        self.error_shown.emit(text)
        return box

    # ------------------------------------------------------------------------------ model
    @property
    def model_store(self) -> Any:
        """The model store (created on first use)."""
        if self._store is None:
            from core.model_store import ModelStore

            self._store = ModelStore()
        return self._store

    def resolve_model(self) -> Path:
        """The weights file the settings choose.

        Raises:
            ModelNotFoundError: nothing usable (the message says to pick one in Settings).
        """
        from core.model_store import resolve_model

        value = self.settings.model or None
        try:
            return resolve_model(value, self.model_store)
        except ModelNotFoundError as exc:
            if value is None:
                raise ModelNotFoundError(NO_MODEL_MESSAGE) from exc
            raise ModelNotFoundError(
                f"{exc}\n\nChoose another model in Settings (Edit ▸ Settings…).") from exc

    def _model_id(self) -> str:
        try:
            return model_identity(self.resolve_model())
        except (StemweaveError, OSError):
            return ""

    # ------------------------------------------------------------------------------ open
    def open_dialog(self) -> None:
        """Ask for a song and open it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open a song", self.settings.last_open_dir,
                                              AUDIO_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> LoadWorker:
        """Open a song in the background; the waveform shows when it is decoded."""
        path = Path(path)
        if self.sep_worker is not None:
            self.sep_worker.cancel()
        if self.load_worker is not None:
            self.load_worker.cancel()
        self.open_started_at = time.perf_counter()
        self.statusBar().showMessage(f"Opening {path.name}…")
        worker = LoadWorker(path, self.cache, self._model_id())
        self.load_worker = worker
        self.pool.start(worker, {"decoded": self._decoded, "progressed": self._load_progress,
                                 "returned": self._loaded, "errored": self._load_failed})
        return worker

    def _decoded(self, song: LoadedSong) -> None:
        worker = self.sender()
        if worker is not self.load_worker or self.load_worker.is_cancelled():
            return
        if self.player is not None:
            self.player.close()
            self.player = None
        self.session.open_song(song)
        self.last_open_s = time.perf_counter() - self.open_started_at
        self.waveform_shown.emit()

    def _load_progress(self, fraction: float, _eta: float) -> None:
        if self.sender() is self.load_worker and self.session.is_open:
            self.lanes[0].view.redraw()  # the waveform fills in as decoding goes on
            self.statusBar().showMessage(f"Reading… {fraction:.0%}")

    def _loaded(self, song: LoadedSong) -> None:
        worker = self.sender()
        if worker is not self.load_worker or self.load_worker.is_cancelled():
            return
        self.load_worker = None
        self.last_load_s = song.load_s
        self.lanes[0].view.redraw()
        self.session.identify(song)
        s = self.session
        cached = " (stems loaded from the cache)" if s.stems_complete else ""
        self.statusBar().showMessage(
            f"{song.path.name}: {format_time(s.duration_s)}, {s.sample_rate} Hz, "
            f"{s.mixer.channels} channel(s){cached}")
        self._update_enabled()
        self.grid.start(use_stems=s.stems_complete)
        self.song_loaded.emit()
        self.settings.add_recent_file(song.path)
        self.settings.last_open_dir = str(song.path.parent)
        self._rebuild_recent()

    def _load_failed(self, error: BaseException) -> None:
        if self.sender() is self.load_worker:
            self.load_worker = None
            self._update_enabled()
        self.statusBar().showMessage("Could not open the file.")
        self.show_error(describe_error(error), "Cannot open the song")

    def _song_opened(self) -> None:
        s = self.session
        assert s.mixer is not None and s.path is not None
        self.player = Player(s.mixer, device=self.audio_device)
        self._setup_practice()
        self.grid.clear()
        self.loop_s = (0.0, 0.0)
        self.timeline.set_region(0.0, 0.0)
        self.transport.show_loop(False)
        self.transport.show_playing(False)
        for lane in self.lanes:
            lane.show_state(s.mixer.lanes[lane.lane])
            lane.view.set_loop(0.0, 0.0, False)
            lane.view.set_spectrogram(None)
        self._stems_reset()
        self.lanes[0].view.set_envelope(s.envelopes[0], s.sample_rate)
        dur = s.duration_s
        for v in [self.timeline, *(lane.view for lane in self.lanes)]:
            v.getPlotItem().getViewBox().setLimits(xMin=0.0, xMax=dur, minXRange=0.01)
        self.timeline.getPlotItem().getViewBox().setXRange(0.0, dur, padding=0.0)
        for lane in self.lanes:
            if lane.view.mode == SPECTROGRAM:
                self._request_spectrogram(lane.lane)
        self.setWindowTitle(f"{s.path.name} — Stemweave")
        self.statusBar().showMessage(f"{s.path.name}: reading…")
        self._update_enabled()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files
        for p in recent:
            action = self.recent_menu.addAction(p)
            action.triggered.connect(lambda *_, p=p: self.open_file(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self._clear_recent)
        self.recent_menu.setEnabled(bool(recent))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._rebuild_recent()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802, D102
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802, D102
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_file(url.toLocalFile())
                event.acceptProposedAction()
                return

    # ------------------------------------------------------------------------------ separate
    def separate(self) -> SeparationWorker | None:
        """Separate the open song in the background (stems appear as segments finish)."""
        s = self.session
        if not s.is_open or self.sep_worker is not None or self.load_worker is not None:
            return None
        from core.model_store import model_stems

        try:
            model_path = self.resolve_model()
            model_id = model_identity(model_path)
            stem_names = model_stems(model_path)
        except ModelNotFoundError as exc:
            self.show_error(str(exc), "Choose a model", settings_button=True)
            return None
        except (OSError, StemweaveError) as exc:
            self.show_error(f"The model file cannot be read: {exc}", "Choose a model")
            return None
        mixer, envs = s.prepare_stems(stem_names)
        key = cache_key(s.song_id, model_id)
        worker = SeparationWorker(
            mixer, envs, model_path, self.settings.device, cache=self.cache, cache_key=key,
            cache_info={"song": str(s.path), "model": model_id})
        self.sep_worker = worker
        s.cache_key = key
        self.progress.setValue(0)
        self.progress.setFormat("Loading model…")
        self.eta_label.setText("")
        self.statusBar().showMessage(f"Separating with {model_path.name}…")
        self._update_enabled()
        self.pool.start(worker, {"segment_ready": s.stems_delivered,
                                 "progressed": self._sep_progress,
                                 "returned": self._sep_finished, "errored": self._sep_failed,
                                 "aborted": self._sep_cancelled})
        return worker

    def cancel_separation(self) -> None:
        """Ask the running separation to stop."""
        if self.sep_worker is not None:
            self.sep_worker.cancel()
            self.progress.setFormat("Cancelling…")

    def _sep_progress(self, fraction: float, eta: float) -> None:
        if self.sep_worker is None:
            return
        self.progress.setFormat("Separating %p%")
        self.progress.setValue(int(fraction * 1000))
        self.eta_label.setText(f"ETA {format_time(eta)[:-2]}" if eta >= 0 else "")

    def _sep_finished(self, _stems: object) -> None:
        if self.sender() is not self.sep_worker:
            return
        self.sep_worker = None
        self.session.finish_stems()
        if self.fit_heights_action.isChecked():
            self.set_fit_heights(True)
        for lane in self.lanes[1:]:
            if lane.view.mode == SPECTROGRAM:
                self._request_spectrogram(lane.lane)
        self.eta_label.setText("")
        self.statusBar().showMessage("Separation finished.")
        self._update_enabled()
        self.grid.start(use_stems=True)
        self.separation_ended.emit("finished")

    def _sep_failed(self, error: BaseException) -> None:
        if self.sender() is self.sep_worker:
            self._sep_ended("failed", describe_error(error))

    def _sep_cancelled(self, _cancel: BaseException) -> None:
        if self.sender() is self.sep_worker:
            self._sep_ended("cancelled")

    def _sep_ended(self, outcome: str, message: str = "") -> None:
        self.sep_worker = None
        self.session.drop_stems()
        self.eta_label.setText("")
        self._update_enabled()
        if outcome == "failed":
            self.statusBar().showMessage("Separation failed.")
            self.show_error(message, "Separation failed")
        else:
            self.statusBar().showMessage("Separation cancelled.")
        self.separation_ended.emit(outcome)

    def _stems_reset(self) -> None:
        s = self.session
        for lane in self.lanes[1:]:
            lane.view.set_envelope(s.envelopes[lane.lane], s.sample_rate)
            lane.view.set_spectrogram(s.spectrograms.get(lane.lane))
            if lane.view.mode == SPECTROGRAM and lane.lane not in s.spectrograms:
                lane.view.show_message("" if s.stems_complete else "Spectrogram after separation")

    def _stems_changed(self, start: int, stop: int) -> None:
        s = self.session
        if not s.sample_rate:
            return
        (x0, x1), _ = self.timeline.getPlotItem().getViewBox().viewRange()
        if stop / s.sample_rate < x0 or start / s.sample_rate > x1:
            return
        for lane in self.lanes[1:]:
            lane.view.redraw()

    # ------------------------------------------------------------------------------ lanes
    def _lane_changed(self, lane: int) -> None:
        mixer = self.session.mixer
        if mixer is not None:
            self.lanes[lane].show_state(mixer.lanes[lane])

    def set_lane_mode(self, lane: int, mode: str) -> None:
        """Show ``lane`` as a waveform or a spectrogram (computed in the background, cached)."""
        view = self.lanes[lane].view
        blocker = QSignalBlocker(self.lanes[lane].view_button)
        self.lanes[lane].view_button.setChecked(mode == SPECTROGRAM)
        del blocker
        view.set_mode(mode)
        if mode == SPECTROGRAM:
            self._request_spectrogram(lane)

    def _request_spectrogram(self, lane: int) -> None:
        s = self.session
        view = self.lanes[lane].view
        spec = s.spectrograms.get(lane)
        if spec is not None:
            view.set_spectrogram(spec)
            return
        audio = s.lane_audio(lane)
        if audio is None or (lane > 0 and not s.stems_complete):
            view.show_message("Spectrogram after separation")
            return
        if lane in self.spec_workers:
            return
        view.show_message("Computing spectrogram…")
        worker = SpectrogramWorker(lane, audio, s.sample_rate)
        worker.token = s.mixer
        self.spec_workers[lane] = worker
        self.pool.start(worker, {"returned": self._spec_done, "errored": self._spec_failed,
                                 "aborted": self._spec_cancelled})

    def _spec_done(self, result: Any) -> None:
        worker = self.sender()
        lane, spec = result
        if self.spec_workers.get(lane) is worker:
            del self.spec_workers[lane]
        stale = getattr(worker, "token", None) is not self.session.mixer
        if stale or (lane > 0 and not self.session.stems_complete):
            return
        self.session.spectrograms[lane] = spec
        view = self.lanes[lane].view
        view.set_spectrogram(spec)

    def _spec_failed(self, error: BaseException) -> None:
        self.spec_workers.pop(getattr(self.sender(), "lane", -1), None)
        self.show_error(describe_error(error), "Spectrogram")

    def _spec_cancelled(self, _cancel: BaseException) -> None:
        self.spec_workers.pop(getattr(self.sender(), "lane", -1), None)

    # ------------------------------------------------------------------------------ practice
    def _setup_practice(self) -> None:
        """A tempo/pitch processor and a metronome for the new song's player."""
        s = self.session
        self.stretcher = None
        self.metronome = None
        try:
            from core.practice import Metronome, TempoPitch

            self.stretcher = TempoPitch(s.sample_rate, 2, tempo=self.practice.tempo,
                                        semitones=self.practice.semitones)
            self.metronome = Metronome(s.sample_rate, self.practice.bpm)
        except (StemweaveError, ImportError) as exc:  # e.g. Rubber Band not installed
            log.warning("practice tools unavailable: %s", exc)
            self.practice.setEnabled(False)
            self.practice.setToolTip(f"Not available: {exc}")
            return
        assert self.player is not None
        self.player.set_processor(self.stretcher)
        self.player.metronome = self.metronome if self.practice.metronome_on else None

    def _set_tempo(self, ratio: float) -> None:
        if self.stretcher is not None:
            try:
                self.stretcher.set_tempo(ratio)
            except StemweaveError as exc:
                self.show_error(str(exc), "Tempo")

    def _set_pitch(self, semitones: float) -> None:
        if self.stretcher is not None:
            try:
                self.stretcher.set_pitch(semitones)
            except StemweaveError as exc:
                self.show_error(str(exc), "Pitch")

    def _set_bpm(self, bpm: float) -> None:
        self.settings.song_bpm = bpm
        if self.metronome is not None:
            try:
                self.metronome.set_bpm(bpm)
            except StemweaveError as exc:
                self.show_error(str(exc), "Metronome")

    def _set_metronome(self, on: bool) -> None:
        if self.player is not None:
            self.player.metronome = self.metronome if on else None

    def _capture_preset(self, name: str) -> Any:
        from core.practice import capture_preset

        mixer = self.session.mixer
        if mixer is None:
            raise StemweaveError("Open a song first.")
        return capture_preset(name, mixer, tempo=self.practice.tempo,
                              semitones=self.practice.semitones)

    def _apply_preset(self, preset: Any) -> None:
        from core.practice import apply_preset

        mixer = self.session.mixer
        if mixer is None:
            return
        apply_preset(preset, mixer)
        for lane in self.lanes:
            lane.show_state(mixer.lanes[lane.lane])

    def _count_in(self) -> Any:
        bars = self.practice.count_in_bars
        if bars <= 0 or self.session.sample_rate <= 0:
            return None
        from core.practice import count_in

        try:
            return count_in(self.practice.heard_bpm, self.session.sample_rate, bars=bars,
                            beats_per_bar=self.grid.beats_per_bar)
        except StemweaveError as exc:
            self.show_error(str(exc), "Count-in")
            return None

    # ------------------------------------------------------------------------------ transport
    def toggle_play(self) -> None:
        """Play or pause (Space); a count-in set in the practice panel plays first."""
        if self.player is None:
            return
        try:
            if self.player.playing:
                self.player.pause()
            else:
                self.player.play(count_in=self._count_in())
        except PlaybackError as exc:
            self.show_error(str(exc), "Playback")
        self.transport.show_playing(self.player.playing)

    def stop(self) -> None:
        """Stop and return to the start (of the loop when looping)."""
        if self.player is not None:
            self.player.stop()
            self.transport.show_playing(False)
            self._tick(force=True)

    def seek(self, seconds: float) -> None:
        """Move the playhead to ``seconds``."""
        if self.player is not None:
            self.player.seek(seconds * self.session.sample_rate)
            self._tick(force=True)

    def _seek_clicked(self, seconds: float) -> None:
        """A click on the ruler or a lane: seek, snapped to the grid (Shift: exactly)."""
        self.seek(self.grid.snap(seconds))

    def _loop_dragged(self, start_s: float, end_s: float) -> None:
        """A loop drawn or moved on the ruler: edges snapped to the grid (Shift: exactly)."""
        a, b = self.grid.snap(start_s), self.grid.snap(end_s)
        if b <= a:  # both edges snapped to one beat: keep what was drawn
            a, b = start_s, end_s
        self.set_loop(a, b)

    def nudge(self, delta_s: float) -> None:
        """Move the playhead by ``delta_s`` seconds."""
        if self.player is not None:
            self.seek(self.player.position_s + delta_s)

    def set_loop(self, start_s: float, end_s: float) -> None:
        """Set the A-B loop region (a region shorter than 50 ms clears it)."""
        if self.player is None:
            return
        a, b = sorted((max(0.0, start_s), min(self.session.duration_s, end_s)))
        if b - a < 0.05:
            a = b = 0.0
        self.loop_s = (a, b)
        sr = self.session.sample_rate
        self.timeline.set_region(a, b)
        enable = b > a and (self.player.loop_enabled or a != b)
        self.player.set_loop(a * sr, b * sr, enabled=enable)
        self.transport.show_loop(self.player.loop_enabled)
        for lane in self.lanes:
            lane.view.set_loop(a, b, self.player.loop_enabled)
        if self.player.loop_enabled and not (a <= self.player.position_s < b):
            self.seek(a)

    def set_loop_enabled(self, on: bool) -> None:
        """Switch looping on or off (needs a region dragged on the ruler)."""
        if self.player is None:
            return
        a, b = self.loop_s
        on = bool(on) and b > a
        self.player.set_loop_enabled(on)
        self.transport.show_loop(on)
        for lane in self.lanes:
            lane.view.set_loop(a, b, on)
        if not on and b <= a and self.transport.loop_button.isChecked():
            self.statusBar().showMessage("Drag on the time ruler to choose a loop region.")

    def _tick(self, force: bool = False) -> None:
        p = self.player
        if p is None:
            return
        if p.error:
            message, p.error = p.error, None
            p.pause()
            self.transport.show_playing(False)
            self.show_error(message, "Playback")
        if p.playing and p.reached_end:
            p.pause()
            self.transport.show_playing(False)
        pos = p.position_s
        if pos == self._last_pos and not force:
            return
        self._last_pos = pos
        self.timeline.set_playhead(pos)
        for lane in self.lanes:
            lane.view.set_playhead(pos)
        self.transport.show_time(pos, self.session.duration_s)
        if p.playing:
            vb = self.timeline.getPlotItem().getViewBox()
            (x0, x1), _ = vb.viewRange()
            if pos > x1 or pos < x0:
                span = x1 - x0
                vb.setXRange(pos, pos + span, padding=0.0)

    # ------------------------------------------------------------------------------ view
    def zoom(self, factor: float) -> None:
        """Zoom the time axis by ``factor`` (< 1 zooms in) around the view centre."""
        vb = self.timeline.getPlotItem().getViewBox()
        (x0, x1), _ = vb.viewRange()
        c, half = (x0 + x1) / 2, (x1 - x0) * factor / 2
        vb.setXRange(max(0.0, c - half), c + half, padding=0.0)

    def zoom_fit(self) -> None:
        """Show the whole song."""
        if self.session.is_open:
            self.timeline.getPlotItem().getViewBox().setXRange(0.0, self.session.duration_s,
                                                               padding=0.0)

    def set_fit_heights(self, on: bool) -> None:
        """Scale each lane's waveform to its own peak (on) or show full scale (off)."""
        self.fit_heights_action.setChecked(on)
        for lane in self.lanes:
            lane.view.set_fit_height(on)

    def _sync_scrollbar(self) -> None:
        dur = self.session.duration_s
        (x0, x1), _ = self.timeline.getPlotItem().getViewBox().viewRange()
        span = max(0.0, x1 - x0)
        blocker = QSignalBlocker(self.scrollbar)
        self.scrollbar.setRange(0, max(0, int((dur - span) * 100)))
        self.scrollbar.setPageStep(max(1, int(span * 100)))
        self.scrollbar.setSingleStep(max(1, int(span * 10)))
        self.scrollbar.setValue(int(max(0.0, x0) * 100))
        del blocker

    def _scrolled(self, value: int) -> None:
        vb = self.timeline.getPlotItem().getViewBox()
        (x0, x1), _ = vb.viewRange()
        start = value / 100.0
        vb.setXRange(start, start + (x1 - x0), padding=0.0)

    # ------------------------------------------------------------------------------ export
    def export_dialog(self) -> None:
        """Ask what to export, then export it."""
        s = self.session
        if not s.is_open:
            return
        dlg = ExportDialog(self, folder=self.settings.export_dir,
                           have_stems=s.stems_complete, have_loop=self.loop_s[1] > self.loop_s[0],
                           fmt=self.settings.export_format, bits=self.settings.export_bits)
        if dlg.exec():
            self.export(dlg.options())

    def export(self, options: ExportOptions) -> ExportWorker | None:
        """Write the chosen files in the background (each atomically)."""
        s = self.session
        if not s.is_open or self.export_worker is not None or s.mixer is None or s.path is None:
            return None
        if any(src != "mix" for src in options.sources) and not s.stems_complete:
            self.show_error("Separate the song before exporting stems.", "Export")
            return None
        try:
            options.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.show_error(f"Cannot create the folder {options.folder}: {exc.strerror}",
                            "Export")
            return None
        sr = s.sample_rate
        a, b = 0, s.frames
        suffix = ""
        if options.loop_only and self.loop_s[1] > self.loop_s[0]:
            a, b = int(self.loop_s[0] * sr), int(self.loop_s[1] * sr)
            suffix = f" ({format_time(self.loop_s[0])}-{format_time(self.loop_s[1])})".replace(
                ":", ".")
        stem_names = s.stem_names
        jobs = []
        for src in options.sources:
            name = "mix" if src == "mix" else stem_names[int(src)]
            jobs.append(ExportJob(options.folder / f"{s.path.stem} - {name}{suffix}.{options.fmt}",
                                  name))
        self.settings.export_format = options.fmt
        self.settings.export_bits = options.bits
        tempo = self.stretcher.tempo if self.stretcher is not None else 1.0
        semitones = self.stretcher.semitones if self.stretcher is not None else 0.0
        worker = ExportWorker(jobs, s.mixer, a, b, fmt=options.fmt, bits=options.bits,
                              tempo=tempo, semitones=semitones)
        self.export_worker = worker
        self.export_progress.setValue(0)
        self.export_progress.setVisible(True)
        self.statusBar().showMessage(f"Exporting {len(jobs)} file(s)…")
        self.pool.start(worker, {"progressed": self._export_progress,
                                 "returned": self._export_finished,
                                 "errored": self._export_failed,
                                 "aborted": self._export_cancelled})
        return worker

    def _export_progress(self, fraction: float, _eta: float) -> None:
        self.export_progress.setValue(int(fraction * 1000))

    def _export_finished(self, paths: object) -> None:
        self._export_done("finished", paths)

    def _export_failed(self, error: BaseException) -> None:
        self._export_done("failed", describe_error(error))

    def _export_cancelled(self, _cancel: BaseException) -> None:
        self._export_done("cancelled", None)

    def _export_done(self, outcome: str, payload: Any) -> None:
        self.export_worker = None
        self.export_progress.setVisible(False)
        if outcome == "finished":
            folder = Path(payload[0]).parent if payload else ""
            self.statusBar().showMessage(f"Exported {len(payload)} file(s) to {folder}")
        elif outcome == "failed":
            self.statusBar().showMessage("Export failed.")
            self.show_error(str(payload), "Export failed")
        else:
            self.statusBar().showMessage("Export cancelled.")
        self.export_ended.emit(outcome)

    # ------------------------------------------------------------------------------ settings
    def settings_dialog(self) -> None:
        """Open the settings dialog (model, device, export folder)."""
        from app.widgets.settings_dialog import SettingsDialog

        try:
            store = self.model_store
        except StemweaveError as exc:
            self.show_error(str(exc), "Settings")
            return
        dlg = SettingsDialog(self, self.settings, store)
        dlg.exec()

    # ------------------------------------------------------------------------------ state
    def _update_enabled(self) -> None:
        is_open = self.session.is_open
        running = self.sep_worker is not None
        can_separate = is_open and not running and self.load_worker is None
        self.separate_button.setEnabled(can_separate)
        self.separate_action.setEnabled(can_separate)
        self.cancel_item.setVisible(running)
        self.progress_item.setVisible(running)
        self.cancel_action.setEnabled(running)
        self.export_action.setEnabled(is_open)
        self.transport.setEnabled(is_open)
        if is_open and self.session.stems_complete:
            self.separate_button.setText("Separate again")
        else:
            self.separate_button.setText("Separate")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802, D102
        self.timer.stop()
        if self.player is not None:
            self.player.close()
            self.player = None
        self.pool.shutdown()
        self.settings.window_geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        super().closeEvent(event)
