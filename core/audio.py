"""Audio file I/O: decode anything to float32 ``(channels, frames)``, write WAV/FLAC atomically.

Reading goes through soundfile (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...). Containers that
libsndfile does not know (M4A/AAC, video files, ...) are decoded by ``ffmpeg`` when it is on
``PATH``; without it the error says so. Every failure a user can cause is raised as
:class:`~core.errors.AudioLoadError` / :class:`~core.errors.AudioWriteError` with a message for a
person.

Besides the whole-file functions, :func:`open_source` gives a seekable block reader (used by the
separation engine to stream songs of any length with flat memory) and :class:`StemWriter` writes a
file incrementally to a hidden temporary name that is only renamed into place by ``commit()``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import AudioLoadError, AudioWriteError, DiskFullError
from core.fileio import atomic_path, temp_path_for

log = logging.getLogger(__name__)

#: ``bits`` option -> libsndfile subtype.
SUBTYPES: dict[str, str] = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
#: output formats and the libsndfile container name.
FORMATS: dict[str, str] = {"wav": "WAV", "flac": "FLAC"}


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header (or from ffmpeg's decode)."""

    frames: int
    sample_rate: int
    channels: int
    duration_s: float


def ffmpeg_path() -> str | None:
    """Path of the ``ffmpeg`` executable, or ``None`` when it is not on ``PATH``."""
    return shutil.which("ffmpeg")


