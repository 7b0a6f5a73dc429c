"""Export from the real window: loop files named by bars (or times), replacing files only after
asking, Cancel for a running export, "Show in folder", MP3, tempo/pitch for stems on request,
and a dialog that says what "as heard" includes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtWidgets import QMessageBox

from app.widgets.export_dialog import ExportDialog, ExportOptions
from core.analysis import Analysis, ChordSpan

SEPARATE_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory):  # noqa: ANN001, ANN201
    """A stem cache of this module's own: the session's shared one must not get this song's
    stems (other modules test opening it unseparated)."""
    return tmp_path_factory.mktemp("export-cache")


@pytest.fixture
def window(qtbot, make_window, song_path, export_cache):  # noqa: ANN001, ANN201
    w = make_window(cache_dir=export_cache)
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(song_path)
    if not w.session.stems_complete:
        with qtbot.waitSignal(w.separation_ended, timeout=SEPARATE_TIMEOUT_MS) as blocker:
            w.separate()
        assert blocker.args == ["finished"], w.errors
    return w


def _export(qtbot, w, opts, outcome="finished", **kw):  # noqa: ANN001, ANN202
    with qtbot.waitSignal(w.export_ended, timeout=60_000) as blocker:
        assert w.export(opts, **kw) is not None
    assert blocker.args == [outcome], w.errors


def test_loop_files_are_named_by_bars_or_times(qtbot, window, tmp_path) -> None:
    w = window
    tmp_path = tmp_path / "out"  # (the window's settings file lives in tmp_path itself)
    w.set_loop(0.25, 1.25)
    opts = ExportOptions(folder=tmp_path, sources=("mix", 3), fmt="wav", bits="16",
                         loop_only=True)
    names = [j.path.name for j in w.export_jobs(opts)]
    assert names == ["test song - mix (0m00.2s-0m01.2s).wav",
                     "test song - vocals (0m00.2s-0m01.2s).wav"]
    beats = tuple(0.25 * i for i in range(8))  # 240 BPM, bars of 4 from 0 s
    w.grid.show(Analysis(tempo_bpm=240.0, beats_per_bar=4, key="A major", beats=beats,
                         downbeats=beats[::4], chords=(ChordSpan(0.0, 2.0, "A"),),
                         duration=2.0))
    w.set_loop(0.0, 2.0)
    assert w.export_jobs(opts)[0].path.name == "test song - mix (bars 1-2).wav"
    w.set_loop(0.25, 1.25)
    assert w.export_jobs(opts)[0].path.name == "test song - mix (bar 1.2-2.1).wav"
    _export(qtbot, w, opts)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "test song - mix (bar 1.2-2.1).wav", "test song - vocals (bar 1.2-2.1).wav"]


def test_existing_files_are_replaced_only_after_asking(qtbot, window, tmp_path) -> None:
    w = window
    tmp_path = tmp_path / "out"
    opts = ExportOptions(folder=tmp_path, sources=("mix",), fmt="wav", bits="16",
                         loop_only=False)
    _export(qtbot, w, opts)
    target = tmp_path / "test song - mix.wav"
    target.write_bytes(b"keep me")
    assert w.export(opts) is None  # asks instead
    box = w.findChild(QMessageBox, "confirmReplace")
    assert "1 file(s) exist" in box.text() and target.name in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert target.read_bytes() == b"keep me" and w.export_worker is None
    assert w.export(opts) is None
    qtbot.waitUntil(lambda: w.findChild(QMessageBox, "confirmReplace") is not None)
    box = w.findChild(QMessageBox, "confirmReplace")
    with qtbot.waitSignal(w.export_ended, timeout=60_000) as blocker:
        next(b for b in box.buttons() if b.text() == "Replace").click()
    assert blocker.args == ["finished"]
    assert sf.info(str(target)).frames == w.session.frames
    # a finished export offers to show its folder
    assert w.show_folder_button.isVisible() and w.last_export_folder == tmp_path


def test_cancel_button_stops_a_running_export(qtbot, window, tmp_path) -> None:
    w = window
    tmp_path = tmp_path / "out"
    w.practice.tempo_spin.setValue(60)  # the stretcher makes the export take a while
    opts = ExportOptions(folder=tmp_path, sources=("mix", 0, 1, 2, 3), fmt="flac", bits="24",
                         loop_only=False, stems_as_heard=True)
    with qtbot.waitSignal(w.export_ended, timeout=60_000) as blocker:
        assert w.export(opts) is not None
        assert w.export_cancel_button.isVisible()
        w.export_cancel_button.click()
    assert blocker.args == ["cancelled"]
    assert not w.export_cancel_button.isVisible()
    assert len(list(tmp_path.iterdir())) < 5 and not [p for p in tmp_path.iterdir()
                                                       if p.name.startswith(".")]


def test_mp3_and_stems_with_the_practice_tempo(qtbot, window, tmp_path) -> None:
    w = window
    w.practice.tempo_spin.setValue(75)
    plain = ExportOptions(folder=tmp_path / "plain", sources=(3,), fmt="wav", bits="32f",
                          loop_only=False)
    _export(qtbot, w, plain)
    audio, _ = sf.read(next((tmp_path / "plain").iterdir()), dtype="float32")
    assert audio.shape[0] == w.session.frames  # stems keep the song's tempo by default
    heard = ExportOptions(folder=tmp_path / "heard", sources=("mix", 3), fmt="mp3", bits="24",
                          loop_only=False, stems_as_heard=True)
    _export(qtbot, w, heard)
    files = sorted((tmp_path / "heard").iterdir())
    assert [f.suffix for f in files] == [".mp3", ".mp3"]
    for f in files:
        info = sf.info(str(f))
        assert info.format == "MP3" and info.samplerate == w.session.sample_rate
        decoded, _ = sf.read(f, dtype="float32")
        assert abs(decoded.shape[0] - w.session.frames / 0.75) < 0.05 * w.session.sample_rate
        assert np.sqrt(np.mean(decoded ** 2)) > 1e-3


def test_dialog_says_what_as_heard_includes(qtbot) -> None:
    dlg = ExportDialog(None, folder="/tmp", have_stems=True, have_loop=False, tempo=0.8,
                       semitones=2.0)
    qtbot.addWidget(dlg)
    assert "tempo 80 %" in dlg.mix_box.text() and "pitch +2 st" in dlg.mix_box.text()
    assert dlg.stems_as_heard_box.isEnabled()
    dlg.stems_as_heard_box.setChecked(True)
    dlg.format_combo.setCurrentIndex(dlg.format_combo.findData("mp3"))
    opts = dlg.options()
    assert opts.stems_as_heard and opts.fmt == "mp3" and not dlg.bits_combo.isEnabled()
    neutral = ExportDialog(None, folder="/tmp", have_stems=True, have_loop=False)
    qtbot.addWidget(neutral)
    assert "tempo" not in neutral.mix_box.text() and not neutral.stems_as_heard_box.isEnabled()
    assert not neutral.options().stems_as_heard
