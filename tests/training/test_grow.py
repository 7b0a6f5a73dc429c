"""Growing a trained model's TCN (``training.grow``, ``stemweave train --grow-layers``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core import load_model
from core.config import ModelConfig
from core.errors import DataError
from core.model import MetaTasNet
from core.model.generated import reference_kernels
from stemweave.cli import main
from tests.training.conftest import TINY_RUN
from training.grow import grow_layers

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = ModelConfig(N=32, B=16, H=32, layers=2, stack=2, num_mels=16, stages_num=2)


def _trained_like(config: ModelConfig, seed: int = 0) -> MetaTasNet:
    """A model whose every parameter is random and non-zero (no block starts silent)."""
    torch.manual_seed(seed)
    model = MetaTasNet(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def _mixes(config: ModelConfig, batch: int = 1, frames: int = 800) -> list[torch.Tensor]:
    """Per-stage mixtures ``[(batch, 1, frames * 2**s)]``."""
    torch.manual_seed(1)
    return [torch.randn(batch, 1, frames * 2**s) for s in range(config.stages_num)]


def _separate(model: MetaTasNet, mixes: list[torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model(mixes, last_only=True)[-1]


def test_grown_model_computes_what_the_trained_one_did() -> None:
    src = _trained_like(SMALL)
    grown = grow_layers(src, 4, seed=3)
    assert grown.config.layers == 4 and grown.config.stack == 2
    assert len(grown.stages[0].mask.tcn) == 8
    # block i of stack s keeps its weights at s * layers + i; the dilations continue
    old_sd, new_sd = src.state_dict(), grown.state_dict()
    for s in range(2):
        for i in range(2):
            for name in ("conv1d.kernel.weight", "dconv1d.kernel.weight", "res_out.kernel.bias"):
                assert torch.equal(old_sd[f"stages.1.mask.tcn.{s * 2 + i}.{name}"],
                                   new_sd[f"stages.1.mask.tcn.{s * 4 + i}.{name}"])
    assert [b.dconv1d.dilation for b in grown.stages[0].mask.tcn] == [1, 2, 4, 8] * 2
    assert grown.config.receptive_field_s == pytest.approx((1 + 2 * 2 * 15) * 20 / 8000)
    assert SMALL.receptive_field_s == pytest.approx((1 + 2 * 2 * 3) * 20 / 8000)
    mix = _mixes(SMALL)
    want = _separate(src, mix)
    got = _separate(grown, mix)
    assert torch.allclose(got, want, atol=1e-6, rtol=0)
    with reference_kernels():  # the training path agrees as well
        assert torch.allclose(_separate(grown, mix), want, atol=1e-6, rtol=0)
    # the new blocks are really there: changing one changes the output
    with torch.no_grad():
        grown.stages[1].mask.tcn[3].skip_out.kernel.bias.fill_(0.1)
    assert not torch.allclose(_separate(grown, mix), want, atol=1e-4)


def test_new_blocks_learn_from_the_first_step() -> None:
    grown = grow_layers(_trained_like(SMALL), 3).train()
    grown(_mixes(SMALL, batch=2))[-1].square().mean().backward()
    new = grown.stages[0].mask.tcn[2]  # stack 0, the added block
    assert new.skip_out.kernel.weight.grad.abs().sum() > 0
    assert new.res_out.kernel.weight.grad.abs().sum() > 0


def test_growth_only_adds_blocks() -> None:
    src = _trained_like(SMALL)
    with pytest.raises(DataError, match="only adds blocks"):
        grow_layers(src, 1)
    same = grow_layers(src, 2)
    mix = _mixes(SMALL)
    assert torch.allclose(_separate(same, mix), _separate(src, mix), atol=1e-6, rtol=0)


def test_train_grow_layers_from_a_checkpoint(tmp_path: Path, prepared: Path,
                                             tiny_native: Path, tiny_checkpoint: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    src = load_model(tiny_native)
    run = tmp_path / "grown"
    assert main(["train", "--data", str(prepared), "--out", str(run), "--init",
                 str(tiny_native), "--grow-layers", str(src.config.layers + 2), *TINY_RUN,
                 "--steps", "1", "--valid-songs", "0"]) == 0
    config = ModelConfig.from_json((run / "model_config.json").read_text())
    assert config.layers == src.config.layers + 2
    assert load_model(run / "last.safetensors").config == config
    assert json.loads((run / "config.json").read_text())["grow_layers"] == config.layers
    # the resumed run keeps the grown network
    assert main(["train", "--data", str(prepared), "--out", str(run), "--resume",
                 "--steps", "2", "--workers", "0", "--no-progress", "--threads", "1"]) == 0
    assert load_model(run / "last.safetensors").config.layers == config.layers
    capsys.readouterr()
    # user errors: one line, before anything is written
    assert main(["train", "--data", str(prepared), "--out", str(tmp_path / "r2"),
                 "--grow-layers", "4", *TINY_RUN]) == 1
    err = capsys.readouterr().err
    assert "pass --init" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--data", str(prepared), "--out", str(tmp_path / "r3"), "--init",
                 str(tiny_native), "--grow-layers", "1", *TINY_RUN]) == 1
    assert "only adds blocks" in capsys.readouterr().err
    # the authors' .pt has no header: its configuration is read from the file itself
    assert main(["train", "--data", str(prepared), "--out", str(tmp_path / "r4"), "--init",
                 str(tiny_checkpoint), "--grow-layers", "1", *TINY_RUN]) == 1
    assert "already has 2 per stack" in capsys.readouterr().err
    assert not any((tmp_path / r).exists() for r in ("r2", "r3", "r4"))
