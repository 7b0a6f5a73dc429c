"""Meters, master volume and clip protection in the real window, playing on a real PortAudio
stream (JACK dummy server): lane and master meters move, a muted lane's does not, they fall
after a pause; the master volume reaches the player; the limiter keeps +12 dB stems under the
ceiling, lights up, and the exported mix as heard does not clip."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from PySide6.QtCore import Qt

from app.widgets.export_dialog import ExportOptions
from app.widgets.meters import FLOOR_DB


def _open(qtbot, window, path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.song_loaded, timeout=20_000):
        window.open_file(path)


def test_meters_follow_playback_and_mutes(qtbot, make_window, song_path, jack_server,
                                          tmp_path) -> None:
    w = make_window(cache_dir=tmp_path / "cache")  # not separated: the mix lane plays
    _open(qtbot, w, song_path)
    w.set_loop(0.0, w.session.duration_s)  # keeps playing while the meters fall
    w.toggle_play()
    assert w.player.playing, w.errors
    qtbot.waitUntil(lambda: w.meter_levels().get(-1, (FLOOR_DB,))[0] > -30.0, timeout=5000)
    levels = w.meter_levels()
    assert levels[0][0] > -30.0 and levels[0][0] >= levels[0][1]  # peak above RMS
    assert all(levels[i][0] == FLOOR_DB for i in range(1, 5))  # no stems yet
    assert w.master_meter.peak_db > -30.0 and w.lanes[0].meter.rms_db > -50.0
    w.session.set_mute(0, True)  # nothing is heard: every meter falls to the floor
    qtbot.waitUntil(lambda: not w.meters_moving(), timeout=6000)
    assert w.player.playing and w.lanes[0].meter.peak_db == FLOOR_DB
    w.session.set_mute(0, False)
    qtbot.waitUntil(lambda: w.meters_moving(), timeout=3000)
    w.toggle_play()
    qtbot.waitUntil(lambda: not w.meters_moving(), timeout=6000)  # and after a pause
    assert w.master_meter.peak_db == FLOOR_DB


def test_master_volume_and_clip_protection(qtbot, make_window, song_path, jack_server,
                                           tmp_path) -> None:
    w = make_window(cache_dir=tmp_path / "cache")  # unseparated: the mix lane plays
    _open(qtbot, w, song_path)
    w.set_loop(0.0, w.session.duration_s)  # keeps playing however long the checks take
    w.master_slider.setValue(-200)  # -20 dB
    assert abs(w.player.master_gain - 0.1) < 1e-6 and w.settings.master_db == -20.0
    qtbot.mouseDClick(w.master_slider, Qt.MouseButton.LeftButton)
    assert w.player.master_gain == 1.0 and w.master_label.text() == "+0.0 dB"
    assert w.limit_action.isChecked() and w.player.limiter is not None
    for lane in range(len(w.session.mixer.lanes)):
        w.session.set_gain_db(lane, 12.0)  # the issue's +12 dB: the mix peaks far above 0 dBFS
    w.toggle_play()
    assert w.player.playing, w.errors
    qtbot.waitUntil(lambda: w.player.limiter.total_limited > 5, timeout=10_000)
    qtbot.waitUntil(lambda: bool(w.limit_light.property("acting")), timeout=3000)
    assert w.master_meter.peak_db > 0.0  # the meter shows the overload before the limiter
    w.toggle_play()
    # the exported mix as heard is limited too
    opts = ExportOptions(folder=tmp_path / "out", sources=("mix",), fmt="wav", bits="32f",
                         loop_only=False)
    with qtbot.waitSignal(w.export_ended, timeout=60_000):
        w.export(opts)
    audio, _ = sf.read(next((tmp_path / "out").iterdir()), dtype="float32")
    assert np.abs(audio).max() <= 10 ** (-0.3 / 20) + 1e-5
    raw = w.session.mixer.render_offline(0, w.session.frames)
    assert np.abs(raw).max() > 1.2  # it would have clipped
    w.limit_action.trigger()  # off
    assert w.player.limiter is None and not w.settings.limiter
