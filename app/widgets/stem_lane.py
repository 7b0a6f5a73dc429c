"""One lane of the window: a control strip (name, volume in dB, mute, solo, pan, view toggle)
beside a :class:`~app.widgets.lane_view.LaneView`.

The controls only emit intents (``gain_changed``, ``mute_toggled``...) carrying the lane index;
:meth:`StemLane.show_state` updates them from the mixer without re-emitting.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.widgets.lane_view import SPECTROGRAM, WAVEFORM, LaneView
from app.widgets.meters import LevelMeter
from core.mixer import LaneState

#: lane colours: mixture, drums, bass, other, vocals.
COLOURS: tuple[str, ...] = ("#b8bcc6", "#f28e2b", "#4e9be6", "#59b14f", "#e8577a")
#: volume slider range in dB; the bottom position means silence (-inf).
MIN_DB = -60
MAX_DB = 12


class PanSlider(QSlider):
    """A horizontal pan slider whose fill runs from the centre to the handle (not from the
    left edge, which would read as "more")."""

    FILL = QColor("#3d7be0")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        pal = self.palette()  # the style's own left-to-handle fill: drawn as the groove
        pal.setColor(QPalette.ColorRole.Highlight, pal.color(QPalette.ColorRole.Mid))
        self.setPalette(pal)

    def fill_span(self) -> tuple[int, int]:
        """Pixel span of the centre fill (x from, x to), for painting and tests."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderHandle, self)
        centre = groove.left() + groove.width() // 2
        return tuple(sorted((centre, handle.center().x())))  # type: ignore[return-value]

    def paintEvent(self, event) -> None:  # noqa: N802, D102, ANN001
        super().paintEvent(event)
        a, b = self.fill_span()
        if b - a < 2:
            return
        p = QPainter(self)
        h = 4
        p.fillRect(a, self.height() // 2 - h // 2, b - a, h, self.FILL)
        p.end()


def format_db(gain_db: float) -> str:
    """Fader value for people: ``-inf dB`` at the bottom."""
    return "-inf dB" if gain_db <= MIN_DB else f"{gain_db:+.1f} dB"


class StemLane(QFrame):
    """Controls and view of one lane.

    Signals:
        gain_changed(lane, gain_db), mute_toggled(lane, on), solo_toggled(lane, on),
        pan_changed(lane, pan), mode_changed(lane, mode), seek_requested(seconds).
    """

    gain_changed = Signal(int, float)
    mute_toggled = Signal(int, bool)
    solo_toggled = Signal(int, bool)
    pan_changed = Signal(int, float)
    mode_changed = Signal(int, str)
    seek_requested = Signal(float)

    def __init__(self, lane: int, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lane = lane
        self.name = name
        colour = COLOURS[lane % len(COLOURS)]
        self.setObjectName(f"lane_{name}")
        self.setFrameShape(QFrame.Shape.NoFrame)

        strip = QWidget()
        strip.setFixedWidth(210)
        strip.setObjectName("laneStrip")
        col = QVBoxLayout(strip)
        col.setContentsMargins(8, 4, 6, 4)
        col.setSpacing(3)

        top = QHBoxLayout()
        self.title = QLabel(name.capitalize())
        self.title.setStyleSheet(
            f"font-weight: 600; color: {colour}; border-left: 4px solid {colour};"
            " padding-left: 5px;")
        if lane == 0:
            self.title.setToolTip("The original mix: heard before separation (and where the "
                                  "stems are not ready yet); afterwards only when soloed")
        top.addWidget(self.title, 1)
        self.mute_button = self._toggle("M", f"Mute {name}")
        self.solo_button = self._toggle("S", f"Solo {name}")
        self.view_button = self._toggle("≋", f"Show {name} as a spectrogram")
        self.mute_button.setObjectName("muteButton")
        self.solo_button.setObjectName("soloButton")
        self.view_button.setObjectName("viewButton")
        for b in (self.mute_button, self.solo_button, self.view_button):
            top.addWidget(b)
        col.addLayout(top)

        vol = QHBoxLayout()
        self.gain_slider = QSlider(Qt.Orientation.Horizontal)
        self.gain_slider.setRange(MIN_DB * 10, MAX_DB * 10)
        self.gain_slider.setValue(0)
        self.gain_slider.setToolTip(f"Volume of {name} (double-click it or its value: 0 dB)")
        self.gain_label = QLabel(format_db(0.0))
        self.gain_label.setFixedWidth(58)
        self.gain_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        vol.addWidget(QLabel("Vol"))
        vol.addWidget(self.gain_slider, 1)
        vol.addWidget(self.gain_label)
        col.addLayout(vol)

        pan = QHBoxLayout()
        self.pan_slider = PanSlider()
        self.pan_slider.setRange(-100, 100)
        self.pan_slider.setValue(0)
        self.pan_slider.setToolTip(f"Pan of {name} (double-click it or its value: centre)")
        self.pan_label = QLabel("C")
        self.pan_label.setFixedWidth(58)
        self.pan_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        pan.addWidget(QLabel("Pan"))
        pan.addWidget(self.pan_slider, 1)
        pan.addWidget(self.pan_label)
        col.addLayout(pan)
        self.meter = LevelMeter()
        self.meter.setToolTip(f"Level of {name} as heard: bar = RMS, line = peak (dBFS)")
        col.addWidget(self.meter)
        col.addStretch(1)

        self.view = LaneView(colour)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(strip)
        row.addWidget(self.view, 1)

        self.gain_slider.valueChanged.connect(self._gain_moved)
        self.pan_slider.valueChanged.connect(self._pan_moved)
        self.mute_button.toggled.connect(lambda on: self.mute_toggled.emit(self.lane, on))
        self.solo_button.toggled.connect(lambda on: self.solo_toggled.emit(self.lane, on))
        self.view_button.toggled.connect(
            lambda on: self.mode_changed.emit(self.lane, SPECTROGRAM if on else WAVEFORM))
        self.view.seek_requested.connect(self.seek_requested)
        for w in (self.gain_slider, self.gain_label, self.pan_slider, self.pan_label):
            w.installEventFilter(self)
        self.gain_label.setToolTip(self.gain_slider.toolTip())
        self.pan_label.setToolTip(self.pan_slider.toolTip())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802, D102
        if event.type() == QEvent.Type.MouseButtonDblClick:
            if obj in (self.gain_slider, self.gain_label):
                self.gain_slider.setValue(0)  # 0 dB (emits gain_changed)
                return True
            if obj in (self.pan_slider, self.pan_label):
                self.pan_slider.setValue(0)  # centre (emits pan_changed)
                return True
        return super().eventFilter(obj, event)

    def set_heard(self, heard: bool) -> None:
        """Dim the lane (name and picture) when it is not heard."""
        self.view.set_dimmed(not heard)
        self.title.setEnabled(heard)

    @staticmethod
    def _toggle(text: str, tip: str) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setCheckable(True)
        b.setToolTip(tip)
        b.setFixedSize(26, 22)
        return b

    def _gain_moved(self, value: int) -> None:
        gain_db = value / 10.0
        db = -200.0 if gain_db <= MIN_DB else gain_db
        self.gain_label.setText(format_db(db))
        self.gain_changed.emit(self.lane, db)

    def _pan_moved(self, value: int) -> None:
        self.pan_label.setText(
            "C" if value == 0 else (f"L{-value}" if value < 0 else f"R{value}"))
        self.pan_changed.emit(self.lane, value / 100.0)

    def show_state(self, state: LaneState) -> None:
        """Show the mixer's state for this lane (without emitting intents)."""
        blockers = [QSignalBlocker(w) for w in (self.gain_slider, self.pan_slider,
                                                self.mute_button, self.solo_button)]
        self.gain_slider.setValue(int(round(max(MIN_DB, min(MAX_DB, state.gain_db)) * 10)))
        self.gain_label.setText(format_db(state.gain_db))
        self.pan_slider.setValue(int(round(state.pan * 100)))
        v = self.pan_slider.value()
        self.pan_label.setText("C" if v == 0 else (f"L{-v}" if v < 0 else f"R{v}"))
        self.mute_button.setChecked(state.mute)
        self.solo_button.setChecked(state.solo)
        del blockers

    def set_mode_checked(self, spectrogram: bool) -> None:
        """Set the view toggle (emits ``mode_changed`` if it changes)."""
        self.view_button.setChecked(spectrogram)
