"""The lanes: stems reset/changed, lane state, waveform/spectrogram modes (spectrograms on a
worker), and the shared time axis (zoom, fit, scroll bar, fit heights).

A mixin of :class:`app.main_window.MainWindow` (it uses the window's widgets and state).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QSizePolicy

from app.widgets.lane_view import SPECTROGRAM
from app.widgets.stem_lane import StemLane
from app.workers import SpectrogramWorker, describe_error


class LanesMixin:
    """Lanes feature of the main window."""

    def _wire_lane(self, lane: StemLane) -> None:
        """Connect a lane's intents to the session and the window."""
        s = self.session
        for b in (lane.mute_button, lane.solo_button, lane.view_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        lane.gain_changed.connect(s.set_gain_db)
        lane.mute_toggled.connect(s.set_mute)
        lane.solo_toggled.connect(s.set_solo)
        lane.pan_changed.connect(s.set_pan)
        lane.mode_changed.connect(self.set_lane_mode)
        lane.seek_requested.connect(self._seek_clicked)

    def _build_lane_actions(self) -> None:
        """Mute (Ctrl+N), solo (Alt+N) and spectrogram (Ctrl+Shift+N) for every lane, named
        after it, in the Lanes menu: N = 1 for the mix, 2, 3, ... for the stems (a six-stem
        model: up to 7). Lanes past the ninth are in the menu without keys. Rebuilt whenever
        the lanes change."""
        for action in self.lane_actions:
            self.lanes_menu.removeAction(action)
            self.removeAction(action)
            action.deleteLater()
        self.lane_actions = []
        for i, lane in enumerate(self.lanes):
            n = i + 1 if i < 9 else None
            for text, keys, button in (("Mute", "Ctrl+{}", "mute_button"),
                                       ("Solo", "Alt+{}", "solo_button"),
                                       ("Spectrogram", "Ctrl+Shift+{}", "view_button")):
                action = self._action(
                    f"{text} {lane.name}", keys.format(n) if n else None,
                    lambda i=i, button=button: getattr(self.lanes[i], button).toggle())
                self.lanes_menu.addAction(action)
                self.lane_actions.append(action)

    def _sync_lanes(self) -> None:
        """One lane per name of :attr:`Session.lane_names` (the mix, then the model's stems:
        four, six, ...): stem lanes whose names differ are replaced, missing ones added, extra
        ones removed; the practice panel's presets follow the stems."""
        names = tuple(self.session.lane_names)
        if tuple(lane.name for lane in self.lanes) == names:
            return
        keep = 1
        while keep < min(len(names), len(self.lanes)) and self.lanes[keep].name == names[keep]:
            keep += 1
        for lane in self.lanes[keep:]:
            self.lane_column.removeWidget(lane)
            lane.setParent(None)
            lane.deleteLater()
        del self.lanes[keep:]
        s = self.session
        at = self.lane_column.indexOf(self.lanes[-1]) + 1
        for i in range(keep, len(names)):
            lane = StemLane(i, names[i])
            lane.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            self.lane_column.insertWidget(at + i - keep, lane, 1)
            lane.view.setXLink(self.timeline)
            self._wire_lane(lane)
            if s.is_open:
                lane.view.getPlotItem().getViewBox().setLimits(xMin=0.0, xMax=s.duration_s,
                                                               minXRange=0.01)
                if s.mixer is not None and i < len(s.mixer.lanes):
                    lane.show_state(s.mixer.lanes[i])
            self.lanes.append(lane)
        self._build_lane_actions()
        self.practice.set_stems(names[1:])
        if self.fit_heights_action.isChecked():
            self.set_fit_heights(True)

    def _stems_reset(self) -> None:
        s = self.session
        self._sync_lanes()
        self.update_heard()
        for lane in self.lanes[1:]:
            lane.view.set_envelope(s.envelopes[lane.lane], s.sample_rate)
            lane.view.set_spectrogram(s.spectrograms.get(lane.lane))
            if lane.view.mode == SPECTROGRAM and lane.lane not in s.spectrograms:
                if s.stems_complete:  # e.g. stems loaded from the cache on reopening
                    self._request_spectrogram(lane.lane)
                else:
                    lane.view.show_message("Spectrogram after separation")

    def _stems_changed(self, start: int, stop: int) -> None:
        s = self.session
        if not s.sample_rate:
            return
        if start == 0:  # the first segment (or all): the stems are heard from now on
            self.update_heard()
        (x0, x1), _ = self.timeline.getPlotItem().getViewBox().viewRange()
        if stop / s.sample_rate < x0 or start / s.sample_rate > x1:
            return
        for lane in self.lanes[1:]:
            lane.view.redraw()

    def _lane_changed(self, lane: int) -> None:
        mixer = self.session.mixer
        if mixer is not None:
            self.lanes[lane].show_state(mixer.lanes[lane])
        self.update_heard()

    def heard_lanes(self) -> list[bool]:
        """Whether each lane is heard now (mute, solo, a silent fader, stems or not yet)."""
        mixer = self.session.mixer
        if mixer is None:
            return [True] * len(self.lanes)
        have_stems = mixer.stems is not None and mixer.available_frames > 0
        gains = mixer.effective_gains()[0 if have_stems else 1]
        heard = [bool(gains[i].max() > 0.0) for i in range(gains.shape[0])]
        return heard + [False] * (len(self.lanes) - len(heard))

    def update_heard(self) -> None:
        """Dim the lanes that are not heard (the Mix lane while the stems play)."""
        for lane, heard in zip(self.lanes, self.heard_lanes()):
            lane.set_heard(heard)

    def set_spectrogram_normalised(self, on: bool) -> None:
        """Colour spectrograms per lane (on) or on one shared dB scale (off, the default)."""
        self.normalise_spec_action.setChecked(bool(on))
        for lane in self.lanes:
            lane.view.set_normalise(bool(on))

    def reset_mixer(self) -> None:
        """Every lane back to 0 dB, centre, no mute, no solo."""
        s = self.session
        if s.mixer is None:
            return
        for lane in range(len(s.mixer.lanes)):
            s.set_gain_db(lane, 0.0)
            s.set_mute(lane, False)
            s.set_solo(lane, False)
            s.set_pan(lane, 0.0)

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
        if lane == 0 and self.load_worker is not None:
            # the file is still being read: computed once it is complete (see _loaded)
            view.show_message("Spectrogram after reading…")
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
