"""Tests of the practice tools: tempo/pitch (streaming and offline), clicks, tap tempo, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.config import STEMS
from core.mixer import Mixer
from core.practice import (
    LaneSetting,
    Metronome,
    PracticeError,
    Preset,
    PresetError,
    TapTempo,
    TempoPitch,
    apply_preset,
    builtin_preset,
    builtin_presets,
    capture_preset,
    click_sound,
    click_track,
    count_in,
    estimate_bpm,
    render_offline,
)

SR = 44100
BLOCK = 512


def tone(seconds: float, freq: float = 440.0, channels: int = 1, amp: float = 0.5,
         sr: int = SR) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return np.repeat((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None], channels, 0)


def f0(x: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest partial: Hann-windowed FFT peak, parabolic interpolation of
    the log magnitude around it."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    spec = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-12)
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + delta) * sr / x.shape[0]


def stream(tp: TempoPitch, x: np.ndarray, block: int = BLOCK, schedule=None) -> np.ndarray:
    """Feed ``x`` in blocks, applying ``schedule[source_frame] = (tempo, semitones)``."""
    outs = []
    schedule = dict(schedule or {})
    for a in range(0, x.shape[1], block):
        for at in [k for k in schedule if a <= k < a + block]:
            tempo, semi = schedule.pop(at)
            tp.set_tempo(tempo)
            tp.set_pitch(semi)
        outs.append(tp.process(x[:, a:a + block]).copy())
    outs.append(tp.flush())
    return np.concatenate(outs, axis=1)


# -- tempo and pitch ------------------------------------------------------------------------

def test_streaming_tempo_075_lengthens_10s_and_keeps_pitch():
    x = tone(10.0, channels=2)
    y = stream(TempoPitch(SR, 2, tempo=0.75), x)
    assert y.shape[0] == 2 and y.dtype == np.float32
    assert y.shape[1] / SR == pytest.approx(10.0 / 0.75, rel=0.01)  # 13.33 s
    assert f0(y[:, SR:-SR]) == pytest.approx(440.0, rel=0.01)
    # no drop-outs: every 10 ms of the steady part carries the tone
    body = np.abs(y[0, SR:-SR])
    assert body[: body.size // 441 * 441].reshape(-1, 441).max(axis=1).min() > 0.3


def test_streaming_plus2_semitones_moves_440_to_493_9_at_same_length():
    x = tone(10.0)
    y = stream(TempoPitch(SR, 1, semitones=2.0), x)
    assert y.shape[1] / SR == pytest.approx(10.0, rel=0.01)
    assert f0(y[:, SR:-SR]) == pytest.approx(493.88, rel=0.01)


@pytest.mark.parametrize(("tempo", "semitones", "length_s", "freq"),
                         [(0.75, 0.0, 10.0 / 0.75, 440.0), (1.0, 2.0, 10.0, 493.88)])
def test_offline_render_length_and_pitch(tempo, semitones, length_s, freq):
    x = tone(10.0, channels=2)
    seen = []
    y = render_offline(x, SR, tempo, semitones, progress=seen.append)
    assert y.shape == (2, int(round(x.shape[1] / tempo)))
    assert y.shape[1] / SR == pytest.approx(length_s, rel=0.01)
    assert f0(y[:, SR:-SR]) == pytest.approx(freq, rel=0.01)
    assert seen and seen[-1] == pytest.approx(1.0)


@pytest.mark.parametrize(("sr", "quality"), [(48000, "fast"), (22050, "high")])
def test_other_rates_and_fast_quality(sr, quality):
    x = tone(3.0, freq=300.0, channels=2, sr=sr)
    y = stream(TempoPitch(sr, 2, tempo=1.25, semitones=-3.0, quality=quality), x, block=1024)
    assert y.shape[1] == pytest.approx(x.shape[1] / 1.25, abs=2)
    assert f0(y[:, sr // 2:-sr // 2], sr) == pytest.approx(300.0 * 2 ** (-3 / 12), rel=0.01)


def test_offline_identity_is_a_copy_and_cancel_raises():
    x = tone(1.0)
    y = render_offline(x, SR, 1.0, 0.0)
    assert np.array_equal(x, y) and y is not x
    with pytest.raises(PracticeError, match="cancelled"):
        render_offline(tone(2.0), SR, 0.8, 0.0, cancel=lambda: True)


def test_pass_through_fast_path_is_exact_and_has_no_latency():
    tp = TempoPitch(SR, 2)
    x = tone(0.5, channels=2)
    y = tp.process(x[:, :BLOCK])
    assert tp.bypassed and tp.latency_frames == 0
    assert np.array_equal(y, x[:, :BLOCK])
    assert tp.output_source_position == BLOCK


def test_parameter_changes_mid_stream_do_not_click_or_drop_out():
    x = tone(11.0, amp=0.5)
    schedule = {SR * 1: (0.75, 0.0), SR * 2: (0.75, 2.0), SR * 3: (1.0, 0.0),
                SR * 4: (1.5, -6.0), SR * 5: (1.0, 0.0), SR * 6: (0.5, 6.0),
                SR * 7: (1.0, 0.0), SR * 8: (1.0, 3.0), SR * 9: (1.0, 0.0)}
    y = stream(TempoPitch(SR, 1), x, schedule=schedule)[0]
    # the steepest a 0.5-amplitude sine at up to +6 semitones can move between samples
    max_slope = 2 * np.pi * 440.0 * 2 ** (6 / 12) * 0.5 / SR
    assert np.abs(np.diff(y)).max() < 1.3 * max_slope
    # no zero-filled gaps: every 5 ms window after the start holds signal
    body = np.abs(y[2000:-4000])
    win = 220
    peaks = body[: body.size // win * win].reshape(-1, win).max(axis=1)
    assert peaks.min() > 0.25
    # the length follows the schedule (seconds of source / tempo, segment by segment)
    expected = 1 + 2 / 0.75 + 1 + 1 / 1.5 + 1 + 1 / 0.5 + 1 + 1 + 2
    assert y.size / SR == pytest.approx(expected, rel=0.01)


def test_pitch_change_takes_effect_within_a_fraction_of_a_second():
    tp = TempoPitch(SR, 1)
    x = tone(2.0)
    outs = []
    change_out = None
    for a in range(0, x.shape[1], BLOCK):
        if a == 44 * BLOCK:  # about 0.5 s in
            tp.set_pitch(4.0)
            change_out = sum(o.shape[1] for o in outs)
        outs.append(tp.process(x[:, a:a + BLOCK]).copy())
    y = np.concatenate(outs, axis=1)
    assert change_out is not None
    window = y[:, change_out + int(0.15 * SR):change_out + int(0.45 * SR)]
    assert f0(window) == pytest.approx(440.0 * 2 ** (4 / 12), rel=0.01)


def test_output_source_position_follows_tempo_changes():
    x = np.zeros((1, SR * 8), dtype=np.float32)
    marks = np.arange(SR // 4, SR * 7, SR // 2)
    for m in marks:
        x[0, m:m + 40] = np.hanning(40)
    tp = TempoPitch(SR, 1)
    schedule = {SR * 1: (0.75, 0.0), SR * 3: (1.25, 2.0), SR * 5: (0.6, -3.0)}
    outs, out_frames, src_pos = [], [0], []
    for a in range(0, x.shape[1], BLOCK):
        for at in [k for k in schedule if a <= k < a + BLOCK]:
            tp.set_tempo(schedule[at][0])
            tp.set_pitch(schedule[at][1])
        src_pos.append(tp.output_source_position)
        outs.append(tp.process(x[:, a:a + BLOCK]).copy())
        out_frames.append(out_frames[-1] + outs[-1].shape[1])
    y = np.abs(np.concatenate(outs, axis=1)[0])
    errors_ms = []
    for m in marks:
        predicted = np.interp(m, src_pos, out_frames[:-1])
        lo = int(predicted) - 3000
        if lo < 0 or lo + 6000 > y.size:
            continue
        peak = lo + int(np.argmax(y[lo:lo + 6000]))
        errors_ms.append((peak - predicted) / SR * 1000)
    assert len(errors_ms) >= 10
    assert max(abs(e) for e in errors_ms) < 10.0


def test_reset_and_flush_bookkeeping():
    tp = TempoPitch(SR, 1, tempo=0.8)
    x = tone(1.0)
    total = sum(tp.process(x[:, a:a + BLOCK]).shape[1] for a in range(0, x.shape[1], BLOCK))
    assert tp.latency_frames > 0  # the stretcher holds some audio back
    total += tp.flush().shape[1]
    assert total == pytest.approx(x.shape[1] / 0.8, abs=2)
    tp.reset(source_frame=5 * SR)
    assert tp.output_source_position == 5 * SR and tp.latency_frames == 0


@pytest.mark.parametrize("tempo", [1.0, 0.8])
def test_loop_wrap_keeps_audio_flowing_and_position_jumps_back(tempo):
    # loop [0.5 s, 1.5 s) of a tone: blocks are fed with their source position, no reset
    x = tone(2.0)
    a0, a1 = SR // 2, SR // 2 + 86 * BLOCK
    tp = TempoPitch(SR, 1, tempo=tempo)
    positions, outs, pos = [], [], a0
    tp.reset(source_frame=a0)
    for _ in range(3 * 86):
        positions.append(tp.output_source_position)
        outs.append(tp.process(x[:, pos:pos + BLOCK], source_frame=pos).copy())
        pos += BLOCK
        if pos >= a1:
            pos = a0
    y = np.concatenate(outs, axis=1)[0]
    held = tp.latency_frames / tempo  # output still inside the stretcher
    assert (y.size + held) / SR == pytest.approx(3 * 86 * BLOCK / SR / tempo, abs=0.02)
    assert min(positions) >= a0 - 1 and max(positions) <= a1 + 1
    jumps = np.flatnonzero(np.diff(positions) < 0)
    assert len(jumps) == 2  # the playhead went back to the loop start twice
    body = np.abs(y[SR // 10:])
    assert body[: body.size // 441 * 441].reshape(-1, 441).max(axis=1).min() > 0.3


def test_invalid_settings_raise_practice_error():
    with pytest.raises(PracticeError, match="Tempo"):
        TempoPitch(SR, 2, tempo=0.1)
    tp = TempoPitch(SR, 2)
    with pytest.raises(PracticeError, match="semitones"):
        tp.set_pitch(40)
    with pytest.raises(PracticeError, match=r"\(2, n\)"):
        tp.process(np.zeros((1, 10), np.float32))
    with pytest.raises(PracticeError, match="quality"):
        TempoPitch(SR, 2, quality="ultra")


# -- clicks, count-in, metronome, tap tempo -----------------------------------------------------

def onsets(x: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Frames where the signal rises above the threshold after at least 20 ms below it."""
    above = np.abs(x) > threshold
    idx = np.flatnonzero(above)
    if idx.size == 0:
        return idx
    keep = np.concatenate(([True], np.diff(idx) > int(0.02 * SR)))
    return idx[keep]


