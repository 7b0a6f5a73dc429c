"""Background work on QThreads: loading, separation, spectrograms, export, model downloads.

Each job is a :class:`Worker` (a QObject moved to its own QThread by :class:`WorkerPool`). One
place, :meth:`Worker.run`, turns the job's outcome into signals (the shape of superqt's workers):
``progressed(fraction, eta_s)`` (``eta_s < 0``: unknown) while it runs, then exactly one of
``returned(result)``, ``errored(exception)`` or ``aborted(exception)``, then ``finished()``.
Errors travel as the exception object (:func:`describe_error` words it for a person). Signals
cross to the GUI thread as queued calls, so slots run on the GUI thread; handlers are wired in
one dict (``WorkerPool.start(worker, connect={"returned": ..., ...})``).

Cancellation is cooperative: :meth:`Worker.cancel` sets a flag the job polls (the engine's
``cancel`` callback); the job stops by raising :class:`core.errors.Cancelled` (any subclass: a
separation's, a download's, a render's), which becomes ``aborted``. Nothing matches class names.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.session import LoadedSong
from app.stem_cache import StemCache, cache_key, file_identity, model_identity
from core.display import EnvelopePyramid, Spectrogram, log_spectrogram
from core.errors import AudioLoadError, Cancelled, SeparationError, StemweaveError
from core.mixer import Mixer

log = logging.getLogger(__name__)


def lower_thread_priority(nice: int = 10) -> None:
    """Make the calling (worker) thread yield the CPU to the GUI thread and the audio callback.

    On Linux a thread is a task with its own nice value, and threads it starts (torch's pool)
    inherit it; elsewhere this does nothing.
    """
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except OSError as exc:
        log.debug("could not lower the worker's priority: %s", exc)


def warm_up() -> threading.Thread:
    """Import the separation engine (torch) on a background thread at startup, so that the
    first Separate does not pay for it while the user waits."""

    def run() -> None:
        try:
            import core.separator  # noqa: F401
        except Exception as exc:  # reported again, properly, when separating
            log.warning("could not import the separation engine: %s", exc)

    thread = threading.Thread(target=run, name="stemweave-warm-up", daemon=True)
    thread.start()
    return thread


def describe_error(error: BaseException) -> str:
    """A message for a person about a job's failure (``errored``'s exception)."""
    if isinstance(error, StemweaveError):
        return str(error)
    if isinstance(error, MemoryError):
        return "Not enough memory for this song."
    return f"Unexpected error ({type(error).__name__}): {error}"


class Worker(QObject):
    """Base class: override :meth:`work`; call :meth:`report` for progress.

    Signals:
        progressed(fraction, eta_s): fraction in [0, 1], ETA in seconds (< 0: unknown).
        returned(result): the job's result (``()`` for ``None``).
        errored(exception): the job failed; the exception object (see :func:`describe_error`).
        aborted(exception): the job stopped on request (a :class:`core.errors.Cancelled`).
        finished(): always last, whatever the outcome.
    """

    # Never send None through an ``object`` signal across threads: PySide6 mis-counts its
    # references (crash).
    progressed = Signal(float, float)
    returned = Signal(object)
    errored = Signal(object)
    aborted = Signal(object)
    finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()
        self._last_report = 0.0

    def cancel(self) -> None:
        """Ask the job to stop at its next check (thread-safe)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancel.is_set()

    def report(self, fraction: float, eta_s: float | None = None, *, force: bool = False) -> None:
        """Emit ``progressed`` (throttled to 20 per second)."""
        now = time.monotonic()
        if force or now - self._last_report >= 0.05 or fraction >= 1.0:
            self._last_report = now
            self.progressed.emit(float(fraction), -1.0 if eta_s is None else float(eta_s))

    def work(self) -> Any:
        """Do the job on the worker thread; return the result."""
        raise NotImplementedError

    @Slot()
    def run(self) -> None:
        """Run :meth:`work` and emit the outcome (called on the worker thread)."""
        try:
            result = self.work()
        except Cancelled as exc:
            self.aborted.emit(exc)
        except (StemweaveError, MemoryError) as exc:
            self.errored.emit(exc)
        except Exception as exc:  # a bug: report it instead of killing the thread silently
            log.exception("worker %s failed", type(self).__name__)
            self.errored.emit(exc)
        else:
            self.returned.emit(result if result is not None else ())
        finally:
            self.finished.emit()


