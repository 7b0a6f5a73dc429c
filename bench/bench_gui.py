"""GUI figures: open-to-waveform time for a 10-minute song, and the longest GUI-thread stall while
a separation runs (target < 50 ms).

The stall is measured with a QTimer heartbeat (every 10 ms) on the GUI thread: the longest gap
between two beats, minus the interval, is the longest time the window could not react. During
the separation the bench also zooms the time axis every 150 ms (redraws, like a user scrolling)
and stems arrive progressively (envelope updates, lane redraws).

Usage: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_gui.py [--minutes 10]
[--sep-seconds 30] [--model PATH]`` (model: the configured default, else the tiny fixture).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TINY = ROOT / "tests" / "fixtures" / "metatasnet" / "tiny_checkpoint.pt"


def write_song(path: Path, seconds: float, sr: int = 44100) -> Path:
    """A noisy stereo song written in blocks (16-bit WAV)."""
    rng = np.random.default_rng(0)
    block = sr * 30
    with sf.SoundFile(str(path), "w", sr, 2, subtype="PCM_16") as f:
        done = 0
        total = int(seconds * sr)
        while done < total:
            n = min(block, total - done)
            t = (np.arange(n) + done) / sr
            tone = 0.3 * np.sin(2 * np.pi * 110 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.1 * t))
            noise = 0.1 * rng.standard_normal((2, n))
            f.write((tone + noise).T.astype(np.float32))
            done += n
    return path


class Heartbeat:
    """Records the gaps between ticks of a GUI-thread timer."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.interval_s = interval_ms / 1000
        self.stamps: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.stamps.append(time.perf_counter()))

    def start(self) -> None:
        self.stamps = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> np.ndarray:
        self.timer.stop()
        gaps = np.diff(np.array(self.stamps)) - self.interval_s
        return np.maximum(gaps, 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sep-seconds", type=float, default=30.0)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    from PySide6.QtCore import QTimer

    from app.main import make_app, wait_for_signal
    from app.main_window import MainWindow
    from app.settings import Settings
    from app.stem_cache import StemCache
    from app.workers import warm_up
    from core.model_store import ModelStore

    app = make_app()
    warm_up().join()  # the app imports the engine in the background at startup
    tmp = Path(tempfile.mkdtemp(prefix="stemweave-bench-"))
    settings = Settings.from_file(tmp / "settings.ini")
    store = ModelStore(tmp / "models")
    model = args.model
    if model is None:
        try:
            model = str(ModelStore().resolve(None))
        except Exception:  # noqa: BLE001 - no installed model: use the tiny fixture
            model = str(TINY)
    settings.model = model
    settings.device = "cpu"
    window = MainWindow(settings, model_store=store, cache=StemCache(tmp / "cache"))
    window.resize(1400, 860)
    window.show()
    app.processEvents()

    # -- open-to-waveform ---------------------------------------------------------------------
    long_song = write_song(tmp / "long.wav", args.minutes * 60)
    beat = Heartbeat()
    beat.start()
    t0 = time.perf_counter()
    window.open_file(long_song)
    if not wait_for_signal(window, window.waveform_shown, 300):
        print("open failed:", window.errors)
        return 1
    window.lanes[0].view.repaint()
    t_open = time.perf_counter() - t0
    if not window.session.song_id and not wait_for_signal(window, window.song_loaded, 300):
        print("open failed:", window.errors)
        return 1
    t_loaded = time.perf_counter() - t0
    open_gaps = beat.stop()
    song = window.session
    print(f"song: {args.minutes:.1f} min stereo 44.1 kHz ({long_song.stat().st_size / 1e6:.0f} MB)")
    print(f"open-to-waveform: {t_open * 1000:.0f} ms (first decoded block's envelope painted; "
          "the rest fills in as decoding goes on)")
    print(f"  whole song decoded + envelope: {window.last_load_s * 1000:.0f} ms; content hash + "
          f"cache lookup done after {t_loaded * 1000:.0f} ms")
    print(f"  envelope levels: {len(song.envelopes[0].blocks)}, "
          f"points drawn: {window.lanes[0].view.points_drawn}")
    print(f"  longest GUI stall while opening: {open_gaps.max() * 1000:.1f} ms")

    # -- stall during separation --------------------------------------------------------------
    sep_song = write_song(tmp / "sep.wav", args.sep_seconds)
    if not (window.open_file(sep_song) and wait_for_signal(window, window.song_loaded, 120)):
        print("open failed:", window.errors)
        return 1
    zoom = QTimer()
    zoom.setInterval(150)
    toggle = [0]

    def wiggle() -> None:
        toggle[0] ^= 1
        window.zoom(0.8 if toggle[0] else 1.25)

    zoom.timeout.connect(wiggle)
    segments = [0]
    window.session.stems_changed.connect(lambda *_: segments.__setitem__(0, segments[0] + 1))
    beat.start()
    zoom.start()
    t0 = time.perf_counter()
    if window.separate() is None:
        print("separate failed:", window.errors)
        return 1
    got = wait_for_signal(window, window.separation_ended, 3600)
    t_sep = time.perf_counter() - t0
    zoom.stop()
    gaps = beat.stop()
    if not got or got[0][0] != "finished":
        print("separation did not finish:", got, window.errors)
        return 1
    print(f"separation of {args.sep_seconds:.0f} s with {Path(model).name}: {t_sep:.1f} s, "
          f"{segments[0]} progressive updates, {len(gaps)} heartbeats")
    print(f"longest GUI-thread stall during separation: {gaps.max() * 1000:.1f} ms "
          f"(p99 {np.percentile(gaps, 99) * 1000:.1f} ms, median "
          f"{np.median(gaps) * 1000:.1f} ms; target < 50 ms)")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} "
          "(1/5 min) — other processes compete for the cores")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