def test_tap_tempo_is_robust_to_outliers_and_resets_after_a_pause():
    tt = TapTempo()
    assert tt.tap(0.0) is None
    rng = np.random.default_rng(1)
    times = np.arange(1, 8) * 0.5 + rng.normal(0, 0.005, 7)
    for t in times:
        bpm = tt.tap(float(t))
    assert bpm == pytest.approx(120.0, abs=1.5)
    assert tt.tap(float(times[-1]) + 0.04) == pytest.approx(120.0, abs=2)  # double tap ignored
    # a pause starts a new measurement
    assert tt.tap(20.0) is None and tt.taps == 1
    assert tt.tap(20.75) == pytest.approx(80.0)
    assert estimate_bpm([0.0, 0.6, 1.2, 1.8]) == pytest.approx(100.0)


def test_count_in_length_and_accents():
    y = count_in(100.0, SR, bars=2, beats_per_bar=4, channels=2)
    assert y.shape == (2, int(round(8 * 0.6 * SR)))  # 2 bars of 4 at 100 BPM = 4.8 s
    starts = onsets(y[0])
    assert len(starts) == 8
    assert np.allclose(np.diff(starts), 0.6 * SR, atol=0.002 * SR)
    peak = [np.abs(y[0, s:s + 1000]).max() for s in starts]
    assert peak[0] > 1.3 * peak[1] and peak[4] > 1.3 * peak[5]  # downbeats accented
    assert count_in(100.0, SR, bars=0).shape == (2, 0)
    with pytest.raises(PracticeError, match="BPM"):
        count_in(1000.0, SR)
    # playback starting on beat 3: the clicks count 3 4 | 1 2 | 3 4 1 2, then the song's 3
    y3 = count_in(100.0, SR, bars=2, beats_per_bar=4, channels=1, next_beat=3)
    assert y3.shape == (1, y.shape[1])
    peak3 = [np.abs(y3[0, s:s + 1000]).max() for s in onsets(y3[0])]
    loud = [i for i, p in enumerate(peak3) if p > 1.3 * min(peak3)]
    assert loud == [2, 6]
    with pytest.raises(PracticeError, match="beat 5"):
        count_in(100.0, SR, beats_per_bar=4, next_beat=5)


