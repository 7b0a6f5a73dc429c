"""Transport controls: play/pause, stop, loop toggle and the current time."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStyle, QToolButton, QWidget


def format_time(seconds: float) -> str:
    """``m:ss.s``."""
    seconds = max(0.0, seconds)
    minutes = int(seconds // 60)
    return f"{minutes}:{seconds - 60 * minutes:04.1f}"


class Transport(QWidget):
    """Play/pause, stop and loop buttons and a time display.

    Signals:
        play_clicked(), stop_clicked(), loop_toggled(on).
    """

    play_clicked = Signal()
    stop_clicked = Signal()
    loop_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        self._play_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = style.standardIcon(QStyle.StandardPixmap.SP_MediaPause)
        self.play_button = QToolButton()
        self.play_button.setIcon(self._play_icon)
        self.play_button.setToolTip("Play / pause (Space)")
        self.stop_button = QToolButton()
        self.stop_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        self.stop_button.setToolTip("Stop (return to start)")
        self.loop_button = QToolButton()
        self.loop_button.setText("Loop")
        self.loop_button.setCheckable(True)
        self.loop_button.setObjectName("loopButton")
        self.loop_button.setToolTip("Loop the region dragged on the ruler (L)")
        self.time_label = QLabel("0:00.0 / 0:00.0")
        self.time_label.setMinimumWidth(120)
        self.time_label.setStyleSheet("font-family: monospace; font-size: 13px;")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        for w in (self.play_button, self.stop_button, self.loop_button, self.time_label):
            row.addWidget(w)
        self.play_button.clicked.connect(self.play_clicked)
        self.stop_button.clicked.connect(self.stop_clicked)
        self.loop_button.toggled.connect(self.loop_toggled)

    def show_playing(self, playing: bool) -> None:
        """Show the play or the pause icon."""
        self.play_button.setIcon(self._pause_icon if playing else self._play_icon)

    def show_loop(self, on: bool) -> None:
        """Reflect the loop state without emitting."""
        blocker = QSignalBlocker(self.loop_button)
        self.loop_button.setChecked(on)
        del blocker

    def show_time(self, position_s: float, duration_s: float) -> None:
        """Update the time display."""
        self.time_label.setText(f"{format_time(position_s)} / {format_time(duration_s)}")
