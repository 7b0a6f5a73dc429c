"""The practice panel wired into the window: tempo/pitch reach the player's processor, presets
change the mixer and the lane widgets, export "as heard" includes the tempo, count-in and
metronome on a real PortAudio stream (JACK dummy server)."""

from __future__ import annotations

import time

import numpy as np
import soundfile as sf
from PySide6.QtCore import Qt

from app.widgets.export_dialog import ExportOptions
from core.practice import TempoPitch, builtin_presets


def _open(qtbot, window, path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.song_loaded, timeout=20_000):
        window.open_file(path)


def test_tempo_pitch_and_presets_reach_the_player_and_mixer(qtbot, make_window,
                                                           song_path) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    assert isinstance(w.player.processor, TempoPitch) and w.player.processor is w.stretcher
    w.practice.tempo_spin.setValue(80)
    w.practice.pitch_spin.setValue(-2)
    assert w.stretcher.tempo == 0.8 and w.stretcher.semitones == -2
    karaoke = next(p for p in builtin_presets() if p.name == "karaoke")
    w.practice.choose(karaoke)
    assert w.session.mixer.lanes[4].mute and w.lanes[4].mute_button.isChecked()
    w.practice.bpm_spin.setValue(100.0)
    assert w.settings.song_bpm == 100.0 and w.metronome.bpm == 100.0
    w.practice.metronome_check.setChecked(True)
    assert w.player.metronome is w.metronome
    w.practice.save_preset("mine")
    assert [d["name"] for d in w.settings.user_presets] == ["mine"]


def test_export_of_the_mix_as_heard_includes_the_tempo(qtbot, make_window, song_path,
                                                      tmp_path) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    w.practice.tempo_spin.setValue(75)
    opts = ExportOptions(folder=tmp_path, sources=("mix",), fmt="wav", bits="32f",
                         loop_only=False)
    with qtbot.waitSignal(w.export_ended, timeout=60_000) as blocker:
        w.export(opts)
    assert blocker.args == ["finished"], w.errors
    audio, rate = sf.read(next(tmp_path.glob("*- mix.wav")), dtype="float32")
    assert abs(audio.shape[0] - round(w.session.frames / 0.75)) <= 2


def test_count_in_plays_before_the_song_and_the_metronome_clicks(
        qtbot, make_window, song_path, jack_server) -> None:
    w = make_window()
    _open(qtbot, w, song_path)
    w.practice.bpm_spin.setValue(240.0)  # 1 bar of 4 beats = 1 s
    w.practice.count_in_combo.setCurrentIndex(1)
    assert w.practice.count_in_bars == 1
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.player.playing, w.errors
    qtbot.wait(500)
    assert w.player.position_frames == 0  # still counting in
    qtbot.waitUntil(lambda: w.player.position_s > 0.2, timeout=3000)
    w.player.pause()
    # the metronome adds clicks on top of the mix in the producer
    for lane in range(len(w.session.mixer.lanes)):  # the mix, and stems if a cache had them
        w.session.set_mute(lane, True)
    w.practice.metronome_check.setChecked(True)
    blocks: list[np.ndarray] = []
    orig = w.player._callback

    def spy(outdata, frames, t, status) -> None:  # noqa: ANN001
        orig(outdata, frames, t, status)
        blocks.append(np.abs(outdata).max(axis=1).copy())

    w.player._callback = spy  # before the stream is reopened below
    w.player._stream.close()
    w.player._stream = None
    w.player.seek(0)
    w.player.play()
    time.sleep(1.3)
    w.player.pause()
    # clicks, although the only audible lane is muted: at 240 BPM one every 0.25 s (11025
    # frames), and silence between them (every lane is muted)
    level = np.concatenate(blocks)
    beat = int(w.session.sample_rate * 60 / 240)
    loud = np.flatnonzero(level > 0.1)
    assert loud.size, "no clicks"
    onsets = loud[np.insert(np.diff(loud) > beat // 4, 0, True)]
    assert len(onsets) >= 4, onsets
    np.testing.assert_allclose(np.diff(onsets), beat, atol=0.02 * beat)
    for a, b in zip(onsets, onsets[1:]):
        assert level[a + beat // 2: b - 64].max() < 0.01  # between clicks: nothing
