"""Preparation of a generic folder, the crop dataset's augmentation and the statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from core import MetaTasNet, ModelConfig
from core.errors import DataError
from tests.training.conftest import make_song
from training.data import (
    EQ_ANCHORS_HZ,
    AugmentConfig,
    CropDataset,
    StepBatchSampler,
    collate,
    compute_spectrogram_stats,
    eq_curve,
)
from training.prepare import load_song_folder, prepare_folder, split_names
from training.prepared import RATES, list_songs, write_song

pytestmark = pytest.mark.usefixtures("one_thread")


def test_song_folder_rules(tmp_path: Path) -> None:
    make_song(tmp_path / "a", seed=1, drop=("vocals",), extra=True, mixture=True)
    stems, rate = load_song_folder(tmp_path / "a")
    assert rate == 22050 and stems.shape[:2] == (4, 2)
    assert not stems[3].any(), "a missing stem is silence"
    other, _ = sf.read(tmp_path / "a" / "other.wav", always_2d=True, dtype="float32")
    piano, _ = sf.read(tmp_path / "a" / "piano.wav", always_2d=True, dtype="float32")
    np.testing.assert_allclose(stems[2, 0], other[:, 0] + piano[:, 0], atol=1e-6)
    # mixture.wav (all ones) was ignored: drums are the drums file alone
    drums, _ = sf.read(tmp_path / "a" / "drums.wav", always_2d=True, dtype="float32")
    np.testing.assert_allclose(stems[0, 1], drums[:, 1], atol=1e-6)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no stem files"):
        load_song_folder(tmp_path / "empty")


def test_split_is_seeded_and_keeps_training_songs() -> None:
    names = [f"s{i}" for i in range(10)]
    a = split_names(names, 3, 0.2, 0.1)
    assert a == split_names(list(reversed(names)), 3, 0.2, 0.1)
    assert sorted(a.values()).count("valid") == 2 and list(a.values()).count("test") == 1
    assert a != split_names(names, 4, 0.2, 0.1)
    assert split_names(["only"], 0, 0.5) == {"only": "train"}


def test_prepare_skips_finished_songs(tmp_path: Path, song_folder: Path) -> None:
    out = tmp_path / "p"
    first = prepare_folder(song_folder, out, seed=0, valid_fraction=0.2)
    assert sum(first.written.values()) == 5 and first.skipped == 0
    again = prepare_folder(song_folder, out, seed=0, valid_fraction=0.2)
    assert sum(again.written.values()) == 0 and again.skipped == 5
    song = list_songs(out, "train")[0]
    meta = json.loads((song.path / "meta.json").read_text())
    assert meta["frames_8k"] == song.frames_8k == 4 * 8000
    for rate in RATES:
        a = song.audio(rate)
        assert isinstance(a, np.memmap) and a.shape == (4, 2, song.frames_8k * rate // 8000)


def test_crops_are_deterministic_aligned_and_augmented(prepared: Path) -> None:
    songs = list_songs(prepared, "train")
    aug = AugmentConfig(crop_s=0.5, remix_p=0.5)
    ds = CropDataset(songs, seed=7, batch_size=4, augment=aug)
    a, b = ds[5], CropDataset(songs, seed=7, batch_size=4, augment=aug)[5]
    for k in a:
        assert torch.equal(a[k], b[k])
    assert not torch.equal(ds[6]["mix_8000"], a["mix_8000"])
    assert not torch.equal(CropDataset(songs, 8, 4, augment=aug)[5]["mix_8000"], a["mix_8000"])
    item = ds[1]
    assert item["mix_8000"].shape == (1, 4000) and item["sources_32000"].shape == (4, 1, 16000)
    # the mixture is the sum of the sources and has unit std at the base rate
    for r in RATES:
        torch.testing.assert_close(item[f"mix_{r}"], item[f"sources_{r}"].sum(0))
    assert abs(float(item["mix_8000"].std()) - 1.0) < 1e-3
    assert torch.equal(item["masks"], torch.ones(4, 1))
    # crops are aligned across rates: the 32 kHz crop decimated looks like the 8 kHz crop
    s8 = item["sources_8000"][1, 0].numpy()
    s32 = item["sources_32000"][1, 0].numpy()
    down = s32.reshape(-1, 4).mean(1)
    assert np.corrcoef(s8, down)[0, 1] > 0.95


def test_channel_and_gain_augmentation(tmp_path: Path) -> None:
    # One 1-s song with independent noise in every stem and channel; 1-s crops (offset 0).
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((4, 2, 8000)).astype(np.float32)
    write_song(tmp_path, "train", "n", raw, 8000)
    song = list_songs(tmp_path, "train")
    ds = CropDataset(song, seed=1, batch_size=4, rates=(8000,), augment=AugmentConfig(crop_s=1.0))
    chosen, gains = set(), []
    for i in range(12):
        src = ds[i]["sources_8000"][:, 0].numpy()
        g = []
        for k in range(4):
            ch = int(np.argmax([abs(np.dot(src[k], raw[k, c])) for c in range(2)]))
            ratio = src[k] / raw[k, ch]
            assert np.ptp(ratio) < 1e-4 * abs(ratio.mean()), "a stem is a scaled channel"
            chosen.add(ch)
            g.append(float(ratio.mean()))
        gains.append(g)
    g = np.array(gains)
    # gains relative to each other lie within [0.75, 1.25] / [0.75, 1.25] and vary
    assert (g.max(1) / g.min(1) <= 1.25 / 0.75 + 1e-6).all()
    assert g.std(1).min() > 0 and chosen == {0, 1}


def test_random_equaliser(prepared: Path, tmp_path: Path) -> None:
    songs = list_songs(prepared, "train")
    plain = CropDataset(songs, seed=3, batch_size=4, augment=AugmentConfig(crop_s=0.5))
    eqd = CropDataset(songs, seed=3, batch_size=4, augment=AugmentConfig(crop_s=0.5, eq_db=9.0))
    for i in range(6):
        a, b = plain.plan(i), eqd.plan(i)
        # the equaliser draws after everything else: the same songs, offsets, channels, gains
        assert a.eq == () and b[:4] == a[:4] and len(b.eq) == 4
        assert all(len(row) == len(EQ_ANCHORS_HZ) and max(map(abs, row)) <= 9.0 for row in b.eq)
        x, y = plain[i], eqd[i]
        ratios = []
        for r in RATES:
            torch.testing.assert_close(y[f"mix_{r}"], y[f"sources_{r}"].sum(0))
            for k in range(4):
                src = x[f"sources_{r}"][k, 0].numpy().astype(np.float64)
                want = np.fft.irfft(np.fft.rfft(src) * eq_curve(b.eq[k], src.size, r), n=src.size)
                got = y[f"sources_{r}"][k, 0].numpy()
                ratios.append(np.dot(got, want) / np.dot(want, want))
                assert np.abs(got - ratios[-1] * want).max() < 1e-4 * np.abs(got).max()
                assert not np.allclose(got / ratios[-1], src, atol=1e-3 * np.abs(src).max())
        # one normalisation for every stem and rate: the curve is the only change
        assert np.ptp(ratios) < 1e-4 * abs(np.mean(ratios))
    # the curve passes through the drawn gains at the anchors and is flat beyond them
    gains = [-6.0, 3.0, 0.0, 9.0, -9.0, 1.5, 4.0]
    curve = eq_curve(gains, 32000, 32000)  # 1-Hz bins
    for f, g in zip(EQ_ANCHORS_HZ, gains):
        assert abs(20 * np.log10(curve[int(f)]) - g) < 1e-3
    assert abs(20 * np.log10(curve[10]) + 6.0) < 1e-3
    assert abs(20 * np.log10(curve[15000]) - 4.0) < 1e-3
    # a silent stem stays digital silence
    make_song(tmp_path / "src" / "x", seed=3, drop=("bass",))
    prepare_folder(tmp_path / "src", tmp_path / "p", valid_fraction=0.0)
    ds = CropDataset(list_songs(tmp_path / "p", "train"), seed=0, batch_size=2,
                     augment=AugmentConfig(crop_s=0.5, eq_db=6.0, remix_p=0.0))
    assert not ds[0]["sources_32000"][1].any() and ds[0]["masks"][1, 0] == 0.0


def test_remix_draws_stems_from_different_songs(prepared: Path) -> None:
    songs = list_songs(prepared, "train")
    ds = CropDataset(songs, seed=0, batch_size=4, augment=AugmentConfig(crop_s=0.5, remix_p=0.5))
    assert ds.remix_count == 2
    plans = [ds.plan(i) for i in range(40)]
    for i, plan in enumerate(plans):
        if i % 4 >= 2:  # positions 2, 3: one song, one offset for every stem
            assert len(set(plan.songs)) == 1 and len(set(plan.offsets)) == 1
    mixed = [p for i, p in enumerate(plans) if i % 4 < 2]
    assert sum(len(set(p.songs)) > 1 for p in mixed) >= len(mixed) // 2
    assert all(0.75 <= g <= 1.25 for p in plans for g in p.gains)
    # the plan is what the item holds: the bass of a remixed item is that song's channel
    i = next(i for i, p in enumerate(plans) if i % 4 < 2 and len(set(p.songs)) > 1)
    p = plans[i]
    crop = songs[p.songs[1]].audio(8000)[1, p.channels[1], p.offsets[1]:p.offsets[1] + 4000]
    got = ds[i]["sources_8000"][1, 0].numpy()
    ratio = got[np.abs(crop) > 1e-2] / crop[np.abs(crop) > 1e-2]
    assert np.ptp(ratio) < 1e-3 * abs(ratio.mean())


def test_silent_stem_is_masked(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_song(src / "x", seed=3, drop=("bass",))
    make_song(src / "y", seed=4, drop=("bass",))
    prepare_folder(src, tmp_path / "p", valid_fraction=0.0)
    ds = CropDataset(list_songs(tmp_path / "p", "train"), seed=0, batch_size=2,
                     augment=AugmentConfig(crop_s=0.5))
    item = ds[0]
    assert item["masks"][:, 0].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert not item["sources_16000"][1].any()


def test_sampler_partitions_the_global_batch() -> None:
    single = list(StepBatchSampler(4, accum=1, start_step=3, steps=2))
    assert single == [[12, 13, 14, 15], [16, 17, 18, 19]]
    parts = [list(StepBatchSampler(4, accum=2, rank=r, world=2, start_step=3, steps=1))
             for r in range(2)]
    assert parts == [[[12], [14]], [[13], [15]]]
    with pytest.raises(DataError, match="not divisible"):
        StepBatchSampler(3, accum=2)


def test_spectrogram_statistics(prepared: Path) -> None:
    songs = list_songs(prepared, "train")
    ds = CropDataset(songs, seed=0, batch_size=2, augment=AugmentConfig(crop_s=0.5))
    cfg = ModelConfig(N=32, B=16, H=32, layers=2, stack=1, num_mels=16)
    model = MetaTasNet(cfg)
    stats = compute_spectrogram_stats(model, ds, crops=5, batch=2, first_index=100)
    batch = collate([ds[100 + i] for i in range(5)])
    for i, (mean, std) in enumerate(stats):
        spec = model.stages[i].encoder.spectrogram
        lp = spec.log_power(batch[f"mix_{RATES[i]}"].squeeze(1)).double()
        want_mean = lp.mean(dim=(0, 2))
        want_std = lp.permute(1, 0, 2).reshape(lp.shape[1], -1).std(dim=1, unbiased=True)
        torch.testing.assert_close(spec.mean.flatten().double(), want_mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(spec.std.flatten().double(), want_std, rtol=1e-4, atol=1e-5)
        assert torch.equal(mean, spec.mean) and torch.equal(std, spec.std)
        assert not spec.mean.requires_grad
