"""core.precision: ``precision="auto"`` measures, respects the quality bound, caches per model
and machine; an explicit precision skips the probe. Real tiny model, real cache files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import core.precision as precision_module
from core import load_model
from core.precision import (
    CACHE_FILE,
    MIN_SDR_DB,
    cached_choices,
    choose_precision,
    forward_fn,
    model_hash,
)
from core.separator import Separator

CPU = torch.device("cpu")


@pytest.fixture()
def model(tiny_checkpoint):
    torch.set_num_threads(1)
    return load_model(tiny_checkpoint, CPU).eval()


def replaying(model, noise_db: float, calls: list[int]):
    """A candidate 'precision' that computes fp32 once per input and afterwards replays it with
    noise ``noise_db`` below the output: as fast as a lookup, with a chosen quality."""
    fp32 = forward_fn(model, CPU, "fp32")
    seen: dict[bytes, torch.Tensor] = {}

    def forward(mixes):
        calls.append(1)
        key = mixes[0].numpy().tobytes()
        if key not in seen:
            seen[key] = fp32(mixes)
        out = seen[key]
        gen = torch.Generator().manual_seed(len(calls))
        noise = torch.randn(out.shape, generator=gen)
        noise *= out.norm() / noise.norm() * 10 ** (-noise_db / 20)
        return out + noise

    return forward


def test_never_picks_a_precision_failing_the_quality_bound(model, tmp_path):
    calls: list[int] = []
    bad = replaying(model, noise_db=MIN_SDR_DB - 15, calls=calls)  # fastest, but 20 dB SDR
    choice = choose_precision(model, CPU, candidates={"bf16": bad}, directory=tmp_path)
    assert calls, "the candidate was not measured"
    assert choice.seconds["bf16"] < choice.seconds["fp32"]  # it would win on speed
    assert choice.sdr_db["bf16"] == pytest.approx(MIN_SDR_DB - 15, abs=0.5)
    assert choice.precision == "fp32"
    assert "SDR" in choice.rejected["bf16"]


def test_picks_the_fastest_precision_within_the_bound(model, tmp_path):
    calls: list[int] = []
    good = replaying(model, noise_db=MIN_SDR_DB + 20, calls=calls)
    choice = choose_precision(model, CPU, candidates={"bf16": good}, directory=tmp_path)
    assert choice.precision == "bf16", choice.describe()
    assert choice.sdr_db["bf16"] >= MIN_SDR_DB and not choice.cached


def test_choice_is_cached_and_a_different_model_is_measured_again(model, tmp_path, tiny_checkpoint):
    calls: list[int] = []
    cand = {"bf16": replaying(model, noise_db=MIN_SDR_DB + 20, calls=calls)}
    first = choose_precision(model, CPU, candidates=cand, directory=tmp_path)
    n = len(calls)
    assert not first.cached and n > 0
    stored = json.loads((tmp_path / CACHE_FILE).read_text())
    assert list(stored) == [first.key] and stored[first.key]["precision"] == first.precision

    again = choose_precision(model, CPU, candidates=cand, directory=tmp_path)
    assert again.cached and again.precision == first.precision and again.key == first.key
    assert len(calls) == n  # nothing was run

    other = load_model(tiny_checkpoint, CPU).eval()
    with torch.no_grad():
        next(other.parameters()).mul_(1.01)  # different weights, same configuration
    assert model_hash(other) != model_hash(model)
    third = choose_precision(other, CPU, candidates=cand, directory=tmp_path)
    assert not third.cached and third.key != first.key
    assert len(calls) > n
    assert {e["model"] for e in cached_choices(tmp_path)} == {model_hash(model), model_hash(other)}


def test_a_changed_forward_is_measured_again(model, tmp_path, monkeypatch):
    """Choices cached for an older forward (e.g. bf16 as autocast) are not reused."""
    calls: list[int] = []
    cand = {"bf16": replaying(model, noise_db=MIN_SDR_DB + 20, calls=calls)}
    first = choose_precision(model, CPU, candidates=cand, directory=tmp_path)
    n = len(calls)
    monkeypatch.setattr(precision_module, "FORWARD_VERSION", precision_module.FORWARD_VERSION + 1)
    again = choose_precision(model, CPU, candidates=cand, directory=tmp_path)
    assert not again.cached and again.key != first.key and len(calls) > n


def test_unreadable_cache_is_measured_again(model, tmp_path):
    (tmp_path / CACHE_FILE).write_text("{not json")
    calls: list[int] = []
    bad = replaying(model, noise_db=MIN_SDR_DB - 15, calls=calls)
    choice = choose_precision(model, CPU, candidates={"bf16": bad}, directory=tmp_path)
    assert calls and choice.precision == "fp32" and not choice.cached and choice.measured
    assert json.loads((tmp_path / CACHE_FILE).read_text())[choice.key]["precision"] == "fp32"


def test_nothing_to_try_is_not_called_a_measurement(model, tmp_path):
    choice = choose_precision(model, CPU, candidates={}, directory=tmp_path)
    assert choice.precision == "fp32" and not choice.measured and not choice.seconds
    assert "not measured" in choice.describe() and "measured now" not in choice.describe()
    assert not (tmp_path / CACHE_FILE).exists()  # nothing measured, nothing cached


def _song(seconds=1.0, rate=16000):
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)]
                    ).astype(np.float32)


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "no-native-bf16"])
def test_explicit_precision_wins_and_auto_measures(tiny_checkpoint, tmp_path, monkeypatch, native):
    """Holds on any CPU: whether torch reports native bf16 is forced both ways (bf16 itself runs
    everywhere, only its speed differs, so which precision auto picks is not asserted, only
    that it follows the figures it measured and cached)."""
    monkeypatch.setattr(precision_module, "cpu_bf16_native", lambda: native)
    monkeypatch.setenv("STEMWEAVE_CACHE_DIR", str(tmp_path))
    x = _song()
    for asked in ("fp32", "bf16"):
        fixed = Separator(tiny_checkpoint, "cpu", precision=asked, threads=1)
        y = fixed.separate(x, 16000)
        assert fixed.precision == asked and fixed.precision_choice is None
        assert np.isfinite(y).all() and y.shape == (4, *x.shape)
    assert not (tmp_path / CACHE_FILE).exists()  # no probe ran

    auto = Separator(tiny_checkpoint, "cpu", threads=1)
    assert auto.precision is None  # nothing measured in the constructor
    y = auto.separate(x, 16000)
    choice = auto.precision_choice
    assert choice is not None and auto.precision == choice.precision
    assert np.isfinite(y).all() and y.shape == (4, *x.shape)
    again = Separator(tiny_checkpoint, "cpu", threads=1)
    assert again.resolve_precision() == auto.precision
    if not native:  # nothing but fp32 offered: not measured, nothing cached
        assert choice.precision == "fp32" and not choice.measured and not choice.seconds
        assert not (tmp_path / CACHE_FILE).exists()
        assert not again.precision_choice.measured
        return
    assert choice.measured and not choice.cached
    assert "fp32" in choice.seconds and ("bf16" in choice.seconds or "bf16" in choice.rejected)
    if choice.precision == "bf16":
        assert choice.seconds["bf16"] < choice.seconds["fp32"] and "bf16" not in choice.rejected
    else:
        assert choice.precision == "fp32" and "bf16" in choice.rejected
    entry = json.loads((tmp_path / CACHE_FILE).read_text())[choice.key]
    assert entry["precision"] == auto.precision and entry["seconds"] == choice.seconds
    assert again.precision_choice.cached and again.precision_choice.key == choice.key