#: threads that did not stop at shutdown: kept alive until the process ends.
_ORPHANS: list[tuple[QObject, QThread]] = []


class WorkerPool(QObject):
    """Starts workers on their own QThreads and keeps them alive until they end."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: dict[Worker, QThread] = {}

    def start(self, worker: Worker,
              connect: Mapping[str, Callable[..., Any]] | None = None) -> Worker:
        """Run ``worker`` on a new thread; returns it.

        Args:
            worker: the job.
            connect: handlers by signal name, e.g. ``{"returned": self._done, "errored":
                self._failed, "aborted": self._stopped}``. Use *bound methods of QObjects*
                (not lambdas): only then does Qt queue the call to the receiver's (GUI) thread.

        Raises:
            AttributeError: ``connect`` names a signal the worker does not have.
        """
        for name, handler in (connect or {}).items():
            getattr(worker, name).connect(handler)
        thread = QThread()
        thread.setObjectName(type(worker).__name__)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.finished.connect(self._ended)
        self._running[worker] = thread
        thread.start()
        return worker

    @Slot()
    def _ended(self) -> None:
        worker = self.sender()
        thread = self._running.pop(worker, None)  # type: ignore[arg-type]
        if thread is not None:
            thread.quit()
            thread.wait()

    def running(self) -> list[Worker]:
        """Workers still running."""
        return list(self._running)

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Cancel every worker and wait for the threads (window closing).

        Cancellation is cooperative (a separation stops after its current window), so this
        waits; a thread still running after ``timeout_ms`` is kept referenced rather than
        destroyed while running (which would abort the process).
        """
        for worker in list(self._running):
            worker.cancel()
        for worker, thread in list(self._running.items()):
            thread.quit()
            if thread.wait(timeout_ms):
                self._running.pop(worker, None)
            else:
                log.warning("worker %s did not stop in time", type(worker).__name__)
                _ORPHANS.append((worker, thread))
                self._running.pop(worker, None)


# ------------------------------------------------------------------------------------ jobs
class LoadWorker(Worker):
    """Decode a song, compute its waveform envelope and identity; fetch cached stems.

    Emits ``decoded(song)`` as soon as the mixture and its envelope exist (the window shows the
    waveform then), and ``finished(song)`` once the content hash and the cache lookup are done
    (the same object, with ``song_id``, ``cache_key`` and possibly ``stems`` filled in).

    Every block is checked before it enters the mixture: a NaN or infinite sample fails the load
    with :class:`core.errors.AudioLoadError` (in the first block, before ``decoded``; in a later
    one, after it: the window then drops the song it was showing).

    Args:
        path: the song.
        cache: where separations are cached (``None``: no cache lookup).
        model_id: identity of the model that would separate it (see
            :func:`app.stem_cache.model_identity`); ``""`` when no model is usable.
    """

    decoded = Signal(object)
    #: frames decoded per block (about 24 s at 44.1 kHz)
    BLOCK_FRAMES = 1 << 20

    def __init__(self, path: str | Path, cache: StemCache | None = None,
                 model_id: str = "") -> None:
        super().__init__()
        self.path = Path(path)
        self.cache = cache
        self.model_id = model_id

    def work(self) -> LoadedSong:
        from core.audio import open_source

        t0 = time.perf_counter()
        with open_source(self.path) as src:
            frames, rate, channels = src.frames, src.sample_rate, src.channels
            if frames <= 0:
                raise StemweaveError(f"{self.path}: the file holds no audio")
            # decode in blocks: the window shows the waveform after the first block and it
            # fills in as decoding goes on (undecoded frames are silent)
            mix = np.zeros((channels, frames), dtype=np.float32)
            envelope = EnvelopePyramid(mix, compute=False)
            song = LoadedSong(self.path, mix, int(rate), envelope, "", 0.0)
            for a in range(0, frames, self.BLOCK_FRAMES):
                if self.is_cancelled():
                    raise Cancelled("cancelled")
                b = min(frames, a + self.BLOCK_FRAMES)
                block = src.read(a, b)
                if not np.isfinite(block).all():  # the engine could not separate it
                    raise AudioLoadError(
                        f"{self.path}: the audio contains NaN or infinite samples")
                mix[:, a:b] = block
                envelope.update(a, b)
                if a == 0:
                    self.decoded.emit(song)
                else:
                    self.report(b / frames)
        song.load_s = time.perf_counter() - t0
        self.report(1.0, force=True)
        try:
            song.song_id = file_identity(self.path)
        except OSError as exc:
            raise StemweaveError(f"{self.path}: cannot be read ({exc.strerror})") from exc
        song_id = song.song_id
        if self.cache is not None and self.model_id:
            song.cache_key = cache_key(song_id, self.model_id)
            stems = self.cache.load(song.cache_key, frames=mix.shape[1])
            names = self.cache.stem_names(song.cache_key) if stems is not None else ()
            if (stems is not None and stems.shape[1] == mix.shape[0]
                    and len(names) == stems.shape[0]):
                song.stems = stems
                song.stem_names = names
                song.stem_envelopes = [EnvelopePyramid(stem) for stem in stems]
        return song


