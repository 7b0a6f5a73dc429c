"""Playback on a real PortAudio stream on a JACK dummy server (real-time, no sound card)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.playback import PassThrough, PlaybackError, Player
from core.mixer import Mixer

SR = 44100


class RecordingPlayer(Player):
    """A Player that also keeps the peak of every buffer it handed to PortAudio (test only)."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.peaks: list[float] = []

    def _callback(self, outdata, frames, time_info, status) -> None:  # noqa: ANN001
        super()._callback(outdata, frames, time_info, status)
        self.peaks.append(float(np.abs(outdata).max()))


def _sine_mixer(seconds: float = 6.0) -> Mixer:
    t = np.arange(int(SR * seconds)) / SR
    mix = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return Mixer(np.stack([mix, mix]), SR)


def _wait(pred, timeout_s: float) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_callback_delivers_audio_and_the_playhead_runs_at_real_time(jack_server) -> None:
    player = RecordingPlayer(_sine_mixer())
    try:
        player.play()
        assert _wait(lambda: player.position_frames > 0.2 * SR, 5.0), "playback did not start"
        p0, t0 = player.position_frames, time.monotonic()
        time.sleep(1.5)
        p1, t1 = player.position_frames, time.monotonic()
        rate = (p1 - p0) / SR / (t1 - t0)
        assert rate == pytest.approx(1.0, abs=0.12), f"playhead ran at {rate:.3f}x real time"
        assert player.callback_frames > SR  # PortAudio pulled more than a second of audio
        assert max(player.peaks) == pytest.approx(0.5, abs=0.02)  # the sine reached the device
        # mute while playing: the output fades to silence within the ring's latency
        player.mixer.set_lane(0, mute=True)
        time.sleep(0.4)
        n = len(player.peaks)
        time.sleep(0.2)
        assert max(player.peaks[n:]) < 1e-6
    finally:
        player.close()


def test_loop_wraps_and_stays_inside_the_region(jack_server) -> None:
    player = Player(_sine_mixer())
    a, b = int(0.2 * SR), int(0.5 * SR)
    player.set_loop(a, b, enabled=True)
    player.seek(a)
    positions: list[float] = []
    try:
        player.play()
        end = time.monotonic() + 1.6
        while time.monotonic() < end:
            positions.append(player.position_frames)
            time.sleep(0.005)
    finally:
        player.close()
    assert player.loop_wraps >= 3
    heard = np.array(positions[10:])
    assert heard.min() >= a - 1 and heard.max() < b
    assert (np.diff(heard) < -0.1 * SR).sum() >= 2  # the playhead jumped back at least twice


def test_seek_while_playing_and_stop_at_the_end(jack_server) -> None:
    player = Player(_sine_mixer(seconds=1.5))
    try:
        player.play()
        assert _wait(lambda: player.position_frames > 0.1 * SR, 5.0)
        player.seek(1.0 * SR)
        assert player.position_frames == 1.0 * SR
        assert _wait(lambda: player.position_frames > 1.05 * SR, 2.0)
        assert _wait(lambda: player.reached_end, 3.0), "the end of the song was not reached"
        assert player.position_frames >= 1.5 * SR - 600
    finally:
        player.close()


class HalfSpeed:
    """A crude processor that repeats every frame (tempo 0.5): exercises the hook."""

    tempo = 0.5

    def __init__(self) -> None:
        self.resets = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        return np.repeat(block, 2, axis=1)

    def reset(self) -> None:
        self.resets += 1


def test_processor_hook_maps_output_back_to_source_time(jack_server) -> None:
    player = Player(_sine_mixer())
    assert isinstance(player.processor, PassThrough)
    proc = HalfSpeed()
    player.set_processor(proc)
    try:
        player.play()
        assert _wait(lambda: player.position_frames > 0.1 * SR, 5.0)
        p0, t0 = player.position_frames, time.monotonic()
        time.sleep(1.0)
        rate = (player.position_frames - p0) / SR / (time.monotonic() - t0)
        assert rate == pytest.approx(0.5, abs=0.08)
        assert proc.resets >= 1
    finally:
        player.close()


def test_a_missing_device_raises_a_playback_error(jack_server) -> None:
    player = Player(_sine_mixer(), device="no such audio device")
    with pytest.raises(PlaybackError, match="could not be opened"):
        player.play()
    assert not player.playing
    player.close()


def test_window_space_plays_and_a_bad_device_gives_a_message(
        qtbot, make_window, song_path, jack_server) -> None:
    w = make_window()
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(song_path)
    w.activateWindow()
    w.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.player.playing, w.errors
    qtbot.waitUntil(lambda: w.player.position_s > 0.3, timeout=5000)
    qtbot.wait(100)
    assert w.lanes[3].view.playhead.value() > 0.2  # the GUI timer moved the playhead
    assert w.transport.time_label.text().startswith("0:00.")
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert not w.player.playing
    w.close()

    bad = make_window(audio_device="no such audio device")
    with qtbot.waitSignal(bad.song_loaded, timeout=20_000):
        bad.open_file(song_path)
    with qtbot.waitSignal(bad.error_shown, timeout=5000) as blocker:
        bad.toggle_play()
    assert "audio" in blocker.args[0].lower()
    assert not bad.player.playing


def test_a_song_at_another_rate_is_resampled_for_the_device(jack_server) -> None:
    rate = 48000  # the JACK server runs at 44.1 kHz and refuses other rates
    t = np.arange(rate * 3) / rate
    mix = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    player = RecordingPlayer(Mixer(np.stack([mix, mix]), rate))
    try:
        player.play()
        assert player.device_rate == SR
        assert _wait(lambda: player.position_frames > 0.2 * rate, 5.0)
        p0, t0 = player.position_frames, time.monotonic()
        time.sleep(1.0)
        speed = (player.position_frames - p0) / rate / (time.monotonic() - t0)
        assert speed == pytest.approx(1.0, abs=0.12)
        assert max(player.peaks) == pytest.approx(0.5, abs=0.03)
    finally:
        player.close()


class Broken:
    """A processor that fails: playback must stop with a message, not hang or crash."""

    tempo = 1.0

    def process(self, block: np.ndarray) -> np.ndarray:
        raise RuntimeError("boom")

    def reset(self) -> None:
        pass


def test_a_failing_processor_stops_playback_with_a_message(jack_server) -> None:
    player = Player(_sine_mixer())
    player.set_processor(Broken())
    try:
        player.play()
        assert _wait(lambda: player.error is not None, 3.0)
        assert "boom" in player.error and not player.playing
    finally:
        player.close()


def test_tempo_pitch_processor_plays_slower_with_exact_positions(jack_server) -> None:
    from core.practice import TempoPitch

    player = Player(_sine_mixer(seconds=2.0))
    tp = TempoPitch(SR, 2)
    player.set_processor(tp)
    try:
        player.play()
        assert _wait(lambda: player.position_frames > 0.1 * SR, 5.0)
        tp.set_tempo(0.75)  # from the GUI thread, while playing
        time.sleep(0.4)
        p0, t0 = player.position_frames, time.monotonic()
        time.sleep(1.0)
        rate = (player.position_frames - p0) / SR / (time.monotonic() - t0)
        assert rate == pytest.approx(0.75, abs=0.1)
        assert _wait(lambda: player.reached_end, 4.0)  # the stretcher's tail was flushed
        assert player.position_frames >= 2.0 * SR - 0.1 * SR
    finally:
        player.close()
