"""The time ruler above the lanes: a time axis, the playhead, and the A-B loop region.

The axis counts bars:beats once the song's musical grid is known, else minutes:seconds
(:class:`app.widgets.grid_ruler.MusicalAxis`, reachable as ``Timeline.axis``).

Dragging on the ruler draws a new loop region; the region's edges can then be dragged. A click
(without dragging) seeks. Intents: ``loop_changed(start_s, end_s)`` when a drag ends,
``seek_requested(seconds)`` on a click.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from app.widgets.grid_ruler import MusicalAxis
from app.widgets.lane_view import BACKGROUND


class _RulerViewBox(pg.ViewBox):
    """A ViewBox where a left-drag draws a region instead of panning."""

    def __init__(self, ruler: Timeline) -> None:
        super().__init__(enableMenu=False)
        self._ruler = ruler
        self._anchor: float | None = None

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: ANN001, N802
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        x = self.mapSceneToView(ev.scenePos()).x()
        if ev.isStart():
            self._anchor = self.mapSceneToView(ev.buttonDownScenePos()).x()
        if self._anchor is None:
            return
        self._ruler.set_region(self._anchor, x)
        if ev.isFinish():
            self._anchor = None
            self._ruler.region_dragged()

    def mouseClickEvent(self, ev) -> None:  # noqa: ANN001, N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._ruler.seek_requested.emit(max(0.0, self.mapSceneToView(ev.scenePos()).x()))
        else:
            super().mouseClickEvent(ev)


class Timeline(pg.PlotWidget):
    """Time ruler with the loop region.

    Signals:
        loop_changed(start_s, end_s): the user drew or moved the loop region.
        seek_requested(seconds): the user clicked on the ruler.
    """

    loop_changed = Signal(float, float)
    seek_requested = Signal(float)

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        self._vb = _RulerViewBox(self)
        self.axis = MusicalAxis()
        super().__init__(parent=parent, background=BACKGROUND, viewBox=self._vb,
                         axisItems={"top": self.axis})
        item = self.getPlotItem()
        item.hideButtons()
        item.setMenuEnabled(False)
        item.hideAxis("left")
        item.showAxis("top")
        item.hideAxis("bottom")
        self.axis.enableAutoSIPrefix(False)
        self._vb.setMouseEnabled(x=True, y=False)
        self._vb.setYRange(0, 1, padding=0)
        self.setFixedHeight(46)
        self.region = pg.LinearRegionItem(
            values=(0, 0), brush=pg.mkBrush(255, 214, 102, 70),
            pen=pg.mkPen("#ffd666", width=2), hoverBrush=pg.mkBrush(255, 214, 102, 110))
        self.region.setVisible(False)
        self.addItem(self.region, ignoreBounds=True)
        self.region.sigRegionChangeFinished.connect(lambda *_: self.region_dragged())
        self.playhead = pg.InfiniteLine(pos=0.0, angle=90, movable=False,
                                        pen=pg.mkPen("#ffffff", width=2))
        self.addItem(self.playhead, ignoreBounds=True)

    def set_region(self, start_s: float, end_s: float) -> None:
        """Show the loop region (no signal)."""
        a, b = sorted((max(0.0, start_s), max(0.0, end_s)))
        self.region.blockSignals(True)
        self.region.setRegion((a, b))
        self.region.blockSignals(False)
        self.region.setVisible(b > a)

    def region_dragged(self) -> None:
        """Emit ``loop_changed`` for the region as it is now."""
        a, b = self.region.getRegion()
        self.loop_changed.emit(float(a), float(b))

    def set_playhead(self, seconds: float) -> None:
        """Move the ruler's playhead."""
        self.playhead.setPos(seconds)
