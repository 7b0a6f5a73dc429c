"""Readable lanes in the real window: lanes not heard are dimmed (the Mix lane while the stems
play), double-click resets a fader or a pan, Lanes ▸ Reset mixer, presets start from a neutral
mixer (pans too), and the loop shading lies over a spectrogram."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.widgets.lane_view import SPECTROGRAM
from core.practice import builtin_presets

SEPARATE_TIMEOUT_MS = 90_000


def _dimmed(w) -> list[bool]:  # noqa: ANN001
    return [lane.view.dimmed for lane in w.lanes]


def test_lanes_not_heard_are_dimmed(qtbot, make_window, song_path, tmp_path) -> None:
    w = make_window(cache_dir=tmp_path / "cache")  # private: the shared cache stays unseparated
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(song_path)
    if w.session.stems_complete:  # cached from another test: start from the mix alone
        w.session.drop_stems()
        w.update_heard()
    assert _dimmed(w) == [False, True, True, True, True]  # only the mix exists
    with qtbot.waitSignal(w.separation_ended, timeout=SEPARATE_TIMEOUT_MS):
        w.separate()
    assert _dimmed(w) == [True, False, False, False, False]  # the stems play, not the mix
    assert w.lanes[0].view.curve.opacity() < 0.5 and not w.lanes[0].title.isEnabled()
    assert w.lanes[1].view.curve.opacity() == 1.0
    w.lanes[2].mute_button.click()
    assert _dimmed(w) == [True, False, True, False, False]
    w.lanes[4].solo_button.click()
    assert _dimmed(w) == [True, True, True, True, False]
    w.lanes[0].solo_button.click()  # A/B: the original soloed with the vocals
    assert _dimmed(w) == [False, True, True, True, False]
    w.lanes[0].solo_button.click()
    w.lanes[4].solo_button.click()
    w.lanes[3].gain_slider.setValue(w.lanes[3].gain_slider.minimum())  # -inf dB
    assert _dimmed(w) == [True, False, True, True, False]


def test_double_click_resets_and_reset_mixer(qtbot, make_window, song_path) -> None:
    w = make_window()
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(song_path)
    lane = w.lanes[0]
    lane.gain_slider.setValue(-120)  # -12 dB
    lane.pan_slider.setValue(60)
    assert w.session.mixer.lanes[0].gain_db == -12.0 and w.session.mixer.lanes[0].pan == 0.6
    qtbot.mouseDClick(lane.gain_label, Qt.MouseButton.LeftButton)
    assert w.session.mixer.lanes[0].gain_db == 0.0 and lane.gain_label.text() == "+0.0 dB"
    qtbot.mouseDClick(lane.pan_slider, Qt.MouseButton.LeftButton)
    assert w.session.mixer.lanes[0].pan == 0.0 and lane.pan_label.text() == "C"
    s = w.session
    s.set_gain_db(1, -6.0)
    s.set_pan(2, -0.5)
    s.set_mute(3, True)
    s.set_solo(4, True)
    w.reset_mixer_action.trigger()
    for st in s.mixer.lanes:
        assert (st.gain_db, st.pan, st.mute, st.solo) == (0.0, 0.0, False, False)
    assert not w.lanes[3].mute_button.isChecked() and w.lanes[2].pan_slider.value() == 0
    # a preset starts from a neutral mixer: the pan set before does not stay
    s.set_pan(2, -0.5)
    karaoke = next(p for p in builtin_presets() if p.name == "karaoke")
    w.practice.choose(karaoke)
    assert s.mixer.lanes[2].pan == 0.0 and s.mixer.lanes[4].mute


def test_loop_shading_lies_over_a_spectrogram(qtbot, make_window, song_path) -> None:
    w = make_window()
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(song_path)
    view = w.lanes[0].view
    w.set_loop(0.5, 1.5)
    assert view.loop_region.zValue() < view.curve.zValue() + 1  # under the waveform
    w.set_lane_mode(0, SPECTROGRAM)
    qtbot.waitUntil(lambda: 0 in w.session.spectrograms, timeout=20_000)
    assert view.loop_region.isVisible()
    assert view.loop_region.zValue() > view.image.zValue()


def test_spectrogram_frequency_axis_and_shared_db_scale(qtbot, make_window, song_path) -> None:
    from app.widgets.lane_view import SHARED_DB

    w = make_window()
    with qtbot.waitSignal(w.song_loaded, timeout=20_000):
        w.open_file(song_path)
    view = w.lanes[0].view
    w.set_lane_mode(0, SPECTROGRAM)
    qtbot.waitUntil(lambda: 0 in w.session.spectrograms, timeout=20_000)
    labels = [(t.toPlainText(), y) for t, y in view.freq_labels]
    names = [n for n, _ in labels]
    assert "C4 262 Hz" in names and "A4" not in " ".join(names)
    ys = [y for _, y in labels]
    assert ys == sorted(ys) and 0.0 < ys[0] and ys[-1] < 1.0  # low notes at the bottom
    shown = [t for t, _ in view.freq_labels if t.isVisible()]
    assert len(shown) >= len(labels) // 2 and view.freq_labels[-1][0].isVisible()
    # the labels follow the view's left edge when scrolling
    w.timeline.getPlotItem().getViewBox().setXRange(0.5, 1.5, padding=0.0)
    qtbot.wait(20)
    assert view.freq_labels[0][0].pos().x() == 0.5
    # one dB scale for all lanes by default; View ▸ Normalise each lane switches
    assert tuple(view.image.getLevels()) == SHARED_DB
    w.normalise_spec_action.trigger()
    top = float(w.session.spectrograms[0].db.max())
    assert tuple(view.image.getLevels()) == pytest.approx((max(-90.0, top - 75.0), top))
    w.set_lane_mode(0, "waveform")
    assert not any(t.isVisible() for t, _ in view.freq_labels)


def test_pan_slider_fills_from_the_centre(qtbot) -> None:
    from app.widgets.stem_lane import StemLane

    lane = StemLane(2, "bass")
    qtbot.addWidget(lane)
    lane.resize(800, 120)
    lane.show()
    slider = lane.pan_slider
    a, b = slider.fill_span()
    assert b - a <= 2  # centre: nothing filled
    slider.setValue(-100)
    left = slider.fill_span()
    slider.setValue(100)
    right = slider.fill_span()
    centre = (a + b) / 2
    assert left[1] == pytest.approx(centre, abs=2) and left[0] < centre - 20  # centre -> left
    assert right[0] == pytest.approx(centre, abs=2) and right[1] > centre + 20
    assert lane.pan_label.text() == "R100"
