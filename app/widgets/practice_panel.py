"""Practice panel: tempo and pitch controls, tap tempo, count-in, metronome and mix presets.

The panel holds no audio and touches no settings: it emits intents and the window wires them to
the player (:class:`core.practice.TempoPitch`, :class:`core.practice.Metronome`), the mixer
(:func:`core.practice.apply_preset`) and the settings store (user presets as dicts). See
``docs/practice.md`` for the wiring.

Signals:
    tempo_changed(ratio): 0.5-1.5, source seconds per output second.
    pitch_changed(semitones): -6..+6.
    bpm_changed(bpm): the song's BPM, typed or tapped.
    count_in_changed(bars): 0 = no count-in.
    metronome_toggled(on).
    preset_chosen(preset): a :class:`core.practice.Preset` to apply (its tempo and pitch, when
        set, have already been shown and emitted by the panel).
    preset_saved(data): a user preset as a JSON-friendly dict (:meth:`Preset.to_dict`) to store.
    preset_deleted(name): a user preset the user removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.config import STEMS
from core.practice import (
    BPM_MAX,
    BPM_MIN,
    PracticeError,
    Preset,
    TapTempo,
    builtin_presets,
)

log = logging.getLogger(__name__)

#: tempo range offered, in percent.
TEMPO_PERCENT_MIN, TEMPO_PERCENT_MAX = 50, 150
#: pitch range offered, in semitones.
PITCH_MIN, PITCH_MAX = -6, 6
#: count-in choices (bars).
COUNT_IN_CHOICES: tuple[int, ...] = (0, 1, 2, 4)


class PracticePanel(QWidget):
    """Tempo, pitch, tap tempo, count-in, metronome and preset controls (see module doc)."""

    tempo_changed = Signal(float)
    pitch_changed = Signal(float)
    bpm_changed = Signal(float)
    count_in_changed = Signal(int)
    metronome_toggled = Signal(bool)
    preset_chosen = Signal(object)
    preset_saved = Signal(dict)
    preset_deleted = Signal(str)

    def __init__(self, stems: Sequence[str] = STEMS, parent: QWidget | None = None, *,
                 capture: Callable[[str], Preset] | None = None, bpm: float = 120.0) -> None:
        super().__init__(parent)
        self.setObjectName("practice_panel")
        self._capture = capture
        self._tapper = TapTempo()
        self._user: list[Preset] = []
        self._stems: tuple[str, ...] = tuple(stems)

        # tempo
        self.tempo_slider = QSlider(Qt.Orientation.Horizontal)
        self.tempo_slider.setRange(TEMPO_PERCENT_MIN, TEMPO_PERCENT_MAX)
        self.tempo_slider.setValue(100)
        self.tempo_slider.setPageStep(5)
        self.tempo_slider.setToolTip("Playback speed; the pitch stays the same")
        self.tempo_spin = QSpinBox()
        self.tempo_spin.setRange(TEMPO_PERCENT_MIN, TEMPO_PERCENT_MAX)
        self.tempo_spin.setSuffix(" %")
        self.tempo_spin.setValue(100)
        self.tempo_reset = QToolButton()
        self.tempo_reset.setText("100 %")
        self.tempo_reset.setToolTip("Original speed")

        # pitch
        self.pitch_slider = QSlider(Qt.Orientation.Horizontal)
        self.pitch_slider.setRange(PITCH_MIN, PITCH_MAX)
        self.pitch_slider.setValue(0)
        self.pitch_slider.setPageStep(1)
        self.pitch_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.pitch_slider.setToolTip("Transpose in semitones; the speed stays the same")
        self.pitch_spin = QSpinBox()
        self.pitch_spin.setRange(PITCH_MIN, PITCH_MAX)
        self.pitch_spin.setSuffix(" st")
        self.pitch_spin.setValue(0)
        self.pitch_reset = QToolButton()
        self.pitch_reset.setText("0 st")
        self.pitch_reset.setToolTip("Original key")

        # BPM, tap, count-in, metronome
        self.bpm_spin = QDoubleSpinBox()
        self.bpm_spin.setRange(BPM_MIN, BPM_MAX)
        self.bpm_spin.setDecimals(1)
        self.bpm_spin.setSuffix(" BPM")
        self.bpm_spin.setValue(float(bpm))
        self.bpm_spin.setToolTip("The song's tempo (type it or tap it)")
        self.tap_button = QPushButton("Tap")
        self.tap_button.setToolTip("Tap along with the song at least twice to set its BPM")
        self.heard_label = QLabel()
        self.heard_label.setToolTip("Tempo as heard at the current speed")
        self.count_in_combo = QComboBox()
        for bars in COUNT_IN_CHOICES:
            self.count_in_combo.addItem("No count-in" if bars == 0 else
                                        f"Count-in {bars} bar{'s' if bars > 1 else ''}", bars)
        self.metronome_check = QCheckBox("Metronome")

        # presets
        self._preset_row = QHBoxLayout()
        self._user_row = QHBoxLayout()
        self.preset_buttons: dict[str, QToolButton] = {}
        self.user_buttons: dict[str, QToolButton] = {}
        self.preset_name = QLineEdit()
        self.preset_name.setPlaceholderText("Preset name")
        self.save_button = QPushButton("Save preset")
        self.save_button.setToolTip("Save the current mix (and speed and key) as a preset")
        self.save_button.setEnabled(capture is not None)

        grid = QGridLayout()
        grid.addWidget(QLabel("Tempo"), 0, 0)
        grid.addWidget(self.tempo_slider, 0, 1)
        grid.addWidget(self.tempo_spin, 0, 2)
        grid.addWidget(self.tempo_reset, 0, 3)
        grid.addWidget(QLabel("Pitch"), 1, 0)
        grid.addWidget(self.pitch_slider, 1, 1)
        grid.addWidget(self.pitch_spin, 1, 2)
        grid.addWidget(self.pitch_reset, 1, 3)
        beat_row = QHBoxLayout()
        for w in (self.bpm_spin, self.tap_button, self.heard_label, self.count_in_combo,
                  self.metronome_check):
            beat_row.addWidget(w)
        beat_row.addStretch(1)
        save_row = QHBoxLayout()
        save_row.addWidget(self.preset_name, 1)
        save_row.addWidget(self.save_button)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addLayout(grid)
        col.addLayout(beat_row)
        col.addLayout(self._preset_row)
        col.addLayout(self._user_row)
        col.addLayout(save_row)

        self.tempo_slider.valueChanged.connect(self._on_tempo)
        self.tempo_spin.valueChanged.connect(self._on_tempo)
        self.tempo_reset.clicked.connect(lambda: self._on_tempo(100))
        self.pitch_slider.valueChanged.connect(self._on_pitch)
        self.pitch_spin.valueChanged.connect(self._on_pitch)
        self.pitch_reset.clicked.connect(lambda: self._on_pitch(0))
        self.bpm_spin.valueChanged.connect(self._on_bpm)
        self.tap_button.clicked.connect(lambda: self.tap())
        self.count_in_combo.currentIndexChanged.connect(
            lambda i: self.count_in_changed.emit(int(self.count_in_combo.itemData(i))))
        self.metronome_check.toggled.connect(self.metronome_toggled)
        self.save_button.clicked.connect(self._on_save)
        self.preset_name.returnPressed.connect(self._on_save)
        self.set_stems(self._stems)
        self._show_heard()
        # Space (play/pause) and L (loop) stay the window's shortcuts while a number box, slider
        # or button of the panel has the keyboard focus (only the preset name takes text)
        self._pass_keys = _PassWindowKeys(self)
        for w in (self.tempo_slider, self.tempo_spin, self.pitch_slider, self.pitch_spin,
                  self.bpm_spin, self.count_in_combo, self.metronome_check, self.tap_button,
                  self.save_button, self.tempo_reset, self.pitch_reset):
            w.installEventFilter(self._pass_keys)
            line = getattr(w, "lineEdit", None)
            if callable(line) and line() is not None:
                line().installEventFilter(self._pass_keys)

    # -- state ---------------------------------------------------------------------------------
    @property
    def tempo(self) -> float:
        """Tempo ratio shown (0.5-1.5)."""
        return self.tempo_spin.value() / 100.0

    @property
    def semitones(self) -> float:
        """Pitch shift shown."""
        return float(self.pitch_spin.value())

    @property
    def bpm(self) -> float:
        """The song's BPM shown."""
        return float(self.bpm_spin.value())

    @property
    def heard_bpm(self) -> float:
        """BPM as heard: the song's BPM times the tempo (use it for the count-in)."""
        return self.bpm * self.tempo

    @property
    def count_in_bars(self) -> int:
        """Bars of count-in chosen (0 = none)."""
        return int(self.count_in_combo.currentData())

    @property
    def metronome_on(self) -> bool:
        """Whether the metronome is switched on."""
        return self.metronome_check.isChecked()

    def user_presets(self) -> list[Preset]:
        """The user presets shown, in order."""
        return list(self._user)

    # -- showing state without emitting -----------------------------------------------------
    def show_tempo(self, ratio: float) -> None:
        """Show a tempo ratio (clamped to 0.5-1.5) without emitting."""
        value = int(round(min(TEMPO_PERCENT_MAX, max(TEMPO_PERCENT_MIN, ratio * 100))))
        with _blocked(self.tempo_slider, self.tempo_spin):
            self.tempo_slider.setValue(value)
            self.tempo_spin.setValue(value)
        self._show_heard()

    def show_pitch(self, semitones: float) -> None:
        """Show a pitch shift (rounded, clamped to -6..+6) without emitting."""
        value = int(round(min(PITCH_MAX, max(PITCH_MIN, semitones))))
        with _blocked(self.pitch_slider, self.pitch_spin):
            self.pitch_slider.setValue(value)
            self.pitch_spin.setValue(value)

    def show_bpm(self, bpm: float) -> None:
        """Show the song's BPM without emitting."""
        with _blocked(self.bpm_spin):
            self.bpm_spin.setValue(float(bpm))
        self._show_heard()

    def set_capture(self, capture: Callable[[str], Preset] | None) -> None:
        """Set how "Save preset" reads the current mix: ``capture(name) -> Preset`` (e.g.
        ``lambda name: capture_preset(name, mixer, tempo=..., semitones=...)``)."""
        self._capture = capture
        self.save_button.setEnabled(capture is not None)

    def set_stems(self, stems: Iterable[str]) -> None:
        """Rebuild the built-in preset buttons for these stems."""
        self._stems = tuple(stems)
        _clear(self._preset_row)
        self.preset_buttons = {}
        self._preset_row.addWidget(QLabel("Presets"))
        for preset in builtin_presets(self._stems):
            button = QToolButton()
            button.setText(preset.name)
            button.setObjectName(f"preset_{preset.name.replace(' ', '_')}")
            button.setToolTip(_describe(preset))
            button.clicked.connect(lambda _=False, p=preset: self.choose(p))
            self._preset_row.addWidget(button)
            self.preset_buttons[preset.name] = button
        self._preset_row.addStretch(1)

    def set_user_presets(self, presets: Iterable[dict[str, Any] | Preset]) -> list[str]:
        """Show saved user presets (dicts from :meth:`Preset.to_dict` or presets).

        Returns:
            messages for entries that were skipped because they are malformed.
        """
        self._user = []
        problems = []
        for item in presets:
            try:
                p = item if isinstance(item, Preset) else Preset.from_dict(item)
            except PracticeError as exc:
                log.warning("skipping a saved preset: %s", exc)
                problems.append(str(exc))
                continue
            self._user = [u for u in self._user if u.name != p.name] + [p]
        self._rebuild_user()
        return problems

    # -- actions ---------------------------------------------------------------------------------
    def tap(self, t: float | None = None) -> float | None:
        """Register a tap (``t`` in seconds, monotonic clock; now when omitted).

        From the second tap on, the BPM estimate is shown and ``bpm_changed`` emitted.
        """
        bpm = self._tapper.tap(t)
        if bpm is not None:
            self.bpm_spin.setValue(bpm)  # emits bpm_changed through _on_bpm
        return bpm

    def choose(self, preset: Preset) -> None:
        """Apply a preset: show and emit its tempo/pitch when it has them, then emit it."""
        if preset.tempo is not None:
            self.show_tempo(preset.tempo)
            self.tempo_changed.emit(self.tempo)
        if preset.semitones is not None:
            self.show_pitch(preset.semitones)
            self.pitch_changed.emit(self.semitones)
        self.preset_chosen.emit(preset)

    def save_preset(self, name: str) -> Preset | None:
        """Capture the current mix as a user preset called ``name``, show it and emit
        ``preset_saved``; a preset of the same name is replaced. Returns it (``None`` when no
        capture function is set or the name is empty or taken by a built-in preset)."""
        name = name.strip()
        if self._capture is None or not name:
            return None
        if name in self.preset_buttons:
            self.preset_name.setToolTip(f"{name!r} is a built-in preset; choose another name")
            return None
        preset = self._capture(name)
        self._user = [u for u in self._user if u.name != preset.name] + [preset]
        self._rebuild_user()
        self.preset_saved.emit(preset.to_dict())
        return preset

    def delete_preset(self, name: str) -> bool:
        """Remove a user preset and emit ``preset_deleted``; false if there is none."""
        before = len(self._user)
        self._user = [u for u in self._user if u.name != name]
        if len(self._user) == before:
            return False
        self._rebuild_user()
        self.preset_deleted.emit(name)
        return True

    # -- internals -------------------------------------------------------------------------------
    def _on_tempo(self, percent: int) -> None:
        with _blocked(self.tempo_slider, self.tempo_spin):
            self.tempo_slider.setValue(percent)
            self.tempo_spin.setValue(percent)
        self._show_heard()
        self.tempo_changed.emit(percent / 100.0)

    def _on_pitch(self, semitones: int) -> None:
        with _blocked(self.pitch_slider, self.pitch_spin):
            self.pitch_slider.setValue(semitones)
            self.pitch_spin.setValue(semitones)
        self.pitch_changed.emit(float(semitones))

    def _on_bpm(self, bpm: float) -> None:
        self._show_heard()
        self.bpm_changed.emit(float(bpm))

    def _on_save(self) -> None:
        if self.save_preset(self.preset_name.text()) is not None:
            self.preset_name.clear()

    def _show_heard(self) -> None:
        self.heard_label.setText(f"= {self.heard_bpm:.1f} BPM heard")

    def _rebuild_user(self) -> None:
        _clear(self._user_row)
        self.user_buttons = {}
        if not self._user:
            return
        self._user_row.addWidget(QLabel("Mine"))
        for preset in self._user:
            button = QToolButton()
            button.setText(preset.name)
            button.setToolTip(_describe(preset) + "\n(right-click to delete)")
            button.clicked.connect(lambda _=False, p=preset: self.choose(p))
            button.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            button.customContextMenuRequested.connect(
                lambda pos, b=button, n=preset.name: self._user_menu(b, n, pos))
            self._user_row.addWidget(button)
            self.user_buttons[preset.name] = button
        self._user_row.addStretch(1)

    def _user_menu(self, button: QToolButton, name: str, pos: Any) -> None:
        menu = QMenu(button)
        action = menu.addAction(f"Delete {name!r}")
        if menu.exec(button.mapToGlobal(pos)) is action:
            self.delete_preset(name)


