"""Tests of the sampled song source (``training.sampled``): SoundFonts through FluidSynth,
sung vocals, production, and the split policy that keeps held-out timbres out of training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import DataError
from training.sampled import fonts as fontlib
from training.sampled import production, render_sampled_song, voices
from training.sampled.song import SPEECH_VOICES
from training.synth import generate_dataset, song_rng
from training.synth.compose import Note

ROOT = Path(__file__).resolve().parents[2]
SR = 16000
TRAIN_GM = fontlib.FONTS[0]  # TimGM6mb, installed by scripts/setup.sh

pytestmark = pytest.mark.skipif(TRAIN_GM.path() is None,
                                reason="TimGM6mb.sf2 not installed (bash scripts/setup.sh)")


@pytest.fixture
def stand_in_fonts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every font of the registry present, each a link to TimGM6mb under its own file name, and
    nothing else searched: the split policy is then tested the same on every machine."""
    folder = tmp_path / "fonts"
    folder.mkdir()
    for font in fontlib.FONTS:
        if font.kind == "gm":
            (folder / font.file).symlink_to(TRAIN_GM.path())
    monkeypatch.setattr(fontlib, "SEARCH_DIRS", ())
    monkeypatch.setenv(fontlib.ENV_DIRS, str(folder))
    return folder


def test_split_families_are_disjoint_and_fluidr3_is_test_only() -> None:
    seen: dict[str, str] = {}
    for split in ("train", "valid", "test"):
        for font in fontlib.fonts_for_split(split):
            assert seen.setdefault(font.family, split) == split, font
    assert {f.family for f in fontlib.fonts_for_split("test")} == {"fluidr3"}
    assert [f.name for f in fontlib.fonts_for_split("test")] == ["fluidr3-gm"]
    assert not any(f.family == "fluidr3" for f in fontlib.fonts_for_split("train"))
    assert not set(SPEECH_VOICES["train"]) & set(SPEECH_VOICES["test"])
    assert not set(SPEECH_VOICES["train"]) & set(SPEECH_VOICES["valid"])


def test_held_out_font_never_reaches_the_training_split(tmp_path: Path,
                                                        stand_in_fonts: Path) -> None:
    root = generate_dataset(tmp_path / "data", songs=3, seconds=1.0, seed=5, valid=1, test=2,
                            sample_rate=SR, source="sampled")
    used: dict[str, str] = {}
    for meta in root.glob("*/*/meta.json"):
        info = json.loads(meta.read_text())
        used[info["name"]] = info["source"]
    assert len(used) == 6
    for name, source in used.items():
        fonts_named = {f.name for f in fontlib.FONTS if f.name in source}
        assert fonts_named, source
        split = name.split("_")[1]
        allowed = {f.name for f in fontlib.fonts_for_split(split)}
        assert fonts_named <= allowed, (name, source)
        if split == "train":
            assert "fluidr3" not in source and "csound" not in source
        if split == "test":
            assert fonts_named == {"fluidr3-gm"}


def test_extra_font_family_reaches_training_songs_only(tmp_path: Path,
                                                     stand_in_fonts: Path) -> None:
    assert "opl3" in fontlib.EXTRA_TRAIN_FAMILIES
    assert not any(f.family == "opl3" for s in ("train", "valid", "test")
                   for f in fontlib.fonts_for_split(s))  # off unless asked for
    assert {f.name for f in fontlib.fonts_for_split("train", extra=("opl3",))} == \
        {f.name for f in fontlib.fonts_for_split("train")} | {"opl3-fm"}
    for split in ("valid", "test"):
        with pytest.raises(DataError, match="training split only"):
            fontlib.fonts_for_split(split, extra=("opl3",))
    for family in ("fluidr3", "csound", "nope"):  # held-out families cannot be asked for
        with pytest.raises(DataError, match="unknown extra font family"):
            fontlib.fonts_for_split("train", extra=(family,))
    root = generate_dataset(tmp_path / "data", songs=6, seconds=1.0, seed=5, valid=1, test=1,
                            sample_rate=SR, source="sampled", extra_fonts=("opl3",))
    sources = {json.loads(m.read_text())["name"]: json.loads(m.read_text())["source"]
               for m in root.glob("*/*/meta.json")}
    train = [s for n, s in sources.items() if "_train_" in n]
    assert len(train) == 6 and all("extra-fonts=opl3" in s for s in train)
    assert any("opl3-fm" in s for s in train)
    for name, source in sources.items():
        if "_train_" not in name:
            assert "opl3" not in source, (name, source)
    with pytest.raises(DataError, match="--source sampled"):
        generate_dataset(tmp_path / "p", songs=1, seconds=1.0, extra_fonts=("opl3",))
    # not installed: one clear message naming the package, before anything is written
    (stand_in_fonts / "OPL-3_FM_128M.sf2").unlink()
    with pytest.raises(DataError, match="opl3-soundfont"):
        generate_dataset(tmp_path / "q", songs=1, seconds=1.0, source="sampled",
                         extra_fonts=("opl3",))
    assert not (tmp_path / "q" / "train").exists()


