"""Mixed-precision choice of the training loop on the CPU. Whether the CPU has native bf16 is
forced both ways, so the tests hold on any CPU (bf16 autocast runs everywhere, only slower
where the CPU lacks AVX512-BF16/AMX)."""

from __future__ import annotations

import pytest
import torch

import training.train
from core.precision import cpu_bf16_native
from training.train import _amp_settings

CPU = torch.device("cpu")


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "no-native-bf16"])
def test_cpu_bf16_only_where_the_cpu_has_native_bfloat16(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(training.train, "cpu_bf16_native", lambda: native)
    assert _amp_settings("bf16", CPU) == ((True, torch.bfloat16) if native
                                          else (False, torch.float32))
    # auto, off and fp16 train in float32 on the CPU
    for mode in ("auto", "off", "fp16"):
        assert _amp_settings(mode, CPU) == (False, torch.float32)


def test_the_real_cpu_is_asked() -> None:
    """Unpatched, the training loop follows what torch reports for this CPU."""
    assert _amp_settings("bf16", CPU)[0] == cpu_bf16_native()


@pytest.mark.parametrize("native", [True, False], ids=["native-bf16", "no-native-bf16"])
def test_cpu_bf16_autocast_trains_the_model(monkeypatch, native: bool) -> None:
    from core import MetaTasNet, ModelConfig

    monkeypatch.setattr(training.train, "cpu_bf16_native", lambda: native)
    use, dtype = _amp_settings("bf16", CPU)
    model = MetaTasNet(ModelConfig(N=32, B=16, H=32, layers=2, stack=1, num_mels=16)).train()
    mixes = [torch.randn(2, 1, 800 * k) * 0.1 for k in (1, 2, 4)]
    with torch.autocast("cpu", dtype=dtype, enabled=use):
        out = model(mixes)
    assert out[-1].dtype == (torch.bfloat16 if native else torch.float32)
    loss = sum(o.float().pow(2).mean() for o in out)
    loss.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad for p in params if p.grad is not None]
    assert len(grads) >= 0.8 * len(params)  # a few parameters feed no loss (last residual)
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert out[-1].shape == (2, 4, 1, 3200)
