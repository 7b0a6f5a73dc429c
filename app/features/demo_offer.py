"""First start: offer the generated demo song, one click to open it.

When the app starts with no song to open and no recent songs, a small bar in the status bar
says so and holds one button that opens the shipped demo song (``resources/demo``). The bar
goes away as soon as any song is opened, or when closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from core.resources import demo_song_path


class DemoOffer(QWidget):
    """The offer: a label, "Open demo song" and a close button. Emits ``open_requested``."""

    open_requested = Signal(str)

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("New here? Try a generated 30-s song:"))
        self.button = QPushButton("Open demo song")
        self.button.setToolTip(str(path))
        self.button.clicked.connect(lambda: self.open_requested.emit(str(self.path)))
        row.addWidget(self.button)
        self.close_button = QToolButton()
        self.close_button.setText("×")
        self.close_button.setToolTip("Hide this offer")
        self.close_button.clicked.connect(self.dismiss)
        row.addWidget(self.close_button)

    def dismiss(self) -> None:
        """Remove the offer from the window."""
        self.hide()
        self.deleteLater()


def offer_demo(window: Any, demo: Path | None = None) -> DemoOffer | None:
    """Show the demo offer in ``window``'s status bar on a first start.

    Args:
        window: the main window (its ``settings``, ``open_file``, ``song_loaded``).
        demo: the demo song (default: the shipped one).

    Returns:
        the offer, or ``None`` when there are recent songs, a song is open or no demo exists.
    """
    path = demo_song_path() if demo is None else Path(demo)
    if window.settings.recent_files or window.session.is_open or not path.is_file():
        return None
    offer = DemoOffer(path)
    offer.open_requested.connect(window.open_file)
    window.song_loaded.connect(offer.dismiss)
    window.statusBar().addPermanentWidget(offer)
    offer.show()
    return offer