def test_same_seed_is_bit_identical_and_seeds_differ() -> None:
    a = render_sampled_song(song_rng(3, 0), 3.0, "train", SR)
    b = render_sampled_song(song_rng(3, 0), 3.0, "train", SR)
    c = render_sampled_song(song_rng(3, 1), 3.0, "train", SR)
    assert a.stems.shape == (4, 2, 3 * SR) and a.stems.dtype == np.float32
    assert a.stems.tobytes() == b.stems.tobytes() and a.info == b.info
    assert not np.array_equal(a.stems, c.stems)


def test_a_fresh_process_renders_the_same_song() -> None:
    """No state of an earlier render (a cached synthesiser, a pad's release) leaks into the
    next: song 1 alone in a new process equals song 1 rendered after song 0."""
    code = ("import sys, numpy as np; from training.sampled import render_sampled_song as r; "
            "from training.synth import song_rng as s; "
            f"[r(s(3, i), 1.5, 'train', {SR}) for i in map(int, sys.argv[2:])]; "
            f"np.save(sys.argv[1], r(s(3, 1), 1.5, 'train', {SR}).stems)")
    out = []
    for before in ([], ["0"]):
        path = ROOT / f".pytest_sampled_{len(before)}.npy"
        try:
            subprocess.run([sys.executable, "-c", code, str(path), *before], check=True,
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
            out.append(np.load(path))
        finally:
            path.unlink(missing_ok=True)
    assert out[0].tobytes() == out[1].tobytes()


def test_bus_keeps_the_stems_summing_to_the_mixture() -> None:
    t = np.arange(2 * SR) / SR
    stems = np.stack([np.stack([np.sin(2 * np.pi * f * t) * (1 + np.sin(t * k))] * 2) * 0.3
                      for k, f in enumerate((60.0, 110.0, 440.0, 880.0))])
    per_stem = production.bus_process(stems, SR, np.random.default_rng(7))
    as_one = production.bus_process(stems.sum(axis=0, keepdims=True), SR,
                                    np.random.default_rng(7))[0]
    np.testing.assert_allclose(per_stem.sum(axis=0), as_one, atol=1e-4)  # float32 plugins
    # the bus does something: levels move with the compressor
    assert np.abs(per_stem - stems).max() > 1e-3


def test_silence_stays_digital_silence() -> None:
    from training.synth.compose import plan_song

    # a song whose composition lacks a stem altogether (composing is cheap; render just it)
    def lacks_a_stem(i: int) -> bool:
        plan = plan_song(song_rng(11, i), 3.0)
        return not (plan.drums and plan.bass and plan.vocals)

    index = next(i for i in range(200) if lacks_a_stem(i))
    song = render_sampled_song(song_rng(11, index), 3.0, "train", SR)
    notes = {0: song.plan.drums, 1: song.plan.bass, 3: song.plan.vocals}
    assert any(not n for n in notes.values())
    for i, stem_notes in notes.items():
        if not stem_notes:
            assert not song.stems[i].any(), f"stem {i} has no notes but is not digital silence"
        elif min(n.start for n in stem_notes) > 0.2:  # before the first note: exact zeros
            first = int((min(n.start for n in stem_notes) - 0.05) * SR)
            assert not song.stems[i, :, :first].any()
        else:
            assert song.stems[i].any()


def test_speech_singer_sings_the_note_pitch() -> None:
    rng = np.random.default_rng(1)
    for midi in (57, 69):
        y = voices.render_speech_singer([Note(0.1, 1.2, float(midi), 0.9, syllable="la")],
                                        int(1.6 * SR), SR, rng, ("en+m3",))
        assert y.shape == (2, int(1.6 * SR)) and np.abs(y).max() > 0.1
        f0 = voices._median_f0(y[0, int(0.3 * SR):int(1.0 * SR)].astype(np.float64), SR)
        target = 440.0 * 2 ** ((midi - 69) / 12)
        assert abs(12 * np.log2(f0 / target)) < 0.7, (midi, f0, target)


def test_missing_soundfonts_name_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fontlib, "SEARCH_DIRS", ())
    monkeypatch.delenv(fontlib.ENV_DIRS, raising=False)
    with pytest.raises(DataError, match="fluid-soundfont-gm"):
        render_sampled_song(song_rng(0, 0), 1.0, "test", SR)


