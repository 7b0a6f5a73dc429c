"""Transport: play/pause, stop, seek (clicks snap to the musical grid), nudge, the A-B loop, and
the 30 Hz playhead tick.

A mixin of :class:`app.main_window.MainWindow` (it uses the window's widgets and state).
"""

from __future__ import annotations

from app.playback import PlaybackError


class TransportMixin:
    """Transport feature of the main window."""

    def toggle_play(self) -> None:
        """Play or pause (Space); a count-in set in the practice panel plays first, and the
        song then starts on the detected beat nearest the playhead."""
        if self.player is None:
            return
        try:
            if self.player.playing:
                self.player.pause()
            else:
                self.player.play(count_in=self.count_in_for_play())
        except PlaybackError as exc:
            self.show_error(str(exc), "Playback")
        self.transport.show_playing(self.player.playing)

    def stop(self) -> None:
        """Stop and return to the start (of the loop when looping)."""
        if self.player is not None:
            self.player.stop()
            self.transport.show_playing(False)
            self._tick(force=True)

    def seek(self, seconds: float) -> None:
        """Move the playhead to ``seconds``."""
        if self.player is not None:
            self.player.seek(seconds * self.session.sample_rate)
            self._tick(force=True)

    def _seek_clicked(self, seconds: float) -> None:
        """A click on the ruler or a lane: seek, snapped to the grid (Shift: exactly)."""
        self.seek(self.grid.snap(seconds))

    def _loop_dragged(self, start_s: float, end_s: float) -> None:
        """A loop drawn or moved on the ruler: edges snapped to the grid (Shift: exactly)."""
        a, b = self.grid.snap(start_s), self.grid.snap(end_s)
        if b <= a:  # both edges snapped to one beat: keep what was drawn
            a, b = start_s, end_s
        self.set_loop(a, b)

    def nudge(self, delta_s: float) -> None:
        """Move the playhead by ``delta_s`` seconds."""
        if self.player is not None:
            self.seek(self.player.position_s + delta_s)

    def set_loop(self, start_s: float, end_s: float) -> None:
        """Set the A-B loop region (a region shorter than 50 ms clears it)."""
        if self.player is None:
            return
        a, b = sorted((max(0.0, start_s), min(self.session.duration_s, end_s)))
        if b - a < 0.05:
            a = b = 0.0
        self.loop_s = (a, b)
        sr = self.session.sample_rate
        self.timeline.set_region(a, b)
        enable = b > a and (self.player.loop_enabled or a != b)
        self.player.set_loop(a * sr, b * sr, enabled=enable)
        self.transport.show_loop(self.player.loop_enabled)
        for lane in self.lanes:
            lane.view.set_loop(a, b, self.player.loop_enabled)
        if self.player.loop_enabled and not (a <= self.player.position_s < b):
            self.seek(a)

    def set_loop_enabled(self, on: bool) -> None:
        """Switch looping on or off (needs a region dragged on the ruler)."""
        if self.player is None:
            return
        a, b = self.loop_s
        on = bool(on) and b > a
        self.player.set_loop_enabled(on)
        self.transport.show_loop(on)
        for lane in self.lanes:
            lane.view.set_loop(a, b, on)
        if not on and b <= a and self.transport.loop_button.isChecked():
            self.statusBar().showMessage("Drag on the time ruler to choose a loop region.")

    def _tick(self, force: bool = False) -> None:
        p = self.player
        if p is None:
            return
        if p.error:
            message, p.error = p.error, None
            p.pause()
            self.transport.show_playing(False)
            self.show_error(message, "Playback")
        if p.playing and p.reached_end:
            p.pause()
            self.transport.show_playing(False)
        pos = p.position_s
        if p.playing or self.meters_moving():
            self.update_meters(pos)
        if pos == self._last_pos and not force:
            return
        self._last_pos = pos
        self.timeline.set_playhead(pos)
        for lane in self.lanes:
            lane.view.set_playhead(pos)
        self.transport.show_time(pos, self.session.duration_s)
        if p.playing:
            vb = self.timeline.getPlotItem().getViewBox()
            (x0, x1), _ = vb.viewRange()
            if pos > x1 or pos < x0:
                span = x1 - x0
                vb.setXRange(pos, pos + span, padding=0.0)
