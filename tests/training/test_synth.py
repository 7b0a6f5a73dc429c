"""Tests of the procedural song generator (``training.synth``) and ``stemweave synth``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.config import STEMS
from training import prepared
from training.synth import generate_dataset, render_song, song_rng
from training.synth.compose import plan_song
from training.synth.dsp import karplus_strong, midi_to_hz

ROOT = Path(__file__).resolve().parents[2]
SR = 16000


def test_same_seed_is_bit_identical_and_seeds_differ() -> None:
    a, plan_a = render_song(song_rng(7, 3), 4.0, SR)
    b, plan_b = render_song(song_rng(7, 3), 4.0, SR)
    c, _ = render_song(song_rng(7, 4), 4.0, SR)
    assert a.tobytes() == b.tobytes()
    assert plan_a.tempo == plan_b.tempo
    assert a.shape == c.shape and not np.array_equal(a, c)


def test_render_shape_range_and_mixture() -> None:
    stems, plan = render_song(song_rng(1, 0), 3.5, SR)
    assert stems.shape == (4, 2, int(3.5 * SR))
    assert stems.dtype == np.float32
    assert np.isfinite(stems).all()
    mix = stems.sum(axis=0)
    assert 0.05 < np.abs(mix).max() < 1.0
    assert 40 <= plan.tempo <= 200
    assert plan.chords and plan.sections


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


@pytest.mark.parametrize("index", [0, 11])
def test_stems_play_exactly_where_sections_say(index: int) -> None:
    seconds = 14.0
    stems, plan = render_song(song_rng(2, index), seconds, SR)
    checked_on = checked_off = 0
    for k, name in enumerate(STEMS):
        stem = stems[k]
        level = _rms(stem)
        for s in plan.sections:
            if s.end > seconds:
                continue
            if s.active[name]:
                seg = stem[:, int((s.start + 0.2) * SR):int(s.end * SR)]
                assert _rms(seg) > 1e-3, f"{name} silent in active {s.kind}"
                checked_on += 1
            elif s.end - s.start > 3.0 and level > 0:
                # past the reverb/release tail of the previous section and before the next
                # section's pickup (early consonants, humanised timing)
                seg = stem[:, int((s.start + 2.6) * SR):int((s.end - 0.15) * SR)]
                if seg.shape[-1] > SR // 4:
                    assert _rms(seg) < 0.05 * level, f"{name} plays in inactive {s.kind}"
                    checked_off += 1
    assert checked_on >= 2


def test_plans_vary_tempo_key_instruments() -> None:
    plans = [plan_song(song_rng(0, i), 30.0) for i in range(12)]
    assert len({round(p.tempo) for p in plans}) > 6
    assert len({p.key for p in plans}) > 4
    assert len({p.other_parts[0].instrument for p in plans}) > 3
    assert len({p.bass_style for p in plans}) > 2
    for p in plans:
        names = {h.name for h in p.drums}
        if any(s.active["drums"] for s in p.sections):
            assert {"kick", "snare"} <= names
        for n in p.vocals:
            assert p.vocal_range[0] <= n.pitch <= p.vocal_range[1] and n.syllable


def _f0_autocorr(x: np.ndarray, sr: int) -> float:
    x = x - x.mean()
    ac = np.correlate(x, x, "full")[len(x) - 1:]
    lo, hi = int(sr / 1000), int(sr / 70)
    return sr / (lo + int(np.argmax(ac[lo:hi])))


def test_vocal_pitch_follows_the_melody() -> None:
    sr = 32000
    stems, plan = render_song(song_rng(0, 2), 12.0, sr)
    voice = stems[3, 0].astype(np.float64)
    errors = []
    for note in plan.vocals:
        if note.duration < 0.2 or note.start + note.duration > 12.0:
            continue
        centre = note.start + min(note.duration * 0.5, 0.15)
        seg = voice[int(centre * sr):int(centre * sr) + 1024]
        errors.append(abs(1200 * np.log2(_f0_autocorr(seg, sr) / midi_to_hz(note.pitch))))
    assert len(errors) >= 5
    assert np.mean(np.array(errors) < 50) >= 0.7, errors


def test_karplus_strong_pitch() -> None:
    sr = 32000
    x = karplus_strong(220.0, sr // 2, sr, np.random.default_rng(0))
    f = _f0_autocorr(x[2000:6000], sr)
    assert abs(1200 * np.log2(f / 220.0)) < 20
    assert np.abs(x[-1000:]).max() < np.abs(x[:1000]).max()


def test_generate_dataset_writes_prepared_format(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    generate_dataset(root, songs=2, seconds=2.0, seed=5, valid=1, test=1, sample_rate=SR)
    info = json.loads((root / "dataset.json").read_text())
    assert info["format"] == prepared.FORMAT
    train = prepared.list_songs(root, "train")
    assert [s.name for s in train] == ["synth_train_5_00000", "synth_train_5_00001"]
    assert len(prepared.list_songs(root, "valid")) == 1
    assert len(prepared.list_songs(root, "test")) == 1
    song = train[0]
    assert song.frames_8k == 16000
    for rate in prepared.RATES:
        audio = song.audio(rate)
        assert audio.shape == (4, 2, 2 * rate)
        assert audio.dtype == np.float32
    # a re-run skips finished songs (nothing is rewritten)
    stamp = (song.path / "meta.json").stat().st_mtime_ns
    generate_dataset(root, songs=2, seconds=2.0, seed=5, valid=1, test=1, sample_rate=SR)
    assert (song.path / "meta.json").stat().st_mtime_ns == stamp


def test_generate_dataset_independent_of_workers(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "a", songs=2, seconds=1.5, seed=9, sample_rate=SR, workers=1)
    generate_dataset(tmp_path / "b", songs=2, seconds=1.5, seed=9, sample_rate=SR, workers=2)
    for name in ("synth_train_9_00000", "synth_train_9_00001"):
        a = np.load(tmp_path / "a" / "train" / name / "audio_32000.npy")
        b = np.load(tmp_path / "b" / "train" / name / "audio_32000.npy")
        assert a.tobytes() == b.tobytes()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the real ``stemweave`` entry point in-process; returns (status, stderr)."""
    from stemweave.cli import main

    code = main(list(args))
    return code, capsys.readouterr().err


def test_cli_demo_writes_flac_and_stems(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    out = tmp_path / "demo.flac"
    code, err = _cli(capsys, "synth", "--demo", str(out), "--seconds", "2", "--seed", "3",
                     "--stems-dir", str(tmp_path / "stems"))
    assert code == 0, err
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.format) == (44100, 2, "FLAC")
    assert abs(info.frames - 2 * 44100) <= 1
    mix, _ = sf.read(str(out))
    parts = sum(sf.read(str(tmp_path / "stems" / f"{n}.flac"))[0] for n in STEMS)
    assert np.abs(mix - parts).max() < 3e-3  # 16-bit rounding only


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _cli(capsys, "synth", "--songs", "1")
    assert code == 1
    assert err.strip().startswith("stemweave: error:")
    assert len(err.strip().splitlines()) == 1
    code, err = _cli(capsys, "synth", str(tmp_path / "x"), "--seconds", "-1")
    assert code == 1 and "seconds" in err
    assert not (tmp_path / "x").exists()