def test_cli_writes_sampled_songs(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    r = subprocess.run([sys.executable, "-m", "stemweave", "synth", str(out), "--source",
                        "sampled", "--songs", "1", "--seconds", "1.5", "--no-progress"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    meta = json.loads(next(out.glob("train/sampled_train_0_00000/meta.json")).read_text())
    assert "--source sampled" in meta["source"] and "timgm6mb" in meta["source"]
    audio = np.load(out / "train" / "sampled_train_0_00000" / "audio_32000.npy")
    assert audio.shape[:2] == (4, 2) and np.abs(audio).max() > 0.01


def _high_share(x: np.ndarray, sr: int, above: float = 1500.0) -> float:
    power = np.abs(np.fft.rfft(x.mean(axis=0))) ** 2
    return float(power[np.fft.rfftfreq(x.shape[-1], 1 / sr) > above].sum() / power.sum())


def test_generator_offsets_change_the_preset_as_named() -> None:
    from training.sampled.fluid import Event, render_events
    from training.sampled.timbre import GEN

    notes = [Event(0.05, 0.6, 60.0, 0.8), Event(0.7, 0.6, 64.0, 0.8)]
    frames = int(1.6 * SR)

    def play(gens: dict[int, float] | None) -> np.ndarray:
        return render_events(TRAIN_GM.path(), SR, notes, frames, 0, 48, generators=gens)

    plain = play(None)
    assert play({}).tobytes() == plain.tobytes()
    darker = play({GEN["filter_fc"]: -4200.0})  # 3.5 octaves lower: about 1.7 kHz
    assert _high_share(darker, SR) < 0.6 * _high_share(plain, SR)  # a 12-dB/octave low-pass
    slow = play({GEN["attack_vol_env"]: 7000.0})  # 2**(7000/1200) = 57 times the attack
    onset = slice(int(0.05 * SR), int(0.1 * SR))
    assert np.abs(slow[:, onset]).max() < 0.5 * np.abs(plain[:, onset]).max()
    assert not np.any(darker[:, :int(0.04 * SR)])  # silence kept


def test_random_timbre_draws_within_its_ranges() -> None:
    from training.sampled.timbre import GEN, KINDS, random_timbre

    rng = np.random.default_rng(0)
    assert random_timbre(np.random.default_rng(0), 0.0) == {}
    seen: dict[int, list[float]] = {}
    for _ in range(400):
        for number, offset in random_timbre(rng, 0.5, "melodic").items():
            seen.setdefault(number, []).append(offset)
    for name, (prob, low, high) in KINDS["melodic"].items():
        values = np.array(seen[GEN[name]])
        assert abs(len(values) / 400 - prob) < 0.1, name
        assert values.min() >= 0.5 * low - 1e-9 and values.max() <= 0.5 * high + 1e-9, name
    assert GEN["attack_vol_env"] not in {n for _ in range(100)
                                         for n in random_timbre(rng, 1.0, "bass")}
    for bad in (-0.1, 1.5):
        with pytest.raises(DataError, match="timbre amount"):
            random_timbre(rng, bad)
    with pytest.raises(ValueError, match="unknown part kind"):
        random_timbre(rng, 0.5, "kazoo")


def test_timbre_variants_keep_composition_truth_and_silence(tmp_path: Path,
                                                          stand_in_fonts: Path) -> None:
    plain = render_sampled_song(song_rng(4, 0), 2.0, "train", SR)
    varied = render_sampled_song(song_rng(4, 0), 2.0, "train", SR, timbre=1.0)
    again = render_sampled_song(song_rng(4, 0), 2.0, "train", SR, timbre=1.0)
    assert varied.stems.tobytes() == again.stems.tobytes()  # a pure function of the seed
    assert varied.plan == plain.plan  # the same notes, other sounds
    assert not np.array_equal(varied.stems, plain.stems)
    for song in (plain, varied):
        for stem, notes in zip(song.stems, (song.plan.drums, song.plan.bass, None,
                                            song.plan.vocals)):
            if notes is not None and not notes:
                assert not stem.any()
    with pytest.raises(DataError, match="between 0 and 1"):
        render_sampled_song(song_rng(4, 0), 1.0, "train", SR, timbre=2.0)
    root = generate_dataset(tmp_path / "data", songs=2, seconds=1.0, seed=6, valid=1, test=1,
                            sample_rate=SR, source="sampled", timbre=0.7)
    sources = {json.loads(m.read_text())["name"]: json.loads(m.read_text())["source"]
               for m in root.glob("*/*/meta.json")}
    assert len(sources) == 4
    for name, source in sources.items():
        assert ("timbre=0.7" in source) == ("_train_" in name), (name, source)
    # held-out songs are the fonts as they are: the same as a dataset made without --timbre
    ref = generate_dataset(tmp_path / "ref", songs=0, seconds=1.0, seed=6, valid=1, test=1,
                           sample_rate=SR, source="sampled")
    for split in ("valid", "test"):
        a = next((root / split).glob("*/audio_8000.npy"))
        b = ref / split / a.parent.name / "audio_8000.npy"
        assert np.load(a).tobytes() == np.load(b).tobytes()
    with pytest.raises(DataError, match="--source sampled"):
        generate_dataset(tmp_path / "p", songs=1, seconds=1.0, timbre=0.5)


def test_cli_refuses_a_timbre_amount_out_of_range(tmp_path: Path) -> None:
    for args in (["--source", "sampled", "--timbre", "1.5"], ["--timbre", "0.5"]):
        r = subprocess.run([sys.executable, "-m", "stemweave", "synth", str(tmp_path / "ds"),
                            "--songs", "1", "--seconds", "1", "--no-progress", *args],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert ("between 0 and 1" if "1.5" in args else "--source sampled") in r.stderr
        assert not (tmp_path / "ds" / "train").exists()
