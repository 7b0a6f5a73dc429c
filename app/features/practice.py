"""Practice tools wiring: the tempo/pitch processor and metronome of each song's player, the
practice panel's intents (tempo, pitch, BPM, metronome, presets) and the count-in.

A mixin of :class:`app.main_window.MainWindow` (it uses the window's widgets and state).
"""

from __future__ import annotations

import logging
from typing import Any

from core.errors import StemweaveError

log = logging.getLogger(__name__)

class PracticeMixin:
    """Practice feature of the main window."""

    def _setup_practice(self) -> None:
        """A tempo/pitch processor and a metronome for the new song's player."""
        s = self.session
        self.stretcher = None
        self.metronome = None
        try:
            from core.practice import Metronome, TempoPitch

            self.stretcher = TempoPitch(s.sample_rate, 2, tempo=self.practice.tempo,
                                        semitones=self.practice.semitones)
            self.metronome = Metronome(s.sample_rate, self.practice.bpm)
        except (StemweaveError, ImportError) as exc:  # e.g. Rubber Band not installed
            log.warning("practice tools unavailable: %s", exc)
            self.practice.setEnabled(False)
            self.practice.setToolTip(f"Not available: {exc}")
            return
        assert self.player is not None
        self.player.set_processor(self.stretcher)
        self.player.metronome = self.metronome if self.practice.metronome_on else None

    def _set_tempo(self, ratio: float) -> None:
        if self.stretcher is not None:
            try:
                self.stretcher.set_tempo(ratio)
            except StemweaveError as exc:
                self.show_error(str(exc), "Tempo")

    def _set_pitch(self, semitones: float) -> None:
        if self.stretcher is not None:
            try:
                self.stretcher.set_pitch(semitones)
            except StemweaveError as exc:
                self.show_error(str(exc), "Pitch")

    def _set_bpm(self, bpm: float) -> None:
        self.settings.song_bpm = bpm
        if self.metronome is not None:
            try:
                self.metronome.set_bpm(bpm)
            except StemweaveError as exc:
                self.show_error(str(exc), "Metronome")

    def _set_metronome(self, on: bool) -> None:
        if self.player is not None:
            self.player.metronome = self.metronome if on else None

    def _capture_preset(self, name: str) -> Any:
        from core.practice import capture_preset

        mixer = self.session.mixer
        if mixer is None:
            raise StemweaveError("Open a song first.")
        return capture_preset(name, mixer, self.session.stem_names, tempo=self.practice.tempo,
                              semitones=self.practice.semitones)

    def _apply_preset(self, preset: Any) -> None:
        from core.practice import apply_preset

        mixer = self.session.mixer
        if mixer is None:
            return
        self.reset_mixer()  # lanes the preset does not name (and every pan) start from neutral
        apply_preset(preset, mixer, self.session.stem_names)
        for lane in self.lanes:
            lane.show_state(mixer.lanes[lane.lane])
        self.update_heard()

    def _count_in(self, next_beat: int = 1) -> Any:
        """The count-in audio chosen in the panel (``None``: none), counting up to beat
        ``next_beat`` of the bar."""
        bars = self.practice.count_in_bars
        if bars <= 0 or self.session.sample_rate <= 0:
            return None
        from core.practice import count_in

        try:
            return count_in(self.practice.heard_bpm, self.session.sample_rate, bars=bars,
                            beats_per_bar=self.grid.beats_per_bar, next_beat=next_beat)
        except StemweaveError as exc:
            self.show_error(str(exc), "Count-in")
            return None

    def count_in_for_play(self) -> Any:
        """The count-in for Play: with a count-in chosen and a detected grid, the playhead first
        moves onto the nearest detected beat (inside the loop when looping), so the song starts
        on the beat the clicks lead into (their accents on the song's bar lines)."""
        player = self.player
        if self.practice.count_in_bars <= 0 or player is None:
            return None
        return self._count_in(next_beat=self._onto_beat(player))

    def _onto_beat(self, player: Any) -> int:
        """Move ``player``'s playhead onto the nearest detected beat; returns that beat's number
        in its bar (1 when there is no grid or the beat lies outside the loop)."""
        a = self.grid.analysis
        sr = self.session.sample_rate
        if a is None or not a.beats or sr <= 0:
            return 1
        looping = player.loop_enabled and player.loop_end > player.loop_start
        start = player.position_frames
        if player.reached_end:  # play() would start over
            start = player.loop_start if player.loop_enabled else 0
        beat = float(a.snap(start / sr, "beat"))
        if looping and not player.loop_start <= round(beat * sr) < player.loop_end:
            return 1
        player.seek(beat * sr)
        self._tick(force=True)
        return max(1, min(a.beats_per_bar, int(a.bar_beat(beat + 1e-6)[1])))
