"""Songs that remember: the window saves a song's mixer, loop, tempo/pitch and analysis when
it is analysed, when another song is opened and when the window closes, and restores them when
the song is opened again (:class:`app.song_memory.SongMemory`, beside the stem cache). A song
whose analysis is remembered is not analysed again (except to refine a mix-only analysis on
stems). Settings ▸ ``songs/remember`` switches it off.

A mixin of :class:`app.main_window.MainWindow`.
"""

from __future__ import annotations

import logging
from typing import Any

from app.song_memory import SongMemory

log = logging.getLogger(__name__)


class MemoryMixin:
    """Per-song memory of the main window."""

    @property
    def song_memory(self) -> SongMemory:
        """The per-song state store (``<stem cache>/songs``)."""
        memory = getattr(self, "_song_memory", None)
        if memory is None:
            memory = self._song_memory = SongMemory(self.cache.root / "songs")
        return memory

    def song_state(self) -> dict[str, Any]:
        """The open song's state as it would be remembered."""
        s = self.session
        mixer = s.mixer
        lanes = {}
        if mixer is not None:
            for name, st in zip(s.lane_names, mixer.lanes):
                lanes[name] = {"gain_db": st.gain_db, "mute": st.mute, "solo": st.solo,
                               "pan": st.pan}
        state: dict[str, Any] = {
            "file": str(s.path) if s.path else "",
            "lanes": lanes,
            "loop": list(self.loop_s),
            "loop_on": bool(self.player.loop_enabled) if self.player is not None else False,
            "tempo": float(self.practice.tempo),
            "semitones": float(self.practice.semitones),
            "loops": list(getattr(self, "saved_loops", [])),
        }
        if self.grid.analysis is not None:
            state["analysis"] = self.grid.analysis.to_json()
        return state

    def remember_song(self) -> bool:
        """Save the open song's state (no-op without a song or with remembering off)."""
        s = self.session
        if not (self.settings.remember_songs and s.is_open and s.song_id):
            return False
        return self.song_memory.save(s.song_id, self.song_state())

    def restore_song(self) -> bool:
        """Apply the remembered state of the song just opened; True if an analysis came back."""
        s = self.session
        if not (self.settings.remember_songs and s.is_open):
            return False
        state = self.song_memory.load(s.song_id)
        if state is None:
            return False
        try:
            for lane, name in enumerate(s.lane_names):
                st = state.get("lanes", {}).get(name)
                if st:
                    s.set_gain_db(lane, float(st["gain_db"]))
                    s.set_mute(lane, bool(st["mute"]))
                    s.set_solo(lane, bool(st["solo"]))
                    s.set_pan(lane, float(st["pan"]))
            tempo = float(state.get("tempo", 1.0))
            self.practice.tempo_spin.setValue(int(round(tempo * 100)))
            self.practice.pitch_spin.setValue(int(round(float(state.get("semitones", 0.0)))))
            self.set_saved_loops(list(state.get("loops", [])))
            a, b = (float(x) for x in state.get("loop", (0.0, 0.0)))
            if b > a:
                self.set_loop(a, b)
                self.set_loop_enabled(bool(state.get("loop_on", False)))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("ignoring a malformed remembered state: %s", exc)
        analysis = state.get("analysis")
        if not analysis:
            return False
        from core.analysis import Analysis

        try:
            self.grid.show(Analysis.from_json(analysis))
        except ValueError as exc:
            log.warning("ignoring a malformed remembered analysis: %s", exc)
            return False
        return True