def test_click_sound_is_clean():
    c = click_sound(SR, accent=True)
    assert c.dtype == np.float32 and 0.3 < np.abs(c).max() < 1.0
    assert abs(c[0]) < 0.05 and abs(c[-1]) < 1e-3


def test_click_track_follows_the_song_scaled_by_tempo():
    # song at 120 BPM: beats every 0.5 s of source; at tempo 0.5 they are 1 s apart when heard
    y = click_track(0.0, 4 * SR, SR, 120.0, tempo=0.5)
    starts = onsets(y)
    assert len(starts) == 4
    assert np.allclose(np.diff(starts), SR, atol=0.001 * SR)  # accents rise a bit faster


def test_metronome_clicks_each_beat_once_across_blocks_and_tempo_changes():
    met = Metronome(SR, 120.0, offset_s=0.1)
    tp_pos = 0.0
    out = []
    tempos = [1.0] * 100 + [0.75] * 100 + [1.25] * 100
    for tempo in tempos:
        n = 700
        out.append(met.render(tp_pos, n, tempo))
        tp_pos += n * tempo
    y = np.concatenate(out)
    starts = onsets(y)
    # beats in source time 0.1, 0.6, ... below the source length reached
    expected = int(np.floor((tp_pos / SR - 0.1) / 0.5)) + 1
    assert abs(len(starts) - expected) <= 1
    # a jump back (loop wrap) clicks the beats again
    met.reset()
    first = met.render(0.0, SR, 1.0)
    again = met.render(0.0, SR, 1.0)
    assert len(onsets(first)) == 2 and len(onsets(again)) == 2
    # whole-range rendering at constant tempo equals block-wise rendering
    met.reset()
    blocks = np.concatenate([met.render(a * 512.0, 512, 1.0) for a in range(200)])
    whole = click_track(0.0, 200 * 512, SR, 120.0, offset_s=0.1)
    assert np.allclose(blocks, whole, atol=1e-6)


