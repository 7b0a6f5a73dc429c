"""The audio output chosen in Settings, on a real PortAudio stream (JACK dummy server): the
dialog lists PortAudio's outputs, OK moves a playing song onto the chosen one and the choice is
kept; a chosen output that is not connected falls back to the default with a note."""

from __future__ import annotations

from app.settings import Settings

SR = 44100


def _open(qtbot, window, path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.song_loaded, timeout=20_000):
        window.open_file(path)


def test_settings_move_playback_to_the_chosen_output(qtbot, make_window, song_path, jack_server,
                                                     tmp_path) -> None:
    import sounddevice as sd

    w = make_window(cache_dir=tmp_path / "cache")
    _open(qtbot, w, song_path)
    w.set_loop(0.0, w.session.duration_s)  # keeps playing however long the checks take
    w.toggle_play()
    assert w.player.playing and w.player.device is None, w.errors
    qtbot.waitUntil(lambda: w.player.position_s > 0.2, timeout=5000)
    first = w.player._stream

    w.settings_dialog()
    dlg = w.settings_dlg
    assert dlg is not None and dlg.isVisible()
    combo = dlg.output_combo
    offered = [combo.itemText(i) for i in range(combo.count())]
    outputs = [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]
    assert offered == ["System default", *outputs] and "system" in offered  # JACK's output
    combo.setCurrentIndex(combo.findData("system"))
    dlg.accept()

    assert w.settings_dlg is None and w.settings.audio_output == "system"
    player = w.player
    assert player.device == "system" and player.playing, w.errors
    assert player._stream is not first and player._stream.active
    assert sd.query_devices(player._stream.device)["name"] == "system"
    frames = player.callback_frames
    qtbot.waitUntil(lambda: player.callback_frames > frames + SR // 4, timeout=5000)
    w.toggle_play()

    w.settings.sync()  # kept: a new window with these settings plays on it
    kept = Settings.from_file(w.settings.store.fileName())
    assert kept.audio_output == "system"
    w2 = make_window(cache_dir=tmp_path / "cache")
    w2.settings.audio_output = kept.audio_output
    _open(qtbot, w2, song_path)
    assert w2.player.device == "system" and w2.output_note == ""


def test_an_unplugged_output_falls_back_to_the_default(qtbot, make_window, song_path,
                                                       jack_server, tmp_path) -> None:
    w = make_window(cache_dir=tmp_path / "cache")
    w.settings.audio_output = "USB headphones that are not here"
    _open(qtbot, w, song_path)
    assert w.player.device is None
    assert "not connected" in w.statusBar().currentMessage()
    w.toggle_play()
    assert w.player.playing, w.errors
    qtbot.waitUntil(lambda: w.player.position_s > 0.2, timeout=5000)
    w.toggle_play()
    w.settings_dialog()
    combo = w.settings_dlg.output_combo
    assert combo.currentText() == "USB headphones that are not here (not connected)"
    w.settings_dlg.reject()
    assert w.settings.audio_output == "USB headphones that are not here"
