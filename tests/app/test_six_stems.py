"""A six-stem model through the real window: a tiny random HTDemucs (the demucs library's class)
imported into the window's model store from a demucs release file; separating gives six stem
lanes, a seven-lane mixer, presets for the new stems, six export boxes and six exported files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from PySide6.QtCore import Qt

pytest.importorskip("demucs")

from app.widgets.export_dialog import ExportDialog, ExportOptions  # noqa: E402
from core.model_store import ModelStore  # noqa: E402
from core.practice import builtin_preset  # noqa: E402
from tests.core.htdemucs_tiny import SIX, tiny_htdemucs, write_release_file  # noqa: E402


@pytest.fixture()
def six_window(qtbot, make_window, tmp_path, song_path, jack_server):  # noqa: ANN001, ANN201
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    release = write_release_file(tiny_htdemucs(SIX, samplerate=44100, seed=3), tmp_path / "dl",
                                 "six")
    ModelStore(tmp_path / "models").import_(str(release), name="six")
    w = make_window(model="six", cache_dir=tmp_path / "cache")
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(song_path)
    assert [lane.name for lane in w.lanes] == ["mix", "drums", "bass", "other", "vocals"]
    with qtbot.waitSignal(w.separation_ended, timeout=120_000) as blocker:
        assert w.separate() is not None
    assert blocker.args == ["finished"], w.errors
    yield w
    torch.set_num_threads(n)


def test_six_lanes_mixer_presets(qtbot, six_window):
    w = six_window
    names = ["mix", *SIX]
    assert [lane.name for lane in w.lanes] == names
    assert [lane.lane for lane in w.lanes] == list(range(7))
    assert all(lane.isVisible() for lane in w.lanes)
    mixer = w.session.mixer
    assert tuple(mixer.lane_names) == tuple(names) and mixer.stems.shape[0] == 6
    assert np.abs(mixer.stems[4]).max() > 0  # the guitar stem holds audio
    # a new lane's controls reach the mixer
    w.lanes[5].mute_button.click()
    assert mixer.lanes[5].mute
    w.lanes[5].mute_button.click()
    # every lane has its keys, the new ones too: Ctrl+N mute, Alt+N solo, Ctrl+Shift+N
    # spectrogram (N = 1 for the mix ... 7 for piano), listed by lane name
    rows = dict(w.shortcut_rows())
    assert rows["Solo piano"] == "Alt+7" and rows["Mute guitar"] == "Ctrl+6"
    assert rows["Spectrogram piano"] == "Ctrl+Shift+7"
    assert [a.text() for a in w.lanes_menu.actions() if a.text().startswith("Solo ")] == [
        f"Solo {n}" for n in names]
    w.activateWindow()
    alt, ctrl = Qt.KeyboardModifier.AltModifier, Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(w, Qt.Key.Key_7, alt)
    assert mixer.lanes[6].solo and w.lanes[6].solo_button.isChecked()
    assert not any(mixer.lanes[i].solo for i in range(6))
    qtbot.keyClick(w, Qt.Key.Key_7, alt)
    assert not mixer.lanes[6].solo
    qtbot.keyClick(w, Qt.Key.Key_6, ctrl)
    assert mixer.lanes[5].mute and w.lanes[5].mute_button.isChecked()
    qtbot.keyClick(w, Qt.Key.Key_6, ctrl)
    assert not mixer.lanes[5].mute
    qtbot.keyClick(w, Qt.Key.Key_6, ctrl | Qt.KeyboardModifier.ShiftModifier)
    assert w.lanes[5].view_button.isChecked() and w.lanes[5].view.mode == "spectrogram"
    qtbot.keyClick(w, Qt.Key.Key_6, ctrl | Qt.KeyboardModifier.ShiftModifier)
    assert not w.lanes[5].view_button.isChecked()
    # the practice panel offers presets for the six stems, and "no guitar" mutes guitar only
    offered = set(w.practice.preset_buttons)
    assert {"no guitar", "no piano", "only guitar", "only piano", "karaoke"} <= offered, offered
    w._apply_preset(builtin_preset("no guitar", SIX))
    assert [mixer.lanes[i].mute for i in range(7)] == [False] * 5 + [True, False]
    assert w.lanes[5].mute_button.isChecked()


def test_export_all_six(qtbot, six_window, tmp_path):
    w = six_window
    dlg = ExportDialog(w, folder=str(tmp_path), have_stems=True, have_loop=False,
                       stems=w.session.stem_names)
    assert [b.text() for b in dlg.stem_boxes] == [s.capitalize() for s in SIX]
    out = tmp_path / "out"
    opts = ExportOptions(folder=out, sources=tuple(range(6)), fmt="wav", bits="24",
                         loop_only=False)
    with qtbot.waitSignal(w.export_ended, timeout=30_000) as blocker:
        assert w.export(opts) is not None
    assert blocker.args == ["finished"], w.errors
    files = sorted(out.iterdir())
    assert len(files) == 6
    for i, name in enumerate(SIX):
        f = next(p for p in files if p.stem.endswith(f"- {name}"))
        data, rate = sf.read(f, dtype="float32", always_2d=True)
        assert rate == w.session.sample_rate
        np.testing.assert_allclose(data.T, np.clip(w.session.mixer.stems[i], -1, 1),
                                   atol=2e-4)


def test_back_to_four_stems_removes_the_extra_lanes(qtbot, six_window, tiny_checkpoint):
    w = six_window
    w.settings.model = str(tiny_checkpoint)
    with qtbot.waitSignal(w.separation_ended, timeout=120_000) as blocker:
        assert w.separate() is not None  # "separate again" with a four-stem model
    assert blocker.args == ["finished"], w.errors
    assert [lane.name for lane in w.lanes] == ["mix", "drums", "bass", "other", "vocals"]
    assert w.session.mixer.stems.shape[0] == 4
    qtbot.waitUntil(lambda: len(w.findChildren(type(w.lanes[1]))) == 5, timeout=5_000)
    rows = dict(w.shortcut_rows())
    assert rows["Solo vocals"] == "Alt+5" and "Solo piano" not in rows
    assert "Mute guitar" not in [a.text() for a in w.actions()]
    w.activateWindow()
    qtbot.keyClick(w, Qt.Key.Key_5, Qt.KeyboardModifier.AltModifier)
    assert w.session.mixer.lanes[4].solo and w.lanes[4].solo_button.isChecked()
    offered = set(w.practice.preset_buttons)
    assert "no guitar" not in offered and "only piano" not in offered and "karaoke" in offered


def test_model_picker_shows_family_stems_and_size(qtbot, tmp_path):
    from app.settings import Settings
    from app.widgets.settings_dialog import SettingsDialog

    release = write_release_file(tiny_htdemucs(SIX, seed=3), tmp_path / "dl", "six")
    store = ModelStore(tmp_path / "models")
    store.import_(str(release), name="six")
    dlg = SettingsDialog(None, Settings.from_file(tmp_path / "s.ini"), store)
    qtbot.addWidget(dlg)
    header = dlg.tree.headerItem()
    columns = [header.text(c) for c in range(header.columnCount())]
    rows = {dlg.tree.topLevelItem(i).text(0): dlg.tree.topLevelItem(i)
            for i in range(dlg.tree.topLevelItemCount())}
    col = columns.index
    six = rows["six"]
    assert six.text(col("Family")) == "htdemucs"
    assert six.text(col("Stems")) == "6: " + ", ".join(SIX)
    assert six.text(col("Size")).endswith("MB") and not six.text(col("Size")).startswith("~")
    catalogue = rows["htdemucs_6s"]
    assert catalogue.text(col("Stems")).startswith("6: ")
    assert catalogue.text(col("Size")).startswith("~")  # estimated, not published
    assert rows["htdemucs_ft"].text(col("Family")) == "htdemucs"
