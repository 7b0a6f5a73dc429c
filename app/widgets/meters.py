"""Level meters: a thin horizontal bar per lane and for the master (RMS fill, peak line).

The widget only shows levels it is given (:meth:`LevelMeter.set_levels`); the window computes
them (app/features/meters.py). Scale: -60 to +6 dBFS; above -1 dBFS the peak is drawn red.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DB = -60.0
TOP_DB = 6.0
HOT_DB = -1.0


class LevelMeter(QWidget):
    """A horizontal peak/RMS meter."""

    def __init__(self, parent: QWidget | None = None, *, height: int = 6) -> None:
        super().__init__(parent)
        self.peak_db = FLOOR_DB
        self.rms_db = FLOOR_DB
        self.clipped = False
        self.setFixedHeight(height)
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Level: bar = RMS, line = peak (dBFS); red above -1 dBFS")

    def sizeHint(self) -> QSize:  # noqa: N802, D102
        return QSize(120, self.height())

    def set_levels(self, peak_db: float, rms_db: float, clipped: bool = False) -> None:
        """Show a peak and an RMS level in dBFS (clipped: the peak reached full scale)."""
        self.peak_db = max(FLOOR_DB, min(TOP_DB, float(peak_db)))
        self.rms_db = max(FLOOR_DB, min(TOP_DB, float(rms_db)))
        self.clipped = bool(clipped)
        self.update()

    @staticmethod
    def fraction(db: float) -> float:
        """Position of ``db`` along the meter (0..1)."""
        return (max(FLOOR_DB, min(TOP_DB, db)) - FLOOR_DB) / (TOP_DB - FLOOR_DB)

    def paintEvent(self, _event) -> None:  # noqa: N802, D102, ANN001
        p = QPainter(self)
        w, h = self.width(), self.height()
        p.fillRect(0, 0, w, h, QColor("#0e0f12"))
        rms_w = self.fraction(self.rms_db) * w
        hot = self.peak_db > HOT_DB
        p.fillRect(QRectF(0, 0, rms_w, h), QColor("#d0a030" if hot else "#3fae5a"))
        x = self.fraction(self.peak_db) * w
        p.fillRect(QRectF(max(0.0, x - 1.5), 0, 2.0, h),
                   QColor("#ff4040" if hot or self.clipped else "#e8e8e8"))
        zero = self.fraction(0.0) * w
        p.fillRect(QRectF(zero, 0, 1.0, h), QColor("#6a6f7a"))
        p.end()

