"""On-disk cache of separated stems, so reopening a song separated with the same model is instant.

Key: a BLAKE2b hash of the song file (its size, modification time and full content) together with
the identity of the model file (resolved path, size, modification time). An entry is two files in
the cache folder (``platformdirs.user_cache_dir("stemweave")/stems`` by default):
``KEY.npy`` — float32 ``(stems, channels, frames)`` stems, loaded memory-mapped — and ``KEY.json`` —
what made it. Both are written atomically, the JSON last, so an entry without its JSON is
incomplete and ignored. The oldest entries are evicted beyond ``max_bytes``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import platformdirs

from core.config import STEMS
from core.fileio import atomic_path

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 8 * 1024**3


def default_cache_dir() -> Path:
    """The per-user cache folder for stems."""
    return Path(platformdirs.user_cache_dir("stemweave", "Stemweave")) / "stems"


def file_identity(path: str | os.PathLike[str], *, content: bool = True) -> str:
    """Hash of a file's size, modification time and (by default) content.

    Raises:
        OSError: the file cannot be read.
    """
    p = Path(path)
    st = p.stat()
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    if content:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def model_identity(model_path: str | os.PathLike[str]) -> str:
    """Identity of a model file: resolved path, size and modification time."""
    p = Path(model_path).resolve()
    st = p.stat()
    return f"{p}:{st.st_size}:{st.st_mtime_ns}"


def cache_key(song_identity: str, model_id: str) -> str:
    """The entry name for a song (from :func:`file_identity`) and a model identity."""
    return hashlib.blake2b(f"{song_identity}|{model_id}".encode(), digest_size=20).hexdigest()


class StemCache:
    """A folder of cached separations.

    Args:
        root: the cache folder (created on first write); :func:`default_cache_dir` by default.
        max_bytes: evict the least recently used entries beyond this total size.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.max_bytes = int(max_bytes)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.npy", self.root / f"{key}.json"

    def load(self, key: str, *, frames: int | None = None) -> np.ndarray | None:
        """The cached stems for ``key`` (read-only, memory-mapped), or ``None``."""
        data, meta = self._paths(key)
        if not (data.is_file() and meta.is_file()):
            return None
        try:
            stems = np.load(data, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", data, exc)
            return None
        if stems.ndim != 3 or stems.shape[0] < 1 or (frames is not None
                                                     and stems.shape[2] != frames):
            log.warning("ignoring cache entry %s with shape %s", data, stems.shape)
            return None
        with contextlib.suppress(OSError):
            os.utime(meta)  # mark as recently used
        return stems

    def stem_names(self, key: str) -> tuple[str, ...]:
        """The stem names recorded with entry ``key`` (its ``info["stems"]``; entries written
        without them hold the four :data:`core.config.STEMS`); ``()`` when unreadable."""
        _, meta = self._paths(key)
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ()
        names = info.get("stems", list(STEMS)) if isinstance(info, dict) else ()
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return ()
        return tuple(names)

    def store(self, key: str, stems: np.ndarray, info: dict | None = None) -> Path:
        """Write ``stems`` (stems, channels, frames) under ``key`` atomically; returns the data
        path. ``info`` is kept beside them; its ``"stems"`` names the rows.

        Raises:
            OSError: the cache folder is not writable or the disk is full.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        data, meta = self._paths(key)
        with atomic_path(data) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(stems, dtype=np.float32), allow_pickle=False)
        with atomic_path(meta) as tmp:
            tmp.write_text(json.dumps({"shape": list(stems.shape), **(info or {})}, indent=1))
        self.evict()
        return data

    def evict(self) -> None:
        """Delete least recently used entries until the cache fits in ``max_bytes``."""
        try:
            metas = sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        entries = []
        total = 0
        for meta in metas:
            data = meta.with_suffix(".npy")
            size = data.stat().st_size if data.is_file() else 0
            entries.append((meta, data, size))
            total += size
        while total > self.max_bytes and len(entries) > 1:
            meta, data, size = entries.pop(0)
            for p in (meta, data):
                with contextlib.suppress(OSError):
                    p.unlink()
            total -= size
