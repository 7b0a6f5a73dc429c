"""Validation on whole songs, through the separation engine (the one segmenter)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core import MetaTasNet, ModelConfig
from training.train import validate

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_model() -> MetaTasNet:
    torch.manual_seed(0)
    return MetaTasNet(ModelConfig(N=32, B=16, H=32, layers=2, stack=1, num_mels=16)).train()


def test_validation_leaves_the_model_trainable(tiny_model: MetaTasNet, prepared: Path) -> None:
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    grads = {n: p.requires_grad for n, p in tiny_model.named_parameters()}
    result = validate(tiny_model, prepared, torch.device("cpu"), segment_s=2.0, max_s=1.0)
    assert result is not None and np.isfinite(result["sisnr"])
    assert {f"sisnr_{s}" for s in ("drums", "bass", "other", "vocals")} <= set(result)
    np.testing.assert_allclose(result["sisnr"], np.mean([result[f"sisnr_{s}"] for s in
                                                         ("drums", "bass", "other", "vocals")]))
    assert tiny_model.training
    assert {n: p.requires_grad for n, p in tiny_model.named_parameters()} == grads
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, before[k])
    assert not tiny_model.stages[0].encoder.spectrogram.float64_magnitude
    assert validate(tiny_model, prepared, torch.device("cpu"), max_songs=0) is None


def test_validation_separates_in_float32_without_a_precision_probe(
        tiny_model: MetaTasNet, prepared: Path) -> None:
    """Validation scores must be comparable across steps, and new weights at every validation
    must not start a precision probe: the engine is fixed to float32."""
    from training.train import _make_separator

    separator = _make_separator(tiny_model, torch.device("cpu"), 2.0)
    assert separator.precision == "fp32"
    separator.separate(np.zeros((2, 8000), np.float32), 8000)
    assert separator.precision_choice is None  # no probe ran


def test_validation_runs_the_network_in_the_runs_network_window(
        tiny_model: MetaTasNet, prepared: Path) -> None:
    """A run with ``--network-window`` validates the network as its checkpoints will be run:
    no forward sees more than the window, and the scores differ from whole-window ones."""
    lengths: list[int] = []
    hook = tiny_model.register_forward_pre_hook(
        lambda _m, args: lengths.append(args[0][0].shape[-1]))
    try:
        # the engine copies the model: the hook goes with the copy
        windowed = validate(tiny_model, prepared, torch.device("cpu"), segment_s=2.0, max_s=2.0,
                            window_s=1.0)
        assert lengths and max(lengths) <= 8000 * 1.0
        lengths.clear()
        whole = validate(tiny_model, prepared, torch.device("cpu"), segment_s=2.0, max_s=2.0)
        assert max(lengths) > 8000 * 1.0
    finally:
        hook.remove()
    assert windowed is not None and whole is not None and np.isfinite(windowed["sisnr"])
    assert windowed["sisnr"] != whole["sisnr"]
