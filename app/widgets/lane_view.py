"""One lane's picture: a min/max waveform or a log-frequency spectrogram, with the playhead.

The x axis is time in seconds and is linked across lanes by the window. The waveform is redrawn
from an :class:`core.display.EnvelopePyramid` at about one min/max pair per pixel whenever the
visible range changes, so a 10-minute song costs the same as a short one. A left click emits
``seek_requested(seconds)``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor

from core.display import EnvelopePyramid, Spectrogram

WAVEFORM = "waveform"
SPECTROGRAM = "spectrogram"
BACKGROUND = "#16181d"
#: dB range of the spectrogram colours shared by all lanes (0 dB = a full-scale sine), so a
#: quiet stem looks quiet; per-lane normalisation shows each lane's top 75 dB instead.
SHARED_DB = (-80.0, 0.0)
NORMALISED_RANGE_DB = 75.0


def note_label(midi: int) -> str:
    """``"C4 262 Hz"`` for MIDI note 60 (C notes label the spectrogram's frequency axis)."""
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    f = 440.0 * 2 ** ((midi - 69) / 12)
    hz = f"{f / 1000:.1f}k" if f >= 1000 else f"{f:.0f}"
    return f"{names[midi % 12]}{midi // 12 - 1} {hz} Hz"


class LaneView(pg.PlotWidget):
    """A plot showing one lane's audio.

    Signals:
        seek_requested(seconds): the user clicked at that time.
    """

    seek_requested = Signal(float)

    def __init__(self, colour: str, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent=parent, background=BACKGROUND)
        self.colour = QColor(colour)
        self.mode = WAVEFORM
        self.envelope: EnvelopePyramid | None = None
        self.sample_rate = 0
        self.duration_s = 0.0
        self.points_drawn = 0
        self.fit_height = False
        self.dimmed = False
        self.normalise = False
        self.spectrogram: Spectrogram | None = None
        self.freq_labels: list[tuple[pg.TextItem, float]] = []
        item = self.getPlotItem()
        item.hideButtons()
        item.setMenuEnabled(False)
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setContentsMargins(0, 0, 0, 0)
        vb = item.getViewBox()
        vb.setMouseEnabled(x=True, y=False)
        vb.setDefaultPadding(0.0)
        self.setMinimumHeight(60)
        # vertical min-max bars drawn as separate line segments (QPainter.drawLines): far
        # cheaper to paint than one long zig-zag path
        self.curve = pg.PlotCurveItem(pen=pg.mkPen(self.colour, width=1), antialias=False,
                                      skipFiniteCheck=True)
        self.curve.setSegmentedLineMode("on")
        self.addItem(self.curve)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(pg.colormap.get("inferno").getLookupTable(nPts=256))
        self.image.setVisible(False)
        self.addItem(self.image)
        self.message = pg.TextItem("", color="#cccccc", anchor=(0.5, 0.5))
        self.message.setVisible(False)
        self.addItem(self.message, ignoreBounds=True)
        self.loop_region = pg.LinearRegionItem(
            values=(0, 0), movable=False, brush=pg.mkBrush(255, 255, 255, 28),
            pen=pg.mkPen(None))
        self.loop_region.setZValue(-5)
        self.loop_region.setVisible(False)
        self.addItem(self.loop_region, ignoreBounds=True)
        self.playhead = pg.InfiniteLine(pos=0.0, angle=90, movable=False,
                                        pen=pg.mkPen("#ffffff", width=1))
        self.playhead.setZValue(10)
        self.addItem(self.playhead, ignoreBounds=True)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self.redraw)
        vb.sigXRangeChanged.connect(lambda *_: self._redraw_timer.start())
        vb.sigXRangeChanged.connect(lambda *_: self._place_freq_labels())
        vb.sigResized.connect(lambda *_: self._place_freq_labels())
        vb.sigResized.connect(lambda *_: self._redraw_timer.start())
        self.scene().sigMouseClicked.connect(self._clicked)
        self._set_y_waveform()

    # -- content -------------------------------------------------------------------------------
    def set_envelope(self, envelope: EnvelopePyramid | None, sample_rate: int) -> None:
        """Show ``envelope`` (``None`` clears the lane)."""
        self.envelope = envelope
        self.sample_rate = int(sample_rate)
        if envelope is not None:
            self.duration_s = envelope.frames / max(1, sample_rate)
        if self.mode == WAVEFORM:
            self._set_y_waveform()
        self.redraw()

    def set_mode(self, mode: str) -> None:
        """``"waveform"`` or ``"spectrogram"``."""
        self.mode = mode
        # the loop shading goes over a spectrogram (an opaque image), under a waveform
        self.loop_region.setZValue(5 if mode == SPECTROGRAM else -5)
        self.curve.setVisible(mode == WAVEFORM)
        self.image.setVisible(mode == SPECTROGRAM and self.image.image is not None)
        self._place_freq_labels()
        if mode == WAVEFORM:
            self._set_y_waveform()
            self.show_message("")
        self.redraw()

    def set_spectrogram(self, spec: Spectrogram | None) -> None:
        """Show ``spec`` in spectrogram mode (``None`` clears it)."""
        self.spectrogram = spec
        for text, _ in self.freq_labels:
            self.removeItem(text)
        self.freq_labels = []
        if spec is None:
            self.image.clear()
            self.image.setVisible(False)
            return
        bands, columns = spec.db.shape
        self.image.setImage(spec.db, autoLevels=False, levels=self.spectrogram_levels())
        # frequency axis: C notes at their band's height, drawn inside the view (an axis would
        # take width and break the lanes' shared time axis)
        log_f = np.log(np.maximum(spec.freqs, 1e-3))
        for midi in range(24, 121, 12):  # C1 .. C9
            f = 440.0 * 2 ** ((midi - 69) / 12)
            if not spec.freqs[0] <= f <= spec.freqs[-1]:
                continue
            y = (float(np.interp(np.log(f), log_f, np.arange(bands))) + 0.5) / bands
            text = pg.TextItem(note_label(midi), color=(230, 230, 230, 170), anchor=(0.0, 0.5))
            text.setZValue(8)
            self.addItem(text, ignoreBounds=True)
            self.freq_labels.append((text, y))
        width_s = columns * spec.hop / spec.sample_rate
        self.image.setRect(QRectF(0.0, 0.0, width_s, 1.0))
        self.image.setVisible(self.mode == SPECTROGRAM)
        self._place_freq_labels()
        if self.mode == SPECTROGRAM:
            self.show_message("")
            self.getPlotItem().getViewBox().setYRange(0.0, 1.0, padding=0.0)

    def spectrogram_levels(self) -> tuple[float, float]:
        """Colour range (dB) of the spectrogram: shared by all lanes, or this lane's own."""
        spec = self.spectrogram
        if spec is None or not self.normalise:
            return SHARED_DB
        top = float(spec.db.max())
        return max(spec.floor_db, top - NORMALISED_RANGE_DB), top

    def set_normalise(self, on: bool) -> None:
        """Colour each lane's spectrogram by its own range (on) or the shared dB scale (off)."""
        self.normalise = bool(on)
        if self.spectrogram is not None:
            self.image.setLevels(self.spectrogram_levels())

    def _place_freq_labels(self) -> None:
        visible = self.mode == SPECTROGRAM and self.image.isVisible()
        vb = self.getPlotItem().getViewBox()
        x0 = vb.viewRange()[0][0]
        # every other octave when the lane is too short for one label per octave
        ys = [y for _, y in self.freq_labels]
        gap_px = (ys[1] - ys[0]) * vb.height() if len(ys) > 1 else 100.0
        every = 1 if gap_px >= 15 else 2
        for i, (text, y) in enumerate(self.freq_labels):
            text.setVisible(visible and (len(ys) - 1 - i) % every == 0)
            text.setPos(x0, y)

    def show_message(self, text: str) -> None:
        """A centred note over the lane (e.g. "computing spectrogram…"); ``""`` hides it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        if text:
            vb = self.getPlotItem().getViewBox()
            (x0, x1), (y0, y1) = vb.viewRange()
            self.message.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    def set_fit_height(self, on: bool) -> None:
        """Scale the waveform to its own peak instead of full scale."""
        self.fit_height = on
        if self.mode == WAVEFORM:
            self._set_y_waveform()

    def _set_y_waveform(self) -> None:
        peak = 1.0
        if self.fit_height and self.envelope is not None:
            mins, maxs = self.envelope.levels[-1]
            if mins.size:
                peak = max(1e-4, float(max(-mins.min(), maxs.max())))
        self.getPlotItem().getViewBox().setYRange(-peak, peak, padding=0.02)

    def redraw(self) -> None:
        """Redraw the waveform for the visible range at about one point per pixel."""
        if self.mode != WAVEFORM:
            if self.mode == SPECTROGRAM:
                self.getPlotItem().getViewBox().setYRange(0.0, 1.0, padding=0.0)
            return
        env = self.envelope
        if env is None or self.sample_rate <= 0:
            self.curve.setData([], [])
            self.points_drawn = 0
            return
        vb = self.getPlotItem().getViewBox()
        (x0, x1), _ = vb.viewRange()
        width = max(16, int(vb.width()))
        sr = self.sample_rate
        frames, mins, maxs = env.query(x0 * sr, x1 * sr, width)
        n = frames.shape[0]
        if n == 0:
            self.curve.setData([], [])
            self.points_drawn = 0
            return
        if mins is maxs or (frames.shape[0] > 1 and frames[1] - frames[0] == 1):
            self.curve.setData(frames / sr, (mins + maxs) * 0.5, connect="all")  # samples
        else:
            x = np.repeat(frames / sr, 2)
            y = np.empty(2 * n, dtype=np.float32)
            y[0::2] = mins
            y[1::2] = np.maximum(maxs, mins + 1e-4)  # a silent stretch still shows a line
            self.curve.setData(x, y, connect="pairs")
        self.points_drawn = n

    # -- overlays ------------------------------------------------------------------------------
    def set_playhead(self, seconds: float) -> None:
        """Move the playhead line."""
        self.playhead.setPos(seconds)

    def set_dimmed(self, dimmed: bool) -> None:
        """Draw the lane faintly (it is not heard: muted, silent, or not soloed)."""
        self.dimmed = bool(dimmed)
        opacity = 0.3 if dimmed else 1.0
        self.curve.setOpacity(opacity)
        self.image.setOpacity(0.45 if dimmed else 1.0)

    def set_loop(self, start_s: float, end_s: float, visible: bool) -> None:
        """Shade the loop region."""
        self.loop_region.setRegion((start_s, end_s))
        self.loop_region.setVisible(visible and end_s > start_s)

    def _clicked(self, event) -> None:  # noqa: ANN001
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        vb = self.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        x = vb.mapSceneToView(event.scenePos()).x()
        self.seek_requested.emit(max(0.0, float(x)))
