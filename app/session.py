"""The open song: its audio, stems, envelopes, spectrograms and mixer state (a QObject).

The window changes lane controls through the session's setters, which update the mixer (what
playback and export hear) and emit ``lane_changed`` so every view of that lane follows. Workers
fill the stems; the session only keeps the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.config import STEMS
from core.display import EnvelopePyramid, Spectrogram
from core.mixer import Mixer

#: lane names of the default (four-stem) model: the mixture, then the stems in model order.
#: The open song's own lanes are :attr:`Session.lane_names` (the count comes from the model).
LANES: tuple[str, ...] = ("mix", *STEMS)


@dataclass
class LoadedSong:
    """A decoded song (what :class:`app.workers.LoadWorker` produces)."""

    path: Path
    mix: np.ndarray  # float32 (channels, frames)
    sample_rate: int
    envelope: EnvelopePyramid
    song_id: str
    load_s: float
    #: cached stems (stems, channels, frames) for the current model, with their envelopes
    stems: np.ndarray | None = None
    stem_envelopes: list[EnvelopePyramid] | None = None
    cache_key: str = ""
    #: names of the cached stems, in their order (the model's sources)
    stem_names: tuple[str, ...] = STEMS


class Session(QObject):
    """State of the open song.

    Signals:
        song_opened(): a new song is loaded (mixture and its envelope available).
        song_closed(): the song was dropped (it could not be read to the end): none is open.
        stems_changed(start_frame, stop_frame): stems became valid in that range.
        stems_reset(): stems were dropped or (re)allocated (the lanes may have changed:
            :attr:`lane_names`).
        lane_changed(lane): a lane's gain/mute/solo/pan changed.
    """

    song_opened = Signal()
    song_closed = Signal()
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
    def lane_names(self) -> tuple[str, ...]:
        """``("mix", *stem names)`` of the open song (:data:`LANES` when none is open)."""
        return self.mixer.lane_names if self.mixer is not None else LANES

    @property
    def stem_names(self) -> tuple[str, ...]:
        """The stems' names in the model's order."""
        return self.lane_names[1:]

    def _forget_stem_views(self) -> None:
        """Drop the stem lanes' envelopes and spectrograms (the mixture's stay)."""
        self.envelopes = [self.envelopes[0], *([None] * len(self.stem_names))]
        self.spectrograms = {k: v for k, v in self.spectrograms.items() if k == 0}

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
        self.mixer = Mixer(song.mix, song.sample_rate, stem_names=song.stem_names)
        self.envelopes = [song.envelope, *([None] * len(song.stem_names))]
        self.spectrograms = {}
        self.stems_complete = False
        if song.stems is not None and song.stem_envelopes is not None:
            self.mixer.set_stems(song.stems)
            self.envelopes[1:] = song.stem_envelopes
            self.stems_complete = True
        self.song_opened.emit()

    def close_song(self) -> None:
        """Drop the open song: back to the state with no song (nothing is kept of it)."""
        self.path = None
        self.mixer = None
        self.song_id = ""
        self.cache_key = ""
        self.envelopes = [None] * len(LANES)
        self.spectrograms = {}
        self.stems_complete = False
        self.song_closed.emit()

    def identify(self, song: LoadedSong) -> None:
        """The song's identity and cached stems arrived (after :meth:`open_song`)."""
        self.song_id = song.song_id
        self.cache_key = song.cache_key
        if song.stems is not None and song.stem_envelopes is not None and self.mixer is not None:
            self.mixer.set_stems(song.stems, song.stem_names)
            self._forget_stem_views()
            self.envelopes[1:] = song.stem_envelopes
            self.stems_complete = True
            self.stems_reset.emit()

    def adopt_stems(self, stems: np.ndarray, stem_names: Sequence[str],
                    envelopes: list[EnvelopePyramid]) -> None:
        """Replace the stems at once with complete new ones (a finished "Separate again").

        Args:
            stems: ``(stems, channels, frames)``.
            stem_names: their names, in order.
            envelopes: one envelope per stem.
        """
        assert self.mixer is not None
        self.mixer.set_stems(stems, stem_names)
        self._forget_stem_views()
        self.envelopes[1:] = envelopes
        self.stems_complete = True
        self.stems_reset.emit()
        self.stems_changed.emit(0, self.frames)

    def prepare_stems(self, stem_names: Sequence[str] | None = None,
                      ) -> tuple[Mixer, list[EnvelopePyramid]]:
        """Allocate silent stems for a separation; returns the mixer and the stem envelopes.

        Args:
            stem_names: the separating model's stems (default: keep the current ones).
        """
        assert self.mixer is not None
        stems = self.mixer.allocate_stems(stem_names)
        self._forget_stem_views()
        envs = [EnvelopePyramid(stem, compute=False) for stem in stems]
        self.envelopes[1:] = envs
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
        self._forget_stem_views()
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