_SEPARATORS: dict[tuple[str, str, bool], Any] = {}
_SEPARATORS_LOCK = threading.Lock()


def get_separator(model_path: Path, device: str, wiener: bool = True) -> Any:
    """A :class:`core.separator.Separator` for the model file (reused while it is unchanged).

    ``wiener``: the post-filter where the model's family runs it (Meta-TasNet); ``False``: the
    network's raw output."""
    from core.separator import Separator

    key = (model_identity(model_path), device, bool(wiener))
    with _SEPARATORS_LOCK:
        sep = _SEPARATORS.get(key)
    if sep is None:
        # leave one core to the GUI thread (and the audio callback) while separating
        threads = max(1, (os.cpu_count() or 2) - 1)
        sep = Separator(model_path, device=device, threads=threads,
                        wiener=None if wiener else False)
        with _SEPARATORS_LOCK:
            _SEPARATORS.clear()  # keep one model in memory
            _SEPARATORS[key] = sep
    return sep


class SeparationWorker(Worker):
    """Separate the open song, delivering stems into the mixer as segments finish.

    Signals:
        segment_ready(start_frame, stop_frame): stems (and their envelopes) are valid up to
            ``stop_frame``; emitted on the worker thread, received queued.
    """

    segment_ready = Signal(int, int)

    def __init__(self, mixer: Mixer, envelopes: list[EnvelopePyramid], model_path: Path,
                 device: str, *, cache: StemCache | None = None, cache_key: str | None = None,
                 cache_info: dict | None = None, wiener: bool = True) -> None:
        super().__init__()
        self.mixer = mixer
        self.envelopes = envelopes
        self.model_path = Path(model_path)
        self.device = device
        self.cache = cache
        self.cache_key = cache_key
        self.cache_info = cache_info or {}
        self.wiener = wiener

    def work(self) -> np.ndarray:
        lower_thread_priority()
        sep = get_separator(self.model_path, self.device, self.wiener)
        if self.is_cancelled():
            raise Cancelled("cancelled")
        mixer = self.mixer
        stems = mixer.stems
        assert stems is not None, "allocate the stems before separating"
        if tuple(sep.stems) != mixer.stem_names:
            raise SeparationError(
                f"{self.model_path.name} separates {', '.join(sep.stems)}, but stems for "
                f"{', '.join(mixer.stem_names)} were prepared")

        def on_segment(start: int, block: np.ndarray) -> None:
            stop = mixer.deliver(start, block)
            for env in self.envelopes:
                env.update(start, stop)
            self.segment_ready.emit(int(start), int(stop))

        def progress(p: Any) -> None:
            self.report(p.fraction, p.eta_s)

        # The engine writes straight into the mixer's buffer, so the stems exist once.
        direct = (stems.flags.writeable and stems.dtype == np.float32
                  and stems.shape == (len(sep.stems), *np.shape(mixer.mix)))
        sep.separate(mixer.mix, mixer.sample_rate, progress=progress,
                     cancel=self.is_cancelled, on_segment=on_segment,
                     out=stems if direct else None)
        mixer.available_frames = mixer.frames
        if self.cache is not None and self.cache_key:
            try:
                self.cache.store(self.cache_key, stems,
                                 {**self.cache_info, "stems": list(mixer.stem_names)})
            except OSError as exc:  # a full disk must not lose the separation itself
                log.warning("could not write the stem cache: %s", exc)
        return stems


