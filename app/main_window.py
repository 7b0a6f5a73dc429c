"""The main window: layout and wiring only.

Widgets emit intents; this window turns them into calls on the :class:`~app.session.Session`
(lane state), the :class:`~app.playback.Player` (transport) and background
:class:`~app.workers.Worker` jobs (open, separate, spectrogram, export), and shows their results.
A 30 Hz timer polls the player's playhead. Every error ends in a (non-blocking) message box and
in :attr:`MainWindow.errors`.

This module builds the window, wires it, and opens songs; each feature's behaviour lives in its
own module under ``app/features/``: transport, lanes (and the time axis), practice, separation
and export are mixins of :class:`MainWindow`; the musical grid is a controller
(:class:`app.features.grid.GridController`, ``window.grid``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
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

from app.features.export import ExportMixin
from app.features.grid import GridController
from app.features.help import HelpMixin
from app.features.lanes import LanesMixin
from app.features.loops import LoopsMixin
from app.features.memory import MemoryMixin
from app.features.meters import MetersMixin
from app.features.practice import PracticeMixin
from app.features.separation import SeparationMixin
from app.features.transport import TransportMixin
from app.playback import PlaybackError, Player, output_devices
from app.session import LANES, Session
from app.settings import Settings
from app.stem_cache import StemCache, model_identity
from app.widgets.grid_ruler import ChordRow
from app.widgets.lane_view import SPECTROGRAM
from app.widgets.practice_panel import PracticePanel
from app.widgets.stem_lane import StemLane
from app.widgets.timeline import Timeline
from app.widgets.transport import Transport, format_time
from app.workers import (
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
from core.mixer import LaneState

log = logging.getLogger(__name__)

AUDIO_FILTER = ("Audio files (*.wav *.flac *.mp3 *.ogg *.oga *.opus *.aif *.aiff *.m4a *.aac "
                "*.wma *.mp4 *.webm);;All files (*)")
TICK_MS = 33
#: seconds the time axis shows with no song open (the views' initial range)
EMPTY_AXIS_S = 1.0
NO_MODEL_MESSAGE = (
    "No separation model is available yet.\n\nOpen Settings (Edit ▸ Settings…) and pick a model: "
    "download one from the list, or choose a checkpoint file (.safetensors or the authors' .pt).")


class MainWindow(TransportMixin, LanesMixin, PracticeMixin, SeparationMixin, ExportMixin,
                 HelpMixin, MemoryMixin, MetersMixin, LoopsMixin, QMainWindow):
    """Stemweave's window.

    Args:
        settings: persistent settings (tests pass an INI-backed one).
        model_store: a :class:`core.model_store.ModelStore`; the user's default when ``None``.
        cache: the stem cache; the user's cache folder when ``None``.
        audio_device: PortAudio output device for playback (``None``: the one chosen in
            Settings, else the default).

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
        self.settings_dlg: Any = None  # the open Settings dialog
        self.output_note = ""  # said in the status bar when the chosen output is missing
        self.session = Session(self)
        self.pool = WorkerPool(self)
        self.player: Player | None = None
        self.load_worker: LoadWorker | None = None
        #: the load whose song is shown while the rest of the file is still read (dropped if
        #: that read fails)
        self._shown_load: LoadWorker | None = None
        self.sep_worker: SeparationWorker | None = None
        #: "Separate again": (target mixer, envelopes, cache key) filled while the old stems play
        self._replacement: tuple[Any, list, str] | None = None
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
        self.separate_button.setToolTip("Separate the song into the model's stems, e.g. drums, "
                                        "bass, other and vocals (Ctrl+Return)")
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
        #: the column holding the lanes (lanes are added and removed as models change).
        self.lane_column = col
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

        self._build_export_widgets()
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
        # the platform's ZoomIn is Ctrl++ (Shift+= on most layouts); Ctrl+= works too
        self.zoom_in_action.setShortcuts([*QKeySequence.keyBindings(
            QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")])
        self.zoom_out_action = self._action("Zoom &out", QKeySequence.StandardKey.ZoomOut,
                                            lambda: self.zoom(2.0))
        self.zoom_fit_action = self._action("Zoom to &fit", "Ctrl+0", self.zoom_fit)
        self.fit_heights_action = self._action(
            "Fit waveform &heights", "Ctrl+H", lambda: self.set_fit_heights(
                self.fit_heights_action.isChecked()))
        self.fit_heights_action.setCheckable(True)
        self.normalise_spec_action = self._action(
            "&Normalise each spectrogram lane", None, lambda: self.set_spectrogram_normalised(
                self.normalise_spec_action.isChecked()),
            "Off: one dB scale for every lane (a quiet stem looks quiet)")
        self.normalise_spec_action.setCheckable(True)
        #: mute/solo/spectrogram per lane (built with the lanes: :meth:`_build_lane_actions`).
        self.lane_actions: list[QAction] = []

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
                  self.fit_heights_action, self.normalise_spec_action):
            view_menu.addAction(a)
        self.practice_action = self.practice_dock.toggleViewAction()
        self.practice_action.setText("&Practice tools (tempo, pitch, presets)")
        self.practice_action.setShortcut(QKeySequence("Ctrl+P"))
        view_menu.addAction(self.practice_action)
        self.grid.build_actions(view_menu)
        lanes_menu = menu.addMenu("L&anes")
        self.reset_mixer_action = self._action(
            "&Reset mixer", "Ctrl+Shift+0", self.reset_mixer,
            "Every lane back to 0 dB, centre, no mute, no solo")
        lanes_menu.addAction(self.reset_mixer_action)
        lanes_menu.addSeparator()
        self.lanes_menu = lanes_menu
        self._build_lane_actions()
        help_menu = menu.addMenu("&Help")
        self.shortcuts_action = self._action("&Keyboard shortcuts", "F1", self.show_shortcuts)
        self.about_action = self._action("&About Stemweave", None, self.show_about)
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)
        self._rebuild_recent()

        bar = QToolBar("Main")
        bar.setObjectName("main_toolbar")
        bar.setMovable(False)
        bar.addAction(self.open_action)
        bar.addSeparator()
        # the transport comes before the separation controls, whose width changes (progress
        # bar and Cancel shown while separating): the play button never moves under the mouse
        bar.addWidget(self.transport)
        bar.addWidget(self._build_loop_widgets())
        bar.addSeparator()
        bar.addWidget(self.separate_button)
        self.cancel_item = bar.addWidget(self.cancel_button)
        self.progress_item = bar.addWidget(self.progress)
        bar.addWidget(self.eta_label)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        bar.addWidget(self._build_master_widgets())
        play_menu.addSeparator()
        play_menu.addAction(self.limit_action)
        play_menu.addSeparator()
        self.save_loop_action = self._action("&Save loop…", "Ctrl+L", self.save_loop_dialog,
                                             "Keep the loop region under a name")
        self.next_loop_action = self._action("Next saved loop", "]", lambda: self.step_loop(1))
        self.prev_loop_action = self._action("Previous saved loop", "[",
                                             lambda: self.step_loop(-1))
        self.delete_loop_action = self._action("Delete the chosen loop", None,
                                               self.delete_current_loop)
        for a in (self.save_loop_action, self.next_loop_action, self.prev_loop_action,
                  self.delete_loop_action):
            play_menu.addAction(a)
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
            self._wire_lane(lane)
        p = self.practice
        p.tempo_changed.connect(self._set_tempo)
        p.pitch_changed.connect(self._set_pitch)
        p.bpm_changed.connect(self._set_bpm)
        p.metronome_toggled.connect(self._set_metronome)
        p.preset_chosen.connect(self._apply_preset)
        p.preset_saved.connect(self.settings.add_user_preset)
        p.preset_deleted.connect(self.settings.remove_user_preset)
        s.song_opened.connect(self._song_opened)
        s.song_closed.connect(self._song_closed)
        self.grid.analysed.connect(self.remember_song)
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
        """What cached stems are keyed by besides the song (model and post-filter)."""
        try:
            from core.families import read_header, runs_wiener  # (torch: not at start-up)

            path = self.resolve_model()
            filtered = runs_wiener(read_header(path).family)
            return self.settings.stems_identity(model_identity(path), filtered)
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
        self.remember_song()  # the song being left
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
        self._shown_load = worker
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
        self._shown_load = None
        self.last_load_s = song.load_s
        self.lanes[0].view.redraw()
        self.session.identify(song)
        s = self.session
        cached = " (stems loaded from the cache)" if s.stems_complete else ""
        self.statusBar().showMessage(
            f"{song.path.name}: {format_time(s.duration_s)}, {s.sample_rate} Hz, "
            f"{s.mixer.channels} channel(s){cached}"
            + (f"; {self.output_note}" if self.output_note else ""))
        self._update_enabled()
        if self.lanes[0].view.mode == SPECTROGRAM:  # deferred while the file was read
            self._request_spectrogram(0)
        self._tick(force=True)
        restored = self.restore_song()
        grid = self.grid.analysis
        stems = s.stems_complete and self.settings.grid_from_stems
        if not restored or (stems and grid is not None and grid.source != "stems"):
            self.grid.start(use_stems=stems)
        self.song_loaded.emit()
        self.settings.add_recent_file(song.path)
        self.settings.last_open_dir = str(song.path.parent)
        self._rebuild_recent()

    def _load_failed(self, error: BaseException) -> None:
        worker = self.sender()
        if worker is self.load_worker:
            self.load_worker = None
            self._update_enabled()
        if worker is self._shown_load:  # e.g. a NaN in a later block: drop the half-read song
            self._shown_load = None
            self.session.close_song()
        self.statusBar().showMessage("Could not open the file.")
        self.show_error(describe_error(error), "Cannot open the song")

    def _song_opened(self) -> None:
        s = self.session
        assert s.mixer is not None and s.path is not None
        self.player = Player(s.mixer, device=self.output_device())
        self._setup_practice()
        self._apply_master()
        self._reset_song_view()
        self._stems_reset()
        self.lanes[0].view.set_envelope(s.envelopes[0], s.sample_rate)
        self._set_time_axis(s.duration_s)
        for lane in self.lanes:
            if lane.view.mode == SPECTROGRAM:
                self._request_spectrogram(lane.lane)
        self.setWindowTitle(f"{s.path.name} — Stemweave")
        self.statusBar().showMessage(f"{s.path.name}: reading…")
        self._update_enabled()
        self._last_pos = -1.0
        self._tick(force=True)  # the time display shows the new song's length at once

    def _set_time_axis(self, duration_s: float | None) -> None:
        """Show ``0 .. duration_s`` on every linked view and keep zoom and pan inside it;
        ``None``: no song, no limits, the axis the window starts with."""
        views = [self.timeline, *(lane.view for lane in self.lanes)]
        for v in views:
            vb = v.getPlotItem().getViewBox()
            if duration_s is None:
                vb.setLimits(xMin=None, xMax=None, minXRange=None)
            else:
                vb.setLimits(xMin=0.0, xMax=duration_s, minXRange=0.01)
        end = EMPTY_AXIS_S if duration_s is None else duration_s
        self.timeline.getPlotItem().getViewBox().setXRange(0.0, end, padding=0.0)

    def _reset_song_view(self) -> None:
        """Forget the previous song's grid, loops and transport state; one lane per stem of
        the open song's model (the default lanes with none), each showing its mixer state."""
        mixer = self.session.mixer
        self.grid.clear()
        self.set_saved_loops([])
        self.loop_s = (0.0, 0.0)
        self.timeline.set_region(0.0, 0.0)
        self.transport.show_loop(False)
        self.transport.show_playing(False)
        self._sync_lanes()
        for lane in self.lanes:
            lane.show_state(mixer.lanes[lane.lane] if mixer is not None else LaneState())
            lane.view.set_loop(0.0, 0.0, False)
            lane.view.set_spectrogram(None)

    def _song_closed(self) -> None:
        """Back to the window with no song (the open song was dropped)."""
        if self.player is not None:
            self.player.close()
            self.player = None
        self.stretcher = None
        self.metronome = None
        for worker in self.spec_workers.values():
            worker.cancel()
        self._reset_song_view()
        self._set_time_axis(None)
        self.timeline.set_playhead(0.0)
        self.transport.show_time(0.0, 0.0)
        for lane in self.lanes:
            lane.view.set_envelope(None, 0)
            lane.view.set_playhead(0.0)
        self.update_heard()
        self._meter_state.clear()
        self.show_levels_at(0.0)  # every meter at the floor
        self.setWindowTitle("Stemweave")
        self.statusBar().showMessage("Open a song (File ▸ Open, or drop a file here).")
        self._update_enabled()
        self._last_pos = -1.0

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files
        for p in recent:
            action = self.recent_menu.addAction(p)
            action.triggered.connect(lambda *_, p=p: self.open_file(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear…", self.confirm_clear_recent)
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

    # ------------------------------------------------------------------------------ settings
    def settings_dialog(self) -> None:
        """Open the settings dialog (model, devices, export folder; window-modal, kept in
        :attr:`settings_dlg` while open); OK applies the audio output to the player."""
        from app.widgets.settings_dialog import SettingsDialog

        try:
            store = self.model_store
        except StemweaveError as exc:
            self.show_error(str(exc), "Settings")
            return
        dlg = SettingsDialog(self, self.settings, store, outputs=output_devices())
        self.settings_dlg = dlg
        dlg.accepted.connect(self._settings_accepted)
        dlg.finished.connect(lambda *_: setattr(self, "settings_dlg", None))
        dlg.open()

    def output_device(self) -> int | str | None:
        """The playback device: the one given to the window, else the one chosen in Settings
        (``None``, the default output, when that one is not connected; the status bar says so).
        """
        self.output_note = ""
        if self.audio_device is not None:
            return self.audio_device
        name = self.settings.audio_output
        if not name:
            return None
        if name in output_devices():
            return name
        self.output_note = f"the audio output “{name}” is not connected: the default plays"
        return None

    def _settings_accepted(self) -> None:
        if self.player is None:
            return
        device = self.output_device()
        if self.output_note:
            note = self.output_note
            self.statusBar().showMessage(note[0].upper() + note[1:] + ".")
        if device == self.player.device:
            return
        try:
            self.player.set_device(device)
        except PlaybackError as exc:
            self.show_error(str(exc), "Audio output")
        self.transport.show_playing(self.player.playing)

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
        self.remember_song()
        self.timer.stop()
        if self.player is not None:
            self.player.close()
            self.player = None
        self.pool.shutdown()
        self.settings.window_geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        super().closeEvent(event)
