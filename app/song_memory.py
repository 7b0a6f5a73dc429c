"""Songs that remember: per-song state kept beside the stem cache (no Qt).

One small JSON file per song, named by a hash of the song's content identity (the same identity
the stem cache uses, so a renamed or moved file is still recognised and an edited one is not):
the mixer (gain, mute, solo, pan per lane, by name), the loop region, the practice tempo and
pitch, and the musical analysis. Files are written atomically; an unreadable one is ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from core.fileio import atomic_path

log = logging.getLogger(__name__)

#: version of the file layout; files of another version are ignored.
VERSION = 1


class SongMemory:
    """Per-song state files in ``root``.

    Args:
        root: folder of the files (created on first save).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, song_id: str) -> Path:
        """The file of the song with identity ``song_id``."""
        digest = hashlib.sha256(song_id.encode("utf-8")).hexdigest()[:32]
        return self.root / f"{digest}.json"

    def load(self, song_id: str) -> dict[str, Any] | None:
        """The remembered state, or ``None`` (never seen, unreadable or another version)."""
        if not song_id:
            return None
        p = self.path(song_id)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable song state %s: %s", p, exc)
            return None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return None
        return data

    def save(self, song_id: str, state: dict[str, Any]) -> bool:
        """Write ``state`` for the song (atomically); False if it could not be written."""
        if not song_id:
            return False
        p = self.path(song_id)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(p) as tmp:
                tmp.write_text(json.dumps({**state, "version": VERSION}), encoding="utf-8")
        except (OSError, TypeError, ValueError) as exc:
            log.warning("could not remember the song's state in %s: %s", p, exc)
            return False
        return True
