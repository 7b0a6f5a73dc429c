"""The musical grid's widgets: a ruler axis in bars:beats (or m:ss) and the chord row.

* :class:`MusicalAxis` -- the time ruler's top axis. With an :class:`core.analysis.Analysis`
  and bars mode on, ticks sit on bar lines labelled ``1, 2, 3 ...`` (every 2nd/4th/... bar when
  zoomed out) and, when zoomed in far enough, on beats labelled ``12.2``; otherwise ticks are
  minutes:seconds.
* :class:`ChordRow` -- a thin plot above the ruler, x-linked to it, with the chord symbols at
  their start times (labels that would not fit their span are hidden until you zoom in).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

from app.widgets.lane_view import BACKGROUND

#: a bar-number tick needs this many pixels; beat ticks get labels from this spacing on.
BAR_LABEL_PX = 36
BEAT_LABEL_PX = 38


def format_clock(seconds: float, spacing: float = 1.0) -> str:
    """``m:ss`` (``m:ss.s`` when ticks are closer than a second)."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    m = int(seconds // 60)
    s = seconds - 60 * m
    if spacing < 1.0:
        return f"{sign}{m}:{s:04.1f}"
    return f"{sign}{m}:{int(round(s)) if round(s) < 60 else 59:02d}"


class MusicalAxis(pg.AxisItem):
    """Top axis of the time ruler: bars:beats when a grid is set and bars mode is on."""

    def __init__(self) -> None:
        super().__init__("top")
        self.music = None  # core.analysis.Analysis (AxisItem.grid is pyqtgraph's)
        self.bars_mode = True
        self._beat_labels = False
        self._bar_step = 1

    def set_grid(self, analysis: object | None) -> None:
        """Use ``analysis`` (``None``: no grid, ticks in m:ss)."""
        self.music = analysis
        self._refresh()

    def set_bars_mode(self, on: bool) -> None:
        """Bars:beats (True) or minutes:seconds (False)."""
        self.bars_mode = bool(on)
        self._refresh()

    @property
    def showing_bars(self) -> bool:
        """Whether the ticks are bars:beats now."""
        return bool(self.bars_mode and self.music is not None and self.music.downbeats)

    def _refresh(self) -> None:
        self.picture = None
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803, D102, ANN201
        if not self.showing_bars or maxVal <= minVal or size <= 0:
            return super().tickValues(minVal, maxVal, size)
        g = self.music
        px_per_s = size / (maxVal - minVal)
        beat_px = px_per_s * 60.0 / max(g.tempo_bpm, 1e-3)
        bar_px = beat_px * g.beats_per_bar
        step = 1
        while step * bar_px < BAR_LABEL_PX and step < 4096:
            step *= 2
        self._bar_step = step
        self._beat_labels = beat_px >= BEAT_LABEL_PX
        major, minor = [], []
        for t, bar, beat in g.beats_between(minVal, maxVal):
            if beat == 1 and (bar - 1) % step == 0:
                major.append(t)
            elif beat == 1 or beat_px >= 8:
                minor.append(t)
        bar_s = 60.0 / g.tempo_bpm * g.beats_per_bar
        return [(bar_s * step, major), (bar_s / g.beats_per_bar, minor)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802, D102, ANN001, ANN201
        if not self.showing_bars:
            return [format_clock(v * scale, spacing * scale) for v in values]
        g = self.music
        bar_s = 60.0 / g.tempo_bpm * g.beats_per_bar
        out = []
        major_level = spacing >= bar_s * self._bar_step * 0.99
        for v in values:
            bar, beat, _ = g.bar_beat(v + 1e-6)
            if major_level:
                out.append(str(bar))
            elif self._beat_labels and beat != 1:
                out.append(f"{bar}.{beat}")
            else:
                out.append("")
        return out


class ChordRow(pg.PlotWidget):
    """Chord symbols along the time axis (link its x axis to the ruler's)."""

    def __init__(self, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent=parent, background=BACKGROUND)
        item = self.getPlotItem()
        item.hideButtons()
        item.setMenuEnabled(False)
        for side in ("left", "bottom", "top", "right"):
            item.hideAxis(side)
        item.setContentsMargins(0, 0, 0, 0)
        vb = item.getViewBox()
        vb.setMouseEnabled(x=False, y=False)
        vb.setDefaultPadding(0.0)
        vb.setYRange(0.0, 1.0, padding=0.0)
        self.setFixedHeight(22)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.labels: list[tuple[pg.TextItem, float, float]] = []
        self.marks = pg.PlotCurveItem(pen=pg.mkPen("#5a6270", width=1), connect="pairs")
        self.addItem(self.marks)
        vb.sigXRangeChanged.connect(lambda *_: self._fit_labels())
        vb.sigResized.connect(lambda *_: self._fit_labels())

    def set_chords(self, chords: object | None) -> None:
        """Show ``chords`` (a sequence of :class:`core.analysis.ChordSpan`; ``None`` clears)."""
        for text, _, _ in self.labels:
            self.removeItem(text)
        self.labels = []
        xs: list[float] = []
        for c in chords or ():
            if c.label == "N":
                continue
            text = pg.TextItem(c.label, color="#f0d080", anchor=(0.0, 0.5))
            text.setPos(c.start, 0.5)
            self.addItem(text, ignoreBounds=True)
            self.labels.append((text, c.start, c.end))
            xs += [c.start, c.start]
        ys = [0.0, 1.0] * (len(xs) // 2)
        self.marks.setData(xs, ys, connect="pairs")
        self._fit_labels()

    def visible_labels(self) -> list[str]:
        """The chord symbols shown now (for tests and accessibility)."""
        return [t.toPlainText() for t, _, _ in self.labels if t.isVisible()]

    def _fit_labels(self) -> None:
        vb = self.getPlotItem().getViewBox()
        (x0, x1), _ = vb.viewRange()
        width = max(1.0, vb.width())
        px_per_s = width / max(x1 - x0, 1e-9)
        for text, a, b in self.labels:
            needed = 8 * len(text.toPlainText()) + 6
            start = max(a, x0)  # a chord that began off screen keeps its name at the left edge
            fits = (b - start) * px_per_s >= needed and b > x0 and a <= x1
            text.setVisible(fits)
            if fits:
                text.setPos(start, 0.5)
