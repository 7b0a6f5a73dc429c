"""Tests of the practice panel widget (offscreen Qt) wired to a real mixer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.widgets.practice_panel import PracticePanel
from core.config import STEMS
from core.mixer import Mixer
from core.practice import Preset, apply_preset, capture_preset


@pytest.fixture
def mixer() -> Mixer:
    return Mixer(np.zeros((2, 100), np.float32), 44100, np.zeros((4, 2, 100), np.float32))


@pytest.fixture
def panel(qtbot, mixer) -> PracticePanel:
    p = PracticePanel(capture=lambda name: capture_preset(name, mixer))
    qtbot.addWidget(p)
    return p


def test_tempo_slider_and_spin_stay_in_sync_and_emit_ratios(qtbot, panel):
    got = []
    panel.tempo_changed.connect(got.append)
    panel.tempo_slider.setValue(75)
    assert panel.tempo_spin.value() == 75 and panel.tempo == 0.75
    panel.tempo_spin.setValue(150)
    assert panel.tempo_slider.value() == 150
    qtbot.mouseClick(panel.tempo_reset, Qt.MouseButton.LeftButton)
    assert got == [0.75, 1.5, 1.0]
    assert panel.tempo_slider.minimum() == 50 and panel.tempo_slider.maximum() == 150


def test_pitch_range_and_signal(panel):
    got = []
    panel.pitch_changed.connect(got.append)
    panel.pitch_spin.setValue(2)
    panel.pitch_slider.setValue(-9)  # clamped to -6
    assert got == [2.0, -6.0] and panel.semitones == -6.0
    assert panel.pitch_spin.value() == -6


def test_show_methods_do_not_emit(panel):
    got = []
    panel.tempo_changed.connect(got.append)
    panel.pitch_changed.connect(got.append)
    panel.bpm_changed.connect(got.append)
    panel.show_tempo(0.8)
    panel.show_pitch(3)
    panel.show_bpm(90)
    assert got == []
    assert panel.tempo == 0.8 and panel.semitones == 3 and panel.bpm == 90
    assert panel.heard_bpm == pytest.approx(72.0)
    assert "72.0" in panel.heard_label.text()


def test_tap_tempo_sets_bpm_and_count_in_and_metronome_emit(panel):
    bpms, bars, metro = [], [], []
    panel.bpm_changed.connect(bpms.append)
    panel.count_in_changed.connect(bars.append)
    panel.metronome_toggled.connect(metro.append)
    assert panel.tap(10.0) is None
    for i in range(1, 5):
        panel.tap(10.0 + i * 0.6)
    assert panel.bpm == pytest.approx(100.0)
    assert bpms and bpms[-1] == pytest.approx(100.0)
    panel.count_in_combo.setCurrentIndex(2)
    assert bars == [2] and panel.count_in_bars == 2
    panel.metronome_check.setChecked(True)
    assert metro == [True] and panel.metronome_on


def test_preset_buttons_apply_to_the_real_mixer(qtbot, panel, mixer):
    chosen = []
    panel.preset_chosen.connect(lambda p: (chosen.append(p), apply_preset(p, mixer)))
    assert {"karaoke", "drummer", "bassist", *(f"only {s}" for s in STEMS)} <= set(
        panel.preset_buttons)
    qtbot.mouseClick(panel.preset_buttons["karaoke"], Qt.MouseButton.LeftButton)
    assert chosen[-1].name == "karaoke"
    g = mixer.effective_gains()[0, :, 0]
    assert g[STEMS.index("vocals") + 1] == 0.0 and g[STEMS.index("drums") + 1] == 1.0
    qtbot.mouseClick(panel.preset_buttons["only bass"], Qt.MouseButton.LeftButton)
    g = mixer.effective_gains()[0, :, 0]
    assert [g[i + 1] for i in range(4)] == [0.0, 1.0, 0.0, 0.0]


def test_saving_a_user_preset_emits_its_data_and_it_reapplies(qtbot, panel, mixer):
    saved = []
    panel.preset_saved.connect(saved.append)
    mixer.set_lane(STEMS.index("drums") + 1, gain_db=-6.0)
    mixer.set_lane(STEMS.index("vocals") + 1, mute=True)
    panel.preset_name.setText("slow verse")
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert len(saved) == 1 and saved[0]["name"] == "slow verse"
    json.dumps(saved[0])  # storable as JSON
    assert "slow verse" in panel.user_buttons and panel.preset_name.text() == ""
    # a new panel (next start) loads it back; a malformed entry is skipped with a message
    other = PracticePanel()
    qtbot.addWidget(other)
    problems = other.set_user_presets([saved[0], {"name": ""}])
    assert len(problems) == 1 and [p.name for p in other.user_presets()] == ["slow verse"]
    fresh = Mixer(np.zeros((2, 100), np.float32), 44100, np.zeros((4, 2, 100), np.float32))
    other.preset_chosen.connect(lambda p: apply_preset(p, fresh))
    qtbot.mouseClick(other.user_buttons["slow verse"], Qt.MouseButton.LeftButton)
    g = fresh.effective_gains()[0, :, 0]
    assert g[STEMS.index("drums") + 1] == pytest.approx(10 ** (-6 / 20))
    assert g[STEMS.index("vocals") + 1] == 0.0


def test_preset_with_tempo_and_pitch_updates_controls(panel):
    tempos, pitches = [], []
    panel.tempo_changed.connect(tempos.append)
    panel.pitch_changed.connect(pitches.append)
    panel.choose(Preset("slow", {}, tempo=0.7, semitones=-2.0))
    assert tempos == [0.7] and pitches == [-2.0]
    assert panel.tempo_spin.value() == 70 and panel.pitch_spin.value() == -2


def test_delete_and_builtin_names_are_protected(panel):
    deleted = []
    panel.preset_deleted.connect(deleted.append)
    assert panel.save_preset("karaoke") is None  # built-in name
    assert panel.save_preset("mine") is not None
    assert panel.delete_preset("mine") and deleted == ["mine"]
    assert not panel.delete_preset("mine")
    assert panel.user_buttons == {}


def test_save_is_disabled_without_capture(qtbot):
    p = PracticePanel()
    qtbot.addWidget(p)
    assert not p.save_button.isEnabled() and p.save_preset("x") is None
