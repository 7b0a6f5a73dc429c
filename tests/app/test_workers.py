"""Workers: one outcome signal each (returned / errored / aborted, then finished) carrying the
result or the exception object; every cancel is a core.errors.Cancelled; stems by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.session import LoadedSong, Session
from app.stem_cache import StemCache, cache_key, file_identity
from app.workers import (
    ExportJob,
    ExportWorker,
    LoadWorker,
    SeparationWorker,
    Worker,
    WorkerPool,
    describe_error,
)
from core.config import STEMS
from core.display import EnvelopePyramid
from core.errors import Cancelled, SeparationCancelled, SeparationError, StemweaveError
from core.mixer import Mixer
from core.model_store import DownloadCancelled
from core.practice import PracticeCancelled, render_offline
from tests.app.conftest import write_song

SIX = ("drums", "bass", "other", "vocals", "guitar", "piano")


class _Job(Worker):
    def __init__(self, action) -> None:  # noqa: ANN001
        super().__init__()
        self.action = action

    def work(self) -> object:
        return self.action(self)


def _outcome(qtbot, worker: Worker,  # noqa: ANN001
             timeout_ms: int = 30_000) -> list[tuple[str, object]]:
    """Run ``worker`` on a pool; the signals it emitted, in order."""
    got: list[tuple[str, object]] = []
    for name in ("returned", "errored", "aborted"):
        getattr(worker, name).connect(lambda value, name=name: got.append((name, value)))
    worker.finished.connect(lambda: got.append(("finished", None)))
    pool = WorkerPool()
    with qtbot.waitSignal(worker.finished, timeout=timeout_ms):
        pool.start(worker)
    qtbot.waitUntil(lambda: not pool.running(), timeout=5000)
    return got


def _raise(exc: BaseException):  # noqa: ANN202
    def action(_worker: Worker) -> None:
        raise exc
    return action


def test_every_cancel_is_one_type() -> None:
    assert issubclass(SeparationCancelled, Cancelled)
    assert issubclass(DownloadCancelled, Cancelled)
    assert issubclass(PracticeCancelled, Cancelled)
    assert issubclass(Cancelled, StemweaveError)
    audio = np.zeros((2, 44100), np.float32)
    with pytest.raises(Cancelled):  # the practice render's cancel, as an export meets it
        render_offline(audio, 44100, 0.8, 0.0, cancel=lambda: True)


def test_outcomes_carry_the_result_or_the_exception_object(qtbot) -> None:
    assert _outcome(qtbot, _Job(lambda w: 42)) == [("returned", 42), ("finished", None)]
    assert _outcome(qtbot, _Job(lambda w: None)) == [("returned", ()), ("finished", None)]
    for exc, signal in [(SeparationError("bad input"), "errored"),
                        (SeparationCancelled("stop"), "aborted"),
                        (DownloadCancelled("stop"), "aborted"),
                        (Cancelled("stop"), "aborted"),
                        (MemoryError(), "errored"),
                        (ValueError("a bug"), "errored")]:
        got = _outcome(qtbot, _Job(_raise(exc)))
        assert [name for name, _ in got] == [signal, "finished"], exc
        assert got[0][1] is exc  # the object itself, not a string or a class name
    assert describe_error(SeparationError("bad input")) == "bad input"
    assert describe_error(MemoryError()) == "Not enough memory for this song."
    assert describe_error(ValueError("a bug")) == "Unexpected error (ValueError): a bug"


def test_a_cancelled_flag_ends_in_aborted(qtbot) -> None:
    def action(worker: Worker) -> None:
        worker.cancel()
        if worker.is_cancelled():
            raise Cancelled("cancelled")
    got = _outcome(qtbot, _Job(action))
    assert [n for n, _ in got] == ["aborted", "finished"] and isinstance(got[0][1], Cancelled)


def test_pool_wires_handlers_from_one_dict(qtbot) -> None:
    worker = _Job(lambda w: "done")
    pool = WorkerPool()
    with pytest.raises(AttributeError):
        pool.start(_Job(lambda w: None), {"no_such_signal": print})
    got: list[object] = []
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        pool.start(worker, {"returned": got.append})
    qtbot.waitUntil(lambda: not pool.running(), timeout=5000)
    assert got == ["done"]


def test_session_with_a_six_stem_model(qtbot, tmp_path: Path) -> None:
    """Cached six-stem separation -> LoadWorker -> Session: seven lanes, stems by name."""
    song_path = write_song(tmp_path / "song.wav", seconds=1.0)
    mix = sf.read(song_path, dtype="float32", always_2d=True)[0].T
    rng = np.random.default_rng(2)
    stems = rng.uniform(-0.1, 0.1, size=(6, *mix.shape)).astype(np.float32)
    cache = StemCache(tmp_path / "cache")
    key = cache_key(file_identity(song_path), "six-stem-model")
    cache.store(key, stems, {"stems": list(SIX)})
    assert cache.stem_names(key) == SIX

    worker = LoadWorker(song_path, cache, "six-stem-model")
    got = _outcome(qtbot, worker)
    assert got[0][0] == "returned", got
    song: LoadedSong = got[0][1]
    assert song.stem_names == SIX and song.stems.shape == (6, *mix.shape)

    session = Session()
    session.open_song(song)
    assert session.lane_names == ("mix", *SIX) and len(session.envelopes) == 7
    assert session.stems_complete and session.mixer.stem_names == SIX
    np.testing.assert_array_equal(session.lane_audio(6), stems[5])
    session.drop_stems()
    assert len(session.envelopes) == 7 and session.envelopes[1:] == [None] * 6
    assert session.lane_audio(6) is None
    mixer, envs = session.prepare_stems(STEMS)  # a four-stem model separates now
    assert session.lane_names == ("mix", *STEMS) and len(envs) == 4
    assert mixer.stems.shape == (4, *mix.shape) and len(session.envelopes) == 5


def test_export_writes_stems_by_name(qtbot, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    stems = rng.uniform(-0.1, 0.1, size=(6, 2, 8000)).astype(np.float32)
    mixer = Mixer(stems.sum(0), 8000, stems, stem_names=SIX)
    jobs = [ExportJob(tmp_path / "piano.wav", "piano"), ExportJob(tmp_path / "bass.wav", "bass")]
    got = _outcome(qtbot, ExportWorker(jobs, mixer, 0, 8000, fmt="wav", bits="32f"))
    assert got[0] == ("returned", [j.path for j in jobs])
    np.testing.assert_array_equal(sf.read(tmp_path / "piano.wav", dtype="float32")[0].T,
                                  stems[5])
    np.testing.assert_array_equal(sf.read(tmp_path / "bass.wav", dtype="float32")[0].T, stems[1])
    got = _outcome(qtbot, ExportWorker([ExportJob(tmp_path / "x.wav", "cello")], mixer, 0, 10,
                                       fmt="wav", bits="16"))
    assert got[0][0] == "errored" and "cello" in describe_error(got[0][1])


def test_separation_refuses_stems_of_another_model(qtbot, tmp_path: Path,
                                                    tiny_native: Path) -> None:
    mix = np.zeros((2, 8000), np.float32)
    mixer = Mixer(mix, 8000)
    mixer.allocate_stems(SIX)  # prepared for six stems; the tiny model separates four
    envs = [EnvelopePyramid(s, compute=False) for s in mixer.stems]
    got = _outcome(qtbot, SeparationWorker(mixer, envs, tiny_native, "cpu"))
    assert got[0][0] == "errored" and isinstance(got[0][1], SeparationError)
    assert "drums, bass, other, vocals" in str(got[0][1]) and "piano" in str(got[0][1])


def test_separation_writes_into_the_mixer_stems_once(qtbot, tiny_native: Path) -> None:
    """The engine fills the mixer's buffer itself: no second full-length copy of the stems
    (Python-side peak memory of the worker vs the engine allocating its own output)."""
    import tracemalloc

    from app.workers import get_separator

    rate = 16000
    t = np.arange(14 * rate) / rate
    mix = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)])
    mixer = Mixer(mix.astype(np.float32), rate)
    mixer.allocate_stems(STEMS)
    # a low-priority worker on a busy machine: allow minutes, not seconds
    _outcome(qtbot, SeparationWorker(mixer, [], tiny_native, "cpu"), 300_000)  # loads the model
    mixer.allocate_stems(STEMS)
    stems = mixer.stems
    envs = [EnvelopePyramid(s, compute=False) for s in stems]
    tracemalloc.start()
    try:
        got = _outcome(qtbot, SeparationWorker(mixer, envs, tiny_native, "cpu"), 300_000)
        worker_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        own = get_separator(tiny_native, "cpu").separate(mixer.mix, rate)
        engine_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert got[0][0] == "returned", got
    assert got[0][1] is stems and mixer.stems is stems
    assert mixer.available_frames == mixer.frames
    # (the worker thread may use another OpenMP thread count: rounding differs)
    np.testing.assert_allclose(stems, own, rtol=0, atol=1e-4 * np.abs(own).max())
    assert engine_peak - worker_peak >= 0.9 * stems.nbytes, (engine_peak, worker_peak)