# -- presets ----------------------------------------------------------------------------------

def make_mixer() -> Mixer:
    mix = np.zeros((2, 1000), np.float32)
    return Mixer(mix, SR, np.zeros((4, 2, 1000), np.float32))


def lane_gains(mixer: Mixer) -> dict[str, float]:
    g = mixer.effective_gains()[0]  # region where stems exist, (lane, L/R)
    return {name: float(g[i + 1, 0]) for i, name in enumerate(STEMS)}


@pytest.mark.parametrize(("name", "silent"), [
    ("karaoke", {"vocals"}), ("drummer", {"drums"}), ("bassist", {"bass"}),
    ("only bass", {"drums", "other", "vocals"}), ("only vocals", {"drums", "bass", "other"}),
    ("full mix", set()),
])
def test_builtin_presets_set_the_expected_gains_on_the_real_mixer(name, silent):
    mixer = make_mixer()
    mixer.set_lane(2, gain_db=-12.0, solo=True)  # a previous state the preset must undo
    assert apply_preset(builtin_preset(name), mixer) == []
    gains = lane_gains(mixer)
    for stem in STEMS:
        assert gains[stem] == pytest.approx(0.0 if stem in silent else 1.0), stem


def test_every_stem_has_an_only_preset():
    names = [p.name for p in builtin_presets()]
    assert {"karaoke", "drummer", "bassist"} <= set(names)
    assert all(f"only {s}" in names for s in STEMS)
    assert all(p.builtin for p in builtin_presets())


def test_user_preset_round_trips_through_json_and_applies_gains():
    mixer = make_mixer()
    mixer.set_lane(1, gain_db=-6.0)
    mixer.set_lane(4, mute=True)
    mixer.set_lane(2, pan=-0.5)
    p = capture_preset("my practice", mixer, tempo=0.8, semitones=-2.0)
    q = Preset.from_dict(json.loads(json.dumps(p.to_dict())))
    assert q == p and not q.builtin
    other = make_mixer()
    apply_preset(q, other)
    gains = lane_gains(other)
    assert gains["drums"] == pytest.approx(10 ** (-6 / 20), rel=1e-6)
    assert gains["vocals"] == 0.0 and gains["other"] == pytest.approx(1.0)
    assert other.lanes[2].pan == pytest.approx(-0.5)
    assert q.tempo == 0.8 and q.semitones == -2.0


@pytest.mark.parametrize("bad", [
    [], {"name": ""}, {"name": "x", "lanes": {"drums": {"gain_db": "loud"}}},
    {"name": "x", "lanes": {"drums": {"mute": 1}}}, {"name": "x", "tempo": 9.0},
    {"name": "x", "lanes": {"drums": {"pan": 3}}}, {"name": "x", "version": 99},
    {"name": "x", "lanes": {"drums": {"volume": 1}}},
])
def test_malformed_preset_data_raises_preset_error(bad):
    with pytest.raises(PresetError):
        Preset.from_dict(bad)


def test_apply_preset_by_stem_name_and_unknown_lanes():
    class ByName:
        def __init__(self):
            self.calls = []

        def set_gain_db(self, name, db):
            self.calls.append(("gain", name, db))

        def set_mute(self, name, on):
            self.calls.append(("mute", name, on))

        def set_solo(self, name, on):
            self.calls.append(("solo", name, on))

    fake = ByName()
    p = Preset("x", {"vocals": LaneSetting(gain_db=-3.0, mute=True), "piano": LaneSetting()})
    assert apply_preset(p, fake) == ["piano"]
    assert ("gain", "vocals", -3.0) in fake.calls and ("mute", "vocals", True) in fake.calls
    with pytest.raises(PresetError):
        apply_preset(p, object())
