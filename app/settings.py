"""The app's persistent settings: the only module that touches QSettings.

Values are grouped per component (``separation/*``, ``export/*``, ``files/*``, ``playback/*``,
``window/*`` ...).
Tests and the screenshot command pass their own ``QSettings`` (an INI file in a temporary
folder) so they never read or change the user's settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

from core.options import DEVICES

ORGANIZATION = "Stemweave"
APPLICATION = "Stemweave"
MAX_RECENT = 10

__all__ = ["APPLICATION", "DEVICES", "MAX_RECENT", "ORGANIZATION", "Settings"]


class Settings:
    """Typed accessors over a ``QSettings`` store.

    Args:
        store: the QSettings to use; the user's native store by default.
    """

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    @classmethod
    def from_file(cls, path: str | Path) -> Settings:
        """Settings kept in an INI file (tests, portable use)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    def _str(self, key: str, default: str = "") -> str:
        value = self.store.value(key, default)
        return default if value is None else str(value)

    # -- separation --------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """Chosen model: ``""`` (the default model), a catalogue name, or a checkpoint path."""
        return self._str("separation/model")

    @model.setter
    def model(self, value: str) -> None:
        self.store.setValue("separation/model", str(value or ""))

    @property
    def device(self) -> str:
        """Compute device for separation: auto, cpu, cuda or mps."""
        value = self._str("separation/device", "auto")
        return value if value in DEVICES or value.startswith("cuda:") else "auto"

    @device.setter
    def device(self, value: str) -> None:
        self.store.setValue("separation/device", str(value or "auto"))

    @property
    def wiener(self) -> bool:
        """The Wiener post-filter on separated stems (core.wiener; on by default, for the
        models whose family runs it: Meta-TasNet)."""
        return self._str("separation/wiener", "true").lower() in ("true", "1")

    @wiener.setter
    def wiener(self, value: bool) -> None:
        self.store.setValue("separation/wiener", "true" if value else "false")

    def stems_identity(self, model_id: str, filtered: bool) -> str:
        """What a song's cached stems depend on besides the song: the model and the
        post-filter (stems made without it keep the model's identity alone). ``filtered``:
        whether the model's family runs the post-filter at all (``core.families.runs_wiener``;
        HTDemucs does not, so its stems do not depend on the setting)."""
        return f"{model_id}|wiener" if self.wiener and filtered and model_id else model_id

    # -- export ------------------------------------------------------------------------------
    @property
    def export_dir(self) -> str:
        """Default export folder (the user's Music folder when never set)."""
        value = self._str("export/folder")
        if value:
            return value
        music = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MusicLocation)
        return music or str(Path.home())

    @export_dir.setter
    def export_dir(self, value: str) -> None:
        self.store.setValue("export/folder", str(value or ""))

    @property
    def export_format(self) -> str:
        """Last export container: wav, flac or mp3."""
        value = self._str("export/format", "wav")
        return value if value in ("wav", "flac", "mp3") else "wav"

    @export_format.setter
    def export_format(self, value: str) -> None:
        self.store.setValue("export/format", value)

    @property
    def export_bits(self) -> str:
        """Last export sample format: 16, 24 or 32f."""
        value = self._str("export/bits", "24")
        return value if value in ("16", "24", "32f") else "24"

    @export_bits.setter
    def export_bits(self, value: str) -> None:
        self.store.setValue("export/bits", value)

    # -- files -------------------------------------------------------------------------------
    @property
    def recent_files(self) -> list[str]:
        """Recently opened songs, newest first."""
        value = self.store.value("files/recent", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])][:MAX_RECENT]

    def add_recent_file(self, path: str | Path) -> list[str]:
        """Put ``path`` at the top of the recent files; returns the new list."""
        p = str(Path(path).resolve())
        items = [p, *[r for r in self.recent_files if r != p]][:MAX_RECENT]
        self.store.setValue("files/recent", items)
        return items

    def clear_recent_files(self) -> None:
        """Forget the recent files."""
        self.store.setValue("files/recent", [])

    @property
    def last_open_dir(self) -> str:
        """Folder of the last opened song (for the Open dialog)."""
        return self._str("files/last_dir", str(Path.home()))

    @last_open_dir.setter
    def last_open_dir(self, value: str) -> None:
        self.store.setValue("files/last_dir", value)

    # -- practice ----------------------------------------------------------------------------
    @property
    def user_presets(self) -> list[dict]:
        """The user's mix presets as JSON-friendly dicts (see ``core.practice.Preset``)."""
        raw = self._str("practice/presets", "[]")
        try:
            data = json.loads(raw)
        except ValueError:
            return []
        return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

    def add_user_preset(self, data: dict) -> None:
        """Store a user preset (replacing one of the same name)."""
        name = data.get("name")
        items = [d for d in self.user_presets if d.get("name") != name] + [data]
        self.store.setValue("practice/presets", json.dumps(items))

    def remove_user_preset(self, name: str) -> None:
        """Forget the user preset ``name``."""
        items = [d for d in self.user_presets if d.get("name") != name]
        self.store.setValue("practice/presets", json.dumps(items))

    @property
    def song_bpm(self) -> float:
        """Last BPM typed or tapped in the practice panel."""
        try:
            return float(self._str("practice/bpm", "120"))
        except ValueError:
            return 120.0

    @song_bpm.setter
    def song_bpm(self, value: float) -> None:
        self.store.setValue("practice/bpm", str(float(value)))

    # -- musical grid ------------------------------------------------------------------------
    @property
    def auto_analyze(self) -> bool:
        """Analyse every opened song (tempo, beats, key, chords) in the background."""
        return self._str("grid/auto_analyze", "true").lower() in ("true", "1")

    @auto_analyze.setter
    def auto_analyze(self, value: bool) -> None:
        self.store.setValue("grid/auto_analyze", "true" if value else "false")

    @property
    def grid_from_stems(self) -> bool:
        """Analyse again on the separated stems after a separation (off: the mix only, which
        measured better with the built-in model, docs/analysis.md)."""
        return self._str("grid/from_stems", "false").lower() in ("true", "1")

    @grid_from_stems.setter
    def grid_from_stems(self, value: bool) -> None:
        self.store.setValue("grid/from_stems", "true" if value else "false")

    @property
    def ruler_bars(self) -> bool:
        """The ruler counts bars:beats (True) or minutes:seconds (False)."""
        return self._str("grid/ruler_bars", "true").lower() in ("true", "1")

    @ruler_bars.setter
    def ruler_bars(self, value: bool) -> None:
        self.store.setValue("grid/ruler_bars", "true" if value else "false")

    @property
    def snap(self) -> str:
        """What loop edges and seeks snap to: ``"beat"``, ``"bar"`` or ``"off"``."""
        value = self._str("grid/snap", "beat")
        return value if value in ("beat", "bar", "off") else "beat"

    @snap.setter
    def snap(self, value: str) -> None:
        self.store.setValue("grid/snap", value if value in ("beat", "bar", "off") else "beat")

    # -- playback ----------------------------------------------------------------------------
    @property
    def audio_output(self) -> str:
        """Name of the audio output device for playback (``""``: the system's default)."""
        return self._str("playback/output")

    @audio_output.setter
    def audio_output(self, value: str) -> None:
        self.store.setValue("playback/output", str(value or ""))

    @property
    def master_db(self) -> float:
        """Master volume in dB."""
        try:
            return float(self._str("playback/master_db", "0"))
        except ValueError:
            return 0.0

    @master_db.setter
    def master_db(self, value: float) -> None:
        self.store.setValue("playback/master_db", str(float(value)))

    @property
    def limiter(self) -> bool:
        """Clip protection (a limiter on playback and on the exported mix as heard)."""
        return self._str("playback/limiter", "true").lower() in ("true", "1")

    @limiter.setter
    def limiter(self, value: bool) -> None:
        self.store.setValue("playback/limiter", "true" if value else "false")

    @property
    def remember_songs(self) -> bool:
        """Remember each song's mixer, loop, tempo/pitch and analysis (beside the stem cache)."""
        return self._str("songs/remember", "true").lower() in ("true", "1")

    @remember_songs.setter
    def remember_songs(self, value: bool) -> None:
        self.store.setValue("songs/remember", "true" if value else "false")

    # -- window ------------------------------------------------------------------------------
    @property
    def window_geometry(self) -> QByteArray | None:
        """Saved ``QWidget.saveGeometry()`` bytes."""
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_geometry.setter
    def window_geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        """Saved ``QMainWindow.saveState()`` bytes (toolbars)."""
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self.store.setValue("window/state", value)

    def sync(self) -> None:
        """Write pending changes to disk."""
        self.store.sync()
