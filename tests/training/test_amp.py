"""Mixed-precision choice of the training loop on the CPU."""

from __future__ import annotations

import torch

from core.precision import cpu_bf16_native
from training.train import _amp_settings

CPU = torch.device("cpu")


def test_cpu_bf16_only_where_the_cpu_has_native_bfloat16() -> None:
    native = cpu_bf16_native()
    assert _amp_settings("bf16", CPU) == ((True, torch.bfloat16) if native
                                          else (False, torch.float32))
    # auto, off and fp16 train in float32 on the CPU
    for mode in ("auto", "off", "fp16"):
        assert _amp_settings(mode, CPU) == (False, torch.float32)


def test_cpu_bf16_autocast_trains_the_model() -> None:
    from core import MetaTasNet, ModelConfig

    use, dtype = _amp_settings("bf16", CPU)
    model = MetaTasNet(ModelConfig(N=32, B=16, H=32, layers=2, stack=1, num_mels=16)).train()
    mixes = [torch.randn(2, 1, 800 * k) * 0.1 for k in (1, 2, 4)]
    with torch.autocast("cpu", dtype=dtype, enabled=use):
        out = model(mixes)
    loss = sum(o.float().pow(2).mean() for o in out)
    loss.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad for p in params if p.grad is not None]
    assert len(grads) >= 0.8 * len(params)  # a few parameters feed no loss (last residual)
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert out[-1].shape == (2, 4, 1, 3200)
