"""Validation on whole songs: through the separation engine and through the fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core import MetaTasNet, ModelConfig
from training import train as train_module
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


def test_fallback_without_the_separation_engine(tiny_model: MetaTasNet, prepared: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_module, "_make_separator", lambda *a, **k: None)
    result = validate(tiny_model, prepared, torch.device("cpu"), segment_s=1.0, max_s=1.0)
    assert result is not None and np.isfinite(result["sisnr"])
    # The fallback's whole-segment forward equals a direct model call on the same audio.
    from training.prepared import list_songs

    song = list_songs(prepared, "valid")[0]
    mixes = [np.asarray(song.audio(r)[..., : 8000 * r // 8000]).sum(0) for r in
             (8000, 16000, 32000)]
    out = train_module._fallback_separate(tiny_model.eval(), mixes, 1.0, torch.device("cpu"))
    std = float(mixes[0].std())
    with torch.no_grad():
        ref = tiny_model([torch.from_numpy(m / std).float().unsqueeze(1) for m in mixes],
                         last_only=True)[-1]
    tiny_model.train()
    np.testing.assert_allclose(out, ref[:, :, 0].numpy().transpose(1, 0, 2) * std, atol=1e-5)
