"""The prepared-dataset format that ``stemweave prepare`` and ``stemweave synth`` write and the
training loop memory-maps.

Layout::

    ROOT/dataset.json                      {"format": "stemweave-prepared", "version": 1,
                                            "rates": [8000, 16000, 32000], "stems": [...]}
    ROOT/<split>/<song>/audio_<rate>.npy   float32 (stems=4, channels=2, frames_at_rate)
    ROOT/<split>/<song>/meta.json          written last: the song is complete once it exists

``split`` is ``train``, ``valid`` or ``test``. ``frames_at_rate == frames_8k * rate // 8000``
exactly, so crops align across rates. Audio is stored as resampled, not normalised; readers
normalise by the mixture's standard deviation. A missing stem is stored as silence.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import STEMS
from core.errors import DataError
from core.fileio import atomic_path
from core.resample import resample

FORMAT = "stemweave-prepared"
VERSION = 1
RATES: tuple[int, ...] = (8000, 16000, 32000)
SPLITS: tuple[str, ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class PreparedSong:
    """One prepared song: its folder and length at the base rate."""

    path: Path
    name: str
    split: str
    frames_8k: int

    def audio(self, rate: int, mmap: bool = True) -> np.ndarray:
        """Stems at ``rate``: ``(stems, channels, frames)`` float32, memory-mapped by default."""
        return np.load(self.path / f"audio_{rate}.npy", mmap_mode="r" if mmap else None)


def init_dataset(root: str | os.PathLike[str], rates: tuple[int, ...] = RATES) -> Path:
    """Create (or check) a prepared-dataset folder and its ``dataset.json``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    index = root / "dataset.json"
    if index.exists():
        info = json.loads(index.read_text())
        if info.get("format") != FORMAT or tuple(info.get("rates", ())) != tuple(rates):
            raise DataError(f"{root} holds a different dataset format or rates")
        return root
    with atomic_path(index) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, "version": VERSION, "rates": list(rates),
                                   "stems": list(STEMS)}, indent=1))
    return root


def song_done(root: str | os.PathLike[str], split: str, name: str) -> bool:
    """True if the song was completely written before (re-runs skip it)."""
    return (Path(root) / split / name / "meta.json").is_file()


def write_song(
    root: str | os.PathLike[str], split: str, name: str, stems: np.ndarray, sample_rate: int,
    source: str = "", rates: tuple[int, ...] = RATES, resampler: str = "soxr",
) -> PreparedSong:
    """Resample a song's stems to every rate and store them.

    Args:
        root: dataset folder (see :func:`init_dataset`).
        split: ``train``, ``valid`` or ``test``.
        name: song folder name (no path separators).
        stems: ``(4, channels, frames)`` at ``sample_rate``, stems in ``STEMS`` order; mono is
            duplicated to stereo, more than two channels are rejected.
        sample_rate: rate of ``stems``.
        source: free text recorded in ``meta.json``.
        rates: the stage rates (multiples of ``rates[0]``).
        resampler: ``core.resample`` method.

    Returns:
        the written song.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}")
    if not name or "/" in name or name.startswith("."):
        raise DataError(f"bad song name {name!r}")
    stems = np.asarray(stems, dtype=np.float32)
    if stems.ndim != 3 or stems.shape[0] != len(STEMS):
        raise DataError(f"{name}: stems must be (4, channels, frames), got {stems.shape}")
    if stems.shape[1] == 1:
        stems = np.repeat(stems, 2, axis=1)
    if stems.shape[1] != 2:
        raise DataError(f"{name}: expected mono or stereo stems, got {stems.shape[1]} channels")
    if not np.isfinite(stems).all():
        raise DataError(f"{name}: stems contain NaN or infinite samples")
    base = rates[0]
    frames_8k = int(stems.shape[-1] * base // sample_rate)
    if frames_8k < 1:
        raise DataError(f"{name}: too short")
    folder = Path(root) / split / name
    if folder.exists():
        shutil.rmtree(folder)  # an unfinished earlier attempt (no meta.json)
    folder.mkdir(parents=True)
    for rate in rates:
        n = frames_8k * rate // base
        y = resample(stems, sample_rate, rate, resampler)[..., :n]
        if y.shape[-1] < n:
            y = np.pad(y, ((0, 0), (0, 0), (0, n - y.shape[-1])))
        with atomic_path(folder / f"audio_{rate}.npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(y, dtype=np.float32))
    meta = {"name": name, "split": split, "frames_8k": frames_8k, "source": source,
            "duration_s": frames_8k / base, "stems": list(STEMS)}
    with atomic_path(folder / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return PreparedSong(folder, name, split, frames_8k)


def list_songs(root: str | os.PathLike[str], split: str) -> list[PreparedSong]:
    """Completed songs of a split, sorted by name."""
    folder = Path(root) / split
    songs = []
    if folder.is_dir():
        for meta_path in sorted(folder.glob("*/meta.json")):
            meta = json.loads(meta_path.read_text())
            songs.append(
                PreparedSong(meta_path.parent, meta["name"], split, int(meta["frames_8k"]))
            )
    return songs