class _PassWindowKeys(QObject):
    """Event filter: a focused widget does not claim Space or L, so the window's shortcuts for
    them (play/pause, loop) fire instead of the key being typed into a number box."""

    KEYS = (Qt.Key.Key_Space, Qt.Key.Key_L)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802, D102
        if event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            if (event.key() in self.KEYS
                    and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
                # ShortcutOverride left unaccepted: the shortcut map triggers the window action;
                # a KeyPress that still arrives is dropped rather than typed
                return True
        return super().eventFilter(obj, event)


class _blocked:
    """Context manager blocking the signals of some widgets."""

    def __init__(self, *widgets: QWidget) -> None:
        self._widgets = widgets
        self._blockers: list[QSignalBlocker] = []

    def __enter__(self) -> None:
        self._blockers = [QSignalBlocker(w) for w in self._widgets]

    def __exit__(self, *exc: object) -> None:
        for b in self._blockers:
            b.unblock()
        self._blockers = []


def _clear(layout: QHBoxLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        widget = item.widget()
        if widget is not None:
            widget.deleteLater()


def _describe(preset: Preset) -> str:
    off = [n for n, s in preset.lanes.items() if s.mute]
    solo = [n for n, s in preset.lanes.items() if s.solo]
    parts = []
    if off:
        parts.append("off: " + ", ".join(off))
    if solo:
        parts.append("solo: " + ", ".join(solo))
    changed = [f"{n} {s.gain_db:+.1f} dB" for n, s in preset.lanes.items()
               if s.gain_db != 0.0 and not s.mute]
    if changed:
        parts.append(", ".join(changed))
    if preset.tempo is not None:
        parts.append(f"tempo {preset.tempo * 100:.0f} %")
    if preset.semitones is not None:
        parts.append(f"pitch {preset.semitones:+g} st")
    return "; ".join(parts) or "all stems at 0 dB"