def _wav_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file, a message if its data chunk claims more bytes than the file has."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"data":
                    if length in (0, 0xFFFFFFFF):  # streamed WAV with unknown length
                        return None
                    have = size - (pos + 8)
                    if have < length:
                        return (f"the file is truncated: its header announces {length} bytes "
                                f"of audio but only {have} are present")
                    return None
                pos += 8 + length + (length & 1)
    except OSError:
        return None
    return None


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioLoadError(f"{path}: file not found")
    if path.is_dir():
        raise AudioLoadError(f"{path}: is a folder, not an audio file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioLoadError(f"{path}: cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise AudioLoadError(f"{path}: the file is empty")
    if not os.access(path, os.R_OK):
        raise AudioLoadError(f"{path}: permission denied")


def _sf_open_error(path: Path, exc: Exception) -> AudioLoadError:
    text = str(exc).split(":", 1)[-1].strip() if ":" in str(exc) else str(exc)
    return AudioLoadError(f"{path}: not a readable audio file ({text})")


def _ffmpeg_decode(path: Path, out_wav: Path) -> None:
    """Decode any ffmpeg-readable input's first audio stream to a float32 WAV (RF64 if huge)."""
    exe = ffmpeg_path()
    if exe is None:
        raise AudioLoadError(
            f"{path}: this format needs ffmpeg, which was not found on PATH; install ffmpeg "
            "(https://ffmpeg.org) or convert the file to WAV/FLAC first")
    cmd = [exe, "-nostdin", "-v", "error", "-y", "-i", str(path), "-map", "0:a:0", "-vn",
           "-c:a", "pcm_f32le", "-rf64", "auto", "-f", "wav", str(out_wav)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise AudioLoadError(f"{path}: could not run ffmpeg ({exc})") from exc
    if proc.returncode != 0 or not out_wav.is_file() or out_wav.stat().st_size <= 44:
        msg = (proc.stderr or "").strip().splitlines()
        detail = msg[-1] if msg else "no audio stream"
        raise AudioLoadError(f"{path}: not a readable audio file ({detail[:200]})")


class AudioSource:
    """A seekable reader of float32 blocks ``(channels, frames)`` from a decodable file.

    Use :func:`open_source`; it handles the ffmpeg fallback and the temporary decode.
    """

    def __init__(self, sf_file: sf.SoundFile, name: str) -> None:
        self._f = sf_file
        self.name = name
        self.sample_rate = int(sf_file.samplerate)
        self.channels = int(sf_file.channels)
        self.frames = int(sf_file.frames)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)``; positions outside the file read as zeros.

        Raises:
            AudioLoadError: the file cannot be decoded there (corrupt or truncated).
        """
        n = stop - start
        out = np.zeros((self.channels, max(n, 0)), dtype=np.float32)
        a, b = max(start, 0), min(stop, self.frames)
        if b > a:
            try:
                self._f.seek(a)
                block = self._f.read(b - a, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioLoadError(f"{self.name}: decoding failed near {a / self.sample_rate:.1f}"
                                     f" s; the file is damaged or truncated ({exc})") from exc
            got = block.shape[0]
            if got < b - a:
                raise AudioLoadError(f"{self.name}: the file is truncated (expected {self.frames}"
                                     f" frames, decoding stopped at {a + got})")
            out[:, a - start:b - start] = block.T
        return out


def _open_sf(path: Path) -> sf.SoundFile:
    return sf.SoundFile(str(path), "r")


@contextlib.contextmanager
def _checked_source(f: sf.SoundFile, path: Path) -> Iterator[AudioSource]:
    """Wrap an open file as an :class:`AudioSource` (refusing empty files); closes it after."""
    try:
        if f.frames <= 0:
            raise AudioLoadError(f"{path}: the file holds no audio frames")
        yield AudioSource(f, str(path))
    finally:
        f.close()


@contextlib.contextmanager
def open_source(path: str | os.PathLike[str]) -> Iterator[AudioSource]:
    """Open an audio file for block reading (decoding through ffmpeg to a temporary WAV if needed).

    Raises:
        AudioLoadError: missing, empty, truncated, not audio, or ffmpeg is needed but absent.
    """
    p = Path(path)
    _check_readable(p)
    trunc = _wav_truncation(p)
    if trunc:
        raise AudioLoadError(f"{p}: {trunc}")
    try:
        f = _open_sf(p)
    except (sf.LibsndfileError, RuntimeError) as exc:
        first_error = exc
        f = None
    if f is not None:
        with _checked_source(f, p) as source:
            yield source
        return
    if ffmpeg_path() is None:
        suffix = p.suffix.lower()
        if suffix in {".m4a", ".aac", ".mp4", ".mov", ".mkv", ".webm", ".avi", ".wma", ".alac"}:
            raise AudioLoadError(
                f"{p}: reading {suffix} files needs ffmpeg, which was not found on PATH; install "
                "ffmpeg (https://ffmpeg.org) or convert the file to WAV/FLAC first")
        raise _sf_open_error(p, first_error)
    with tempfile.TemporaryDirectory(prefix="stemweave-decode-") as tmp:
        wav = Path(tmp) / "decoded.wav"
        _ffmpeg_decode(p, wav)
        try:
            f = _open_sf(wav)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise _sf_open_error(p, exc) from exc
        with _checked_source(f, p) as source:
            yield source


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Frames, rate and channels of a file (for ffmpeg-only formats this decodes it once).

    Raises:
        AudioLoadError: the file cannot be read as audio.
    """
    with open_source(path) as src:
        return AudioInfo(src.frames, src.sample_rate, src.channels, src.frames / src.sample_rate)


def load_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode a whole file.

    Returns:
        float32 ``(channels, frames)`` and the sample rate.

    Raises:
        AudioLoadError: missing, empty, truncated, not audio, or ffmpeg needed but absent.
    """
    with open_source(path) as src:
        return src.read(0, src.frames), src.sample_rate


def output_format(path: str | os.PathLike[str], format: str | None) -> str:
    """The output format (``wav``/``flac``) from ``format`` or the file suffix."""
    fmt = (format or Path(path).suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise AudioWriteError(f"Unsupported output format {fmt!r}; use wav or flac")
    return fmt


def check_bits(fmt: str, bits: str) -> str:
    """libsndfile subtype for ``bits`` in ``fmt``; raises AudioWriteError if impossible."""
    bits = str(bits).lower()
    if bits not in SUBTYPES:
        raise AudioWriteError(f"Unsupported bit depth {bits!r}; use 16, 24 or 32f")
    if fmt == "flac" and bits == "32f":
        raise AudioWriteError("FLAC cannot store 32-bit float; use --bits 16/24 or --format wav")
    return SUBTYPES[bits]


def _prepare(audio: np.ndarray, subtype: str) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise AudioWriteError(f"audio must be (channels, frames), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise AudioWriteError("audio to write contains NaN or infinite samples")
    if subtype != "FLOAT":
        peak = float(np.abs(a).max()) if a.size else 0.0
        if peak > 1.0:
            log.warning("clipping samples above full scale (peak %.2f) for integer output", peak)
            a = np.clip(a, -1.0, 1.0)
    return a.T


def save_audio(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int, *,
               format: str | None = None, bits: str = "24") -> Path:
    """Write ``(channels, frames)`` float audio atomically.

    Args:
        path: target file.
        audio: float array ``(channels, frames)`` (1-D is taken as mono).
        sample_rate: rate in Hz.
        format: ``"wav"`` or ``"flac"``; ``None`` takes it from the suffix.
        bits: ``"16"``, ``"24"`` or ``"32f"`` (float, WAV only). Integer formats clip at full scale.

    Returns:
        the path written.

    Raises:
        AudioWriteError: bad format/bits, non-finite samples or the file cannot be written.
    """
    p = Path(path)
    fmt = output_format(p, format)
    subtype = check_bits(fmt, bits)
    data = _prepare(audio, subtype)
    try:
        with atomic_path(p) as tmp:
            sf.write(str(tmp), data, int(sample_rate), subtype=subtype, format=FORMATS[fmt])
    except (OSError, sf.LibsndfileError, RuntimeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise AudioWriteError(f"{p}: cannot write ({why})") from exc
    return p


#: MP3 (MPEG-1 Layer III) sample rates; other rates are resampled to the nearest one above.
MP3_RATES = (32000, 44100, 48000)


def save_mp3(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``(channels, frames)`` float audio as a 320 kbit/s MP3, atomically.

    libsndfile's own MPEG encoder (LAME, inside the soundfile wheel) writes it; rates MP3 cannot
    hold are resampled (soxr) to 32, 44.1 or 48 kHz. Samples beyond full scale are clipped.

    Raises:
        AudioWriteError: non-finite samples, more than 2 channels, or the file cannot be written.
    """
    p = Path(path)
    data = _prepare(audio, "PCM_16")  # (frames, channels), clipped to full scale
    if data.shape[1] > 2:
        raise AudioWriteError("MP3 holds one or two channels; export stereo or mono audio")
    rate = int(sample_rate)
    if rate not in MP3_RATES:
        import soxr

        target = next((r for r in MP3_RATES if r >= rate), MP3_RATES[-1])
        data = np.clip(soxr.resample(data, rate, target), -1.0, 1.0).astype(np.float32)
        rate = target
    try:
        with atomic_path(p) as tmp:
            sf.write(str(tmp), data, rate, format="MP3", subtype="MPEG_LAYER_III",
                     bitrate_mode="CONSTANT", compression_level=0.0)
    except (OSError, sf.LibsndfileError, RuntimeError, TypeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise AudioWriteError(f"{p}: cannot write MP3 ({why})") from exc
    return p


#: A write that fails with less than this free in the folder is reported as a full disk.
DISK_FULL_BYTES = 4 << 20


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable size (``"12.3 MB"``)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class StemWriter:
    """Write one file incrementally to a hidden temporary name; ``commit()`` renames it into place.

    ``discard()`` removes the temporary file. ``rf64=True`` writes RF64 (no 4 GB limit), used
    for the engine's own temporary float stems.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, channels: int, *,
                 format: str | None = None, bits: str = "24", rf64: bool = False) -> None:
        self.path = Path(path)
        fmt = output_format(self.path, format)
        self.subtype = check_bits(fmt, bits)
        self._clipped = 0.0
        self.published = False
        try:
            tmp = temp_path_for(self.path, suffix="")
        except OSError as exc:
            raise AudioWriteError(f"{self.path.parent}: cannot write there "
                                  f"({exc.strerror or exc})") from exc
        self.tmp = Path(tmp)
        try:
            self._f = sf.SoundFile(str(self.tmp), "w", samplerate=int(sample_rate),
                                   channels=int(channels), subtype=self.subtype,
                                   format="RF64" if rf64 else FORMATS[fmt])
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            self.tmp.unlink(missing_ok=True)
            raise AudioWriteError(f"{self.path}: cannot write ({exc})") from exc

    def write(self, block: np.ndarray) -> None:
        """Append ``(channels, frames)`` float samples."""
        a = np.asarray(block, dtype=np.float32)
        if self.subtype != "FLOAT" and a.size:
            peak = float(np.abs(a).max())
            if peak > 1.0:
                self._clipped = max(self._clipped, peak)
                a = np.clip(a, -1.0, 1.0)
        try:
            self._f.write(a.T)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise self._write_error(exc) from exc

    def _write_error(self, exc: BaseException) -> AudioWriteError:
        """The error for a failed write: :class:`DiskFullError` when the folder's disk is full
        (libsndfile only says "System error."), else :class:`AudioWriteError`."""
        errno_ = getattr(exc, "errno", None)
        try:
            free = shutil.disk_usage(self.tmp.parent).free
        except OSError:
            free = None
        if errno_ == 28 or (free is not None and free < DISK_FULL_BYTES):
            return DiskFullError(f"{self.path}: the disk is full "
                                 f"({format_bytes(free or 0)} free in {self.path.parent})")
        return AudioWriteError(f"{self.path}: writing failed ({exc})")

    def close(self) -> None:
        """Finish writing (the file stays under its temporary name, see :attr:`tmp`)."""
        try:
            self._f.close()
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise self._write_error(exc) from exc

    def publish(self) -> Path:
        """Rename the finished temporary file into place (call :meth:`close` first)."""
        if self._clipped:
            log.warning("%s: clipped samples above full scale (peak %.2f); use --bits 32f to "
                        "keep them", self.path.name, self._clipped)
        self.published = True  # before the rename: a Ctrl-C just after it must still withdraw it
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.published = False
            raise AudioWriteError(f"{self.path}: cannot rename into place ({exc})") from exc
        return self.path

    def commit(self) -> Path:
        """Close and rename into place."""
        self.close()
        return self.publish()

    def discard(self) -> None:
        """Close and delete the temporary file, and the published file if :meth:`publish` ran
        (so that a group of stems can be withdrawn together). Safe to call twice."""
        with contextlib.suppress(Exception):
            self._f.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()
        if self.published:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.published = False
