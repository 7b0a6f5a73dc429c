"""The open song: its audio, stems, envelopes, spectrograms and mixer state (a QObject).

The window changes lane controls through the session's setters, which update the mixer (what
playback and export hear) and emit ``lane_changed`` so every view of that lane follows. Workers
fill the stems; the session only keeps the results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.workers import LoadedSong
from core.config import STEMS
from core.display import EnvelopePyramid, Spectrogram
from core.mixer import Mixer

#: lane names: the mixture, then the stems in model order.
LANES: tuple[str, ...] = ("mix", *STEMS)


class Session(QObject):
    """State of the open song.

    Signals:
        song_opened(): a new song is loaded (mixture and its envelope available).
        stems_changed(start_frame, stop_frame): stems became valid in that range.
        stems_reset(): stems were dropped or (re)allocated.
        lane_changed(lane): a lane's gain/mute/solo/pan changed.
    """

    song_opened = Signal()
    stems_changed = Signal(int, int)
    stems_reset = Signal()
    lane_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.mixer: Mixer | None = None
        self.song_id = ""
        self.cache_key = ""
        self.envelopes: list[EnvelopePyramid | None] = [None] * len(LANES)
        self.spectrograms: dict[int, Spectrogram] = {}
        self.stems_complete = False

    # -- song ----------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Whether a song is loaded."""
        return self.mixer is not None

    @property
    def sample_rate(self) -> int:
        """Sample rate of the open song (0 when none)."""
        return self.mixer.sample_rate if self.mixer else 0

    @property
    def frames(self) -> int:
        """Length of the open song in frames."""
        return self.mixer.frames if self.mixer else 0

    @property
    def duration_s(self) -> float:
        """Length of the open song in seconds."""
        return self.frames / self.sample_rate if self.mixer else 0.0

    def open_song(self, song: LoadedSong) -> None:
        """Take a loaded song (and its cached stems, if any) as the session's song."""
        self.path = song.path
        self.song_id = song.song_id
        self.cache_key = song.cache_key
        self.mixer = Mixer(song.mix, song.sample_rate)
        self.envelopes = [song.envelope, None, None, None, None]
        self.spectrograms = {}
        self.stems_complete = False
        if song.stems is not None and song.stem_envelopes is not None:
            self.mixer.set_stems(song.stems)
            self.envelopes[1:] = song.stem_envelopes
            self.stems_complete = True
        self.song_opened.emit()

    def identify(self, song: LoadedSong) -> None:
        """The song's identity and cached stems arrived (after :meth:`open_song`)."""
        self.song_id = song.song_id
        self.cache_key = song.cache_key
        if song.stems is not None and song.stem_envelopes is not None and self.mixer is not None:
            self.mixer.set_stems(song.stems)
            self.envelopes[1:] = song.stem_envelopes
            for lane in range(1, len(LANES)):
                self.spectrograms.pop(lane, None)
            self.stems_complete = True
            self.stems_reset.emit()

    def prepare_stems(self) -> tuple[Mixer, list[EnvelopePyramid]]:
        """Allocate silent stems for a separation; returns the mixer and the stem envelopes."""
        assert self.mixer is not None
        stems = self.mixer.allocate_stems()
        envs = [EnvelopePyramid(stems[i], compute=False) for i in range(4)]
        self.envelopes[1:] = envs
        for lane in range(1, len(LANES)):
            self.spectrograms.pop(lane, None)
        self.stems_complete = False
        self.stems_reset.emit()
        return self.mixer, envs

    def stems_delivered(self, start: int, stop: int) -> None:
        """A separation delivered stems for ``[start, stop)`` (slot for the worker's signal)."""
        self.stems_changed.emit(start, stop)

    def finish_stems(self) -> None:
        """The separation completed."""
        self.stems_complete = True
        if self.mixer is not None:
            self.mixer.available_frames = self.mixer.frames
        self.stems_changed.emit(0, self.frames)

    def drop_stems(self) -> None:
        """Forget partial stems (separation cancelled or failed): the mixture plays again."""
        if self.mixer is not None:
            self.mixer.clear_stems()
        self.envelopes[1:] = [None] * 4
        for lane in range(1, len(LANES)):
            self.spectrograms.pop(lane, None)
        self.stems_complete = False
        self.stems_reset.emit()

    def lane_audio(self, lane: int) -> np.ndarray | None:
        """``(channels, frames)`` audio of a lane, or ``None`` while its stem does not exist."""
        if self.mixer is None:
            return None
        if lane == 0:
            return self.mixer.mix
        if self.mixer.stems is None:
            return None
        return self.mixer.stems[lane - 1]

    # -- lane controls -------------------------------------------------------------------------
    def set_gain_db(self, lane: int, gain_db: float) -> None:
        """Fader of ``lane`` in dB (0 = unity)."""
        if self.mixer is not None:
            self.mixer.set_lane(lane, gain_db=gain_db)
            self.lane_changed.emit(lane)

    def set_mute(self, lane: int, mute: bool) -> None:
        """Mute or unmute ``lane``."""
        if self.mixer is not None:
            self.mixer.set_lane(lane, mute=mute)
            self.lane_changed.emit(lane)

    def set_solo(self, lane: int, solo: bool) -> None:
        """Solo or unsolo ``lane``."""
        if self.mixer is not None:
            self.mixer.set_lane(lane, solo=solo)
            self.lane_changed.emit(lane)

    def set_pan(self, lane: int, pan: float) -> None:
        """Pan of ``lane`` in [-1, 1]."""
        if self.mixer is not None:
            self.mixer.set_lane(lane, pan=pan)
            self.lane_changed.emit(lane)
