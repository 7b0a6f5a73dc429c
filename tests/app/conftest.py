"""App test fixtures: a JACK dummy audio server, isolated settings/cache/models, test songs.

The JACK server runs in real time on a dummy driver (no sound card), so PortAudio streams really
run and their callbacks are called at the audio rate. It must be running before PortAudio is
initialised (``import sounddevice``); if sounddevice was imported earlier in the session,
PortAudio is re-initialised so it sees the server. At the end PortAudio is terminated before the
server stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

SAMPLE_RATE = 44100


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """Name of a running JACK dummy server (44.1 kHz, 512-frame periods)."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed (scripts/setup.sh installs jackd2)")
    name = f"stemweave-test-{os.getpid()}"
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    proc = subprocess.Popen(
        ["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", str(SAMPLE_RATE),
         "-p", "512"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        ready = False
        if shutil.which("jack_wait"):
            r = subprocess.run(["jack_wait", "-s", name, "-w", "-t", "10"],
                               capture_output=True, env=env, timeout=20, check=False)
            ready = r.returncode == 0
        else:
            time.sleep(1.5)
            ready = proc.poll() is None
        if not ready or proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
            pytest.fail(f"the JACK dummy server did not start: {out[-500:]}")
        os.environ["JACK_DEFAULT_SERVER"] = name
        os.environ["JACK_NO_START_SERVER"] = "1"
        sd = sys.modules.get("sounddevice")
        if sd is not None:  # PortAudio already initialised without the server: restart it
            sd._terminate()
            sd._initialize()
        yield name
    finally:
        sd = sys.modules.get("sounddevice")
        if sd is not None:
            try:
                sd._terminate()
            except Exception:  # noqa: BLE001 - nothing left to terminate
                pass
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_song(path: Path, seconds: float = 2.0, channels: int = 2) -> Path:
    """A short synthetic song (kick, bass, chord, vibrato melody) as 16-bit WAV."""
    sr = SAMPLE_RATE
    t = np.arange(int(sr * seconds)) / sr
    kick = np.zeros_like(t)
    for beat in np.arange(0.0, seconds, 0.5):
        i = int(beat * sr)
        tt = np.arange(min(int(0.15 * sr), len(t) - i)) / sr
        kick[i:i + len(tt)] += np.sin(2 * np.pi * 60 * tt) * np.exp(-tt * 18)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    chord = 0.12 * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    melody = 0.2 * np.sin(2 * np.pi * 440 * t + 3 * np.sin(2 * np.pi * 5 * t))
    left = 0.5 * kick + bass + chord + melody
    right = 0.5 * kick + bass + 0.8 * chord + melody
    audio = np.stack([left, right][:channels]) * 0.6
    sf.write(str(path), audio.T.astype(np.float32), sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def song_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-second stereo test song."""
    return write_song(tmp_path_factory.mktemp("songs") / "test song.wav")


@pytest.fixture(scope="session")
def stem_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stem cache shared by the session's windows (a song separated once loads instantly)."""
    return tmp_path_factory.mktemp("stem-cache")


@pytest.fixture
def make_window(qtbot, tmp_path: Path, stem_cache_dir: Path, tiny_checkpoint: Path):  # noqa: ANN001, ANN201
    """Factory of real main windows with isolated settings, model store and stem cache."""
    from app.main_window import MainWindow
    from app.settings import Settings
    from app.stem_cache import StemCache
    from core.model_store import ModelStore

    made = []

    def make(*, model: str | None = str(tiny_checkpoint), cache_dir: Path | None = None,
             audio_device: int | str | None = None, analyze: bool = False,
             remember: bool = False) -> MainWindow:
        settings = Settings.from_file(tmp_path / f"settings{len(made)}.ini")
        # the musical grid (librosa, in the background) only where a test asks for it: it
        # would snap the clicks and drags other tests make to detected beats
        settings.auto_analyze = analyze
        settings.remember_songs = remember  # songs that remember: only where a test asks
        settings.model = model or ""
        settings.device = "cpu"
        settings.export_dir = str(tmp_path / "exports")
        w = MainWindow(settings, model_store=ModelStore(tmp_path / "models"),
                       cache=StemCache(cache_dir or stem_cache_dir), audio_device=audio_device)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    from PySide6.QtWidgets import QApplication

    for w in made:
        w.close()  # cancels the window's workers and waits for their threads
    # deliver what those workers queued (finished, returned, ...) while the windows still exist,
    # so no call for a deleted window is left in the queue for a later test's event processing
    QApplication.processEvents()
    QApplication.sendPostedEvents()


@contextlib.contextmanager
def separation_held_after_first_window(qtbot: Any, window: Any,
                                       timeout_ms: int = 90_000) -> Iterator[Any]:
    """Start ``window.separate()`` and hold its worker after the first window (of a song longer
    than one window), so that a test can check the window and cancel at a known point: a quick
    model could otherwise finish before a cancel lands. The worker is held at the separator
    cache's lock until a direct-connected progress handler (run on the worker's thread) is in
    place, so no progress report is missed; leaving the block releases it, and the engine's
    cancel check before the next window then sees a cancel made inside the block."""
    import threading

    from app import workers

    at_first_window, go_on = threading.Event(), threading.Event()

    def hold(fraction: float, _eta: float) -> None:  # runs on the worker's thread
        if fraction < 1.0 and not at_first_window.is_set():
            at_first_window.set()
            go_on.wait(timeout_ms / 1000)

    try:
        with workers._SEPARATORS_LOCK:
            worker = window.separate()
            assert worker is not None
            worker.progressed.connect(hold)
        qtbot.waitUntil(at_first_window.is_set, timeout=timeout_ms)
        yield worker
    finally:
        go_on.set()
