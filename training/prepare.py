"""``stemweave prepare``: turn a stem collection into a prepared dataset (see
:mod:`training.prepared`) resampled once to the stage rates and memory-mappable.

Sources:

* ``musdb`` — the MUSDB18 release (``.stem.mp4``, decoded by the ``musdb`` package with ffmpeg)
  or, with ``is_wav``, MUSDB18-HQ (WAV folders). musdb's official split is used: its 86 + 14
  train/validation songs and the 50 test songs.
* ``folder`` — a generic folder of songs, each a sub-folder of stem files named after the stems
  (``drums``, ``bass``, ``other``, ``vocals``; any audio extension soundfile reads). A missing
  stem is silence. **Extra stems:** any other audio file in the song folder (``piano.wav``,
  ``guitar.flac`` ...) is added into ``other``; files named ``mixture`` or ``mix`` are ignored
  (the mixture is always the sum of the stems). Stems of different lengths are padded with
  silence to the longest; stems at different rates are resampled to the first stem's rate.
  Songs are split into train/valid/test by a seeded shuffle.

Finished songs (those with ``meta.json``) are skipped, so an interrupted run can be re-run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import STEMS
from core.errors import DataError
from core.resample import resample
from training.prepared import RATES, init_dataset, song_done, write_song

log = logging.getLogger(__name__)

#: file names (without extension) that are never treated as a stem
MIXTURE_NAMES = ("mixture", "mix")

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class PrepareReport:
    """What a prepare run did."""

    written: dict[str, int]
    skipped: int
    root: Path


def _read_audio(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - soundfile raises several types
        raise DataError(f"cannot read {path}: {exc}") from exc
    return np.ascontiguousarray(data.T), int(rate)


def _audio_files(folder: Path) -> list[Path]:
    import soundfile as sf

    exts = {"." + e.lower() for e in sf.available_formats()}
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts)


def load_song_folder(folder: Path) -> tuple[np.ndarray, int]:
    """Stems of one song folder: ``(4, channels, frames)`` and its sample rate.

    Raises:
        DataError: no stem files, more than two channels, or unreadable files.
    """
    parts: dict[int, list[np.ndarray]] = {i: [] for i in range(len(STEMS))}
    rate = 0
    files = _audio_files(folder)
    for path in files:
        stem = path.name.split(".")[0].lower()
        if stem in MIXTURE_NAMES:
            continue
        index = STEMS.index(stem) if stem in STEMS else STEMS.index("other")
        if stem not in STEMS:
            log.info("%s: extra stem %s is added to 'other'", folder.name, path.name)
        audio, sr = _read_audio(path)
        if audio.shape[0] > 2:
            raise DataError(f"{path}: {audio.shape[0]} channels; stems must be mono or stereo")
        if rate == 0:
            rate = sr
        elif sr != rate:
            audio = resample(audio, sr, rate)
        if audio.shape[0] == 1:
            audio = np.repeat(audio, 2, axis=0)
        parts[index].append(audio)
    if rate == 0:
        raise DataError(f"{folder}: no stem files (expected drums/bass/other/vocals.<ext>)")
    frames = max(a.shape[-1] for group in parts.values() for a in group)
    stems = np.zeros((len(STEMS), 2, frames), np.float32)
    for i, group in parts.items():
        for a in group:
            stems[i, :, : a.shape[-1]] += a
    return stems, rate


def split_names(names: list[str], seed: int, valid_fraction: float,
                test_fraction: float = 0.0) -> dict[str, str]:
    """Seeded split of song names: name -> ``train``/``valid``/``test``.

    At least one song stays in ``train``; a non-zero fraction gives at least one song when
    there are two or more songs.
    """
    order = sorted(names)
    random.Random(seed).shuffle(order)
    n = len(order)

    def count(fraction: float) -> int:
        return 0 if fraction <= 0 or n < 2 else max(1, int(round(fraction * n)))

    n_valid = count(valid_fraction)
    n_test = min(count(test_fraction), max(n - n_valid - 1, 0))
    n_valid = min(n_valid, n - 1) if n > 1 else 0
    split = {}
    for i, name in enumerate(order):
        split[name] = "valid" if i < n_valid else "test" if i < n_valid + n_test else "train"
    return split


def _safe_name(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in " -_.,()&'" else "_" for c in name).strip(" .")
    return keep or "song"


def _fresh_dataset(out: str | Path) -> tuple[bool, bool]:
    """Whether the dataset folder and its ``dataset.json`` do not exist yet."""
    out = Path(out)
    return not out.exists(), not (out / "dataset.json").exists()


def _withdraw_dataset(root: Path, made_root: bool, made_index: bool) -> None:
    """After a failed first run: remove the ``dataset.json`` this run created (and the empty
    folders) when no song was completed, so a failed prepare leaves nothing that looks like a
    dataset. Songs completed by this or earlier runs stay."""
    if not made_index or any(root.glob("*/*/meta.json")):
        return
    with contextlib.suppress(OSError):
        (root / "dataset.json").unlink()
    for folder, _dirs, _files in sorted(os.walk(root), key=lambda w: -len(w[0])):
        if Path(folder) != root or made_root:
            with contextlib.suppress(OSError):
                Path(folder).rmdir()  # only empty folders


def prepare_folder(
    source: str | Path, out: str | Path, seed: int = 42, valid_fraction: float = 0.1,
    test_fraction: float = 0.0, resampler: str = "soxr", progress: Progress | None = None,
) -> PrepareReport:
    """Prepare a generic folder of song folders (see the module docstring)."""
    source = Path(source)
    if not source.is_dir():
        raise DataError(f"{source} is not a folder")
    folders = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{source} holds no song folders")
    fresh = _fresh_dataset(out)
    root = init_dataset(out)
    try:
        split = split_names([p.name for p in folders], seed, valid_fraction, test_fraction)
        written = {"train": 0, "valid": 0, "test": 0}
        skipped = 0
        for i, folder in enumerate(folders):
            part, name = split[folder.name], _safe_name(folder.name)
            if progress:
                progress(i, len(folders), name)
            if song_done(root, part, name):
                skipped += 1
                continue
            stems, rate = load_song_folder(folder)
            write_song(root, part, name, stems, rate, source=str(folder), resampler=resampler)
            written[part] += 1
        if progress:
            progress(len(folders), len(folders), "")
        return PrepareReport(written, skipped, root)
    except BaseException:
        _withdraw_dataset(root, *fresh)
        raise


def prepare_musdb(
    source: str | Path, out: str | Path, is_wav: bool = False, resampler: str = "soxr",
    subsets: tuple[str, ...] = ("train", "valid", "test"), progress: Progress | None = None,
) -> PrepareReport:
    """Prepare MUSDB18 (``.stem.mp4``) or MUSDB18-HQ (``is_wav``) with musdb's official split."""
    try:
        import musdb
    except ImportError as exc:
        raise DataError("the musdb package is needed: pip install 'stemweave[train]'") from exc
    source = Path(source)
    if not source.is_dir():
        raise DataError(f"{source} is not a folder")
    fresh = _fresh_dataset(out)
    root = init_dataset(out)
    try:
        jobs = []
        for part in subsets:
            kw = {"subsets": "test"} if part == "test" else {"subsets": "train", "split": part}
            try:
                db = musdb.DB(root=str(source), is_wav=is_wav, **kw)
            except Exception as exc:  # noqa: BLE001 - musdb raises plain errors for bad roots
                raise DataError(f"cannot open MUSDB18 at {source}: {exc}") from exc
            jobs += [(part, t) for t in db.tracks]
        if not jobs:
            raise DataError(f"no MUSDB18 tracks found under {source} "
                            "(expected train/ and test/ sub-folders)")
        written = {"train": 0, "valid": 0, "test": 0}
        skipped = 0
        for i, (part, track) in enumerate(jobs):
            name = _safe_name(track.name)
            if progress:
                progress(i, len(jobs), name)
            if song_done(root, part, name):
                skipped += 1
                continue
            if is_wav:
                # MUSDB18-HQ: plain WAV stems; soundfile reads them without an ffmpeg process each.
                stems, rate = load_song_folder(Path(track.path).parent)
            else:
                try:
                    stems = np.stack([track.targets[s].audio.T for s in STEMS]).astype(np.float32)
                except Exception as exc:  # noqa: BLE001 - ffmpeg/stempeg failures
                    raise DataError(f"cannot decode {track.name}: {exc} "
                                    "(is ffmpeg installed?)") from exc
                rate = int(track.rate)
            write_song(root, part, name, stems, rate, source=str(track.path), resampler=resampler)
            written[part] += 1
        if progress:
            progress(len(jobs), len(jobs), "")
        return PrepareReport(written, skipped, root)
    except BaseException:
        _withdraw_dataset(root, *fresh)
        raise


__all__ = ["MIXTURE_NAMES", "PrepareReport", "RATES", "load_song_folder", "prepare_folder",
           "prepare_musdb", "split_names"]