class SpectrogramWorker(Worker):
    """Compute the log-frequency spectrogram of one lane."""

    def __init__(self, lane: int, audio: np.ndarray, sample_rate: int) -> None:
        super().__init__()
        self.lane = lane
        self.audio = audio
        self.sample_rate = sample_rate

    def work(self) -> tuple[int, Spectrogram]:
        lower_thread_priority()
        spec = log_spectrogram(self.audio, self.sample_rate,
                               progress=lambda f: self.report(f), cancel=self.is_cancelled)
        if self.is_cancelled():
            raise Cancelled("cancelled")
        return self.lane, spec


@dataclass(frozen=True)
class ExportJob:
    """One file to write: ``source`` is ``"mix"`` (as heard) or a stem's name."""

    path: Path
    source: str


class ExportWorker(Worker):
    """Write stems and/or the mix as heard to WAV/FLAC/MP3 files (each atomically).

    The mix as heard includes the practice tempo and pitch; stems get them too with
    ``stems_as_heard`` (else they keep the song's own tempo and key).
    """

    def __init__(self, jobs: list[ExportJob], mixer: Mixer, start_frame: int, stop_frame: int,
                 *, fmt: str, bits: str, tempo: float = 1.0, semitones: float = 0.0,
                 stems_as_heard: bool = False, master_gain: float = 1.0,
                 limit: bool = False) -> None:
        super().__init__()
        self.master_gain = float(master_gain)
        self.limit = bool(limit)
        self.tempo = float(tempo)
        self.semitones = float(semitones)
        self.stems_as_heard = bool(stems_as_heard)
        self.jobs = jobs
        self.mixer = mixer.snapshot()  # the mix as heard now; playback keeps its own state
        self.start_frame = int(start_frame)
        self.stop_frame = int(stop_frame)
        self.fmt = fmt
        self.bits = bits

    def work(self) -> list[Path]:
        from core.audio import save_audio, save_mp3

        lower_thread_priority()
        written: list[Path] = []
        n = len(self.jobs)
        a, b = self.start_frame, self.stop_frame
        stretch = self.tempo != 1.0 or self.semitones != 0.0
        for i, job in enumerate(self.jobs):
            if self.is_cancelled():
                raise Cancelled("cancelled")
            stretch_this = stretch and (job.source == "mix" or self.stems_as_heard)
            if job.source == "mix":
                share = 0.3 if stretch_this else 0.8
                audio = self.mixer.render_offline(
                    a, b, progress=lambda f, i=i, k=share: self.report((i + k * f) / n),
                    cancel=self.is_cancelled)
                if self.is_cancelled():
                    raise Cancelled("cancelled")
            else:
                stem = self.mixer.stem(job.source)
                if stem is None:
                    raise StemweaveError("Separate the song before exporting stems.")
                audio = np.asarray(stem[:, a:b])
            if stretch_this:  # the practice tempo and pitch, as heard
                from core.practice import render_offline as stretch_offline

                audio = stretch_offline(
                    audio, self.mixer.sample_rate, self.tempo, self.semitones,
                    progress=lambda f, i=i: self.report((i + 0.3 + 0.6 * f) / n),
                    cancel=self.is_cancelled)
                if self.is_cancelled():
                    raise Cancelled("cancelled")
            if job.source == "mix":  # master volume and clip protection, as heard
                if self.master_gain != 1.0:
                    audio = audio * np.float32(self.master_gain)
                if self.limit:
                    from core.limiter import limit

                    audio = limit(audio, self.mixer.sample_rate)
            if self.fmt == "mp3":
                written.append(save_mp3(job.path, audio, self.mixer.sample_rate))
            else:
                written.append(save_audio(job.path, audio, self.mixer.sample_rate,
                                          format=self.fmt, bits=self.bits))
            self.report((i + 1) / n, force=True)
        return written


class DownloadWorker(Worker):
    """Download a catalogue model through :class:`core.model_store.ModelStore` (a cancel
    ends in ``aborted`` with :class:`core.model_store.DownloadCancelled`)."""

    def __init__(self, store: Any, name: str) -> None:
        super().__init__()
        self.store = store
        self.name = name
        self.bytes_done = 0
        self.bytes_total: int | None = None

    def work(self) -> Path:
        def progress(done: int, total: int | None) -> None:
            self.bytes_done, self.bytes_total = done, total
            self.report(done / total if total else 0.0, None)

        return self.store.download(self.name, progress=progress, cancel=self.is_cancelled)
