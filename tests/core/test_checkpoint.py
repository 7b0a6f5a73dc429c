"""Checkpoint safety and validation: authors' .pt import, native .safetensors, malicious pickles."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import core
from core.checkpoint import FORMAT_NAME, read_authors_checkpoint
from core.config import ModelConfig
from core.errors import ModelLoadError, ModelNotFoundError


class _Evil:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_config_mapped_from_authors_args(tiny_checkpoint: Path) -> None:
    config, state = read_authors_checkpoint(tiny_checkpoint)
    assert (config.N, config.L, config.W, config.B, config.H) == (32, 20, 20, 16, 32)
    sizes = (config.layers, config.stack, config.num_mels, config.E_1, config.E_2)
    assert sizes == (2, 1, 16, 8, 5)
    assert config.stages_num == 3 and not config.independent_params
    assert len(state) == 291


@pytest.mark.parametrize("where", ["args", "state_dict", "top"])
def test_malicious_pickle_in_checkpoint_is_refused(tmp_path: Path, tiny_checkpoint: Path,
                                                   where: str) -> None:
    marker = tmp_path / "pwned"
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(tiny_checkpoint, weights_only=True)
    evil = _Evil(marker)
    if where == "args":
        ckpt["args"].payload = evil
    elif where == "state_dict":
        ckpt["state_dict"]["stages.0.mask.prelu_1.weight"] = evil
    else:
        ckpt = evil
    bad = tmp_path / "evil.pt"
    torch.save(ckpt, bad)
    with pytest.raises(ModelLoadError, match="refused"):
        core.load_model(bad)
    assert not marker.exists()


def test_raw_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(ModelLoadError):
        core.load_model(bad)
    assert not marker.exists()


def test_missing_and_misshaped_keys_are_named(tmp_path: Path, tiny_checkpoint: Path) -> None:
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(tiny_checkpoint, weights_only=True)
    del ckpt["state_dict"]["stages.1.mask.norm_2.affine.bias"]
    ckpt["state_dict"]["stages.2.decoder.filters.0.weight"] = torch.zeros(3, 1, 80)
    ckpt["state_dict"]["stages.0.extra"] = torch.zeros(1)
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    with pytest.raises(ModelLoadError) as info:
        core.load_model(bad)
    msg = str(info.value)
    assert "stages.1.mask.norm_2.affine.bias" in msg
    assert "stages.2.decoder.filters.0.weight" in msg and "(3, 1, 80)" in msg
    assert "stages.0.extra" in msg


def test_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        core.load_model(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(ModelLoadError):
        core.load_model(junk)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="state_dict"):
        core.load_model(tmp_path / "other.pt")


def test_native_metadata_and_versioning(tmp_path: Path, tiny_native: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(tiny_native), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == FORMAT_NAME and meta["format_version"] == "1"
    config = ModelConfig.from_json(meta["config"])
    assert config.N == 32 and config.num_mels == 16
    # A file from a newer Stemweave is refused with a clear message.
    state = {"x": torch.zeros(1)}
    newer = tmp_path / "newer.safetensors"
    save_file(state, str(newer), metadata={**meta, "format_version": "99"})
    with pytest.raises(ModelLoadError, match="newer"):
        core.load_model(newer)
    # A safetensors file without our metadata is refused.
    plain = tmp_path / "plain.safetensors"
    save_file(state, str(plain))
    with pytest.raises(ModelLoadError, match="not a Stemweave model"):
        core.load_model(plain)
    # Weights with the right layout but a wrong config in the metadata are refused.
    wrong = tmp_path / "wrong.safetensors"
    cfg = json.loads(meta["config"])
    cfg["N"] = 64
    model = core.load_model(tiny_native)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(wrong),
              metadata={**meta, "config": json.dumps(cfg)})
    with pytest.raises(ModelLoadError, match="shape"):
        core.load_model(wrong)


def test_truncated_native_file_is_refused(tmp_path: Path, tiny_native: Path) -> None:
    data = tiny_native.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    assert struct.unpack("<Q", data[:8])[0] > 0
    with pytest.raises(ModelLoadError):
        core.load_model(cut)


def test_save_is_atomic(tmp_path: Path, tiny_native: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that fails part-way through writing leaves neither a partial file nor a changed
    old one (the stand-in writes half of the real file, then fails)."""
    import core.checkpoint

    model = core.load_model(tiny_native)
    target = tmp_path / "out.safetensors"
    real_save = core.checkpoint.save_file

    def half_then_fail(state: dict, filename: str, metadata: dict | None = None) -> None:
        real_save(state, filename, metadata=metadata)
        data = Path(filename).read_bytes()
        Path(filename).write_bytes(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.checkpoint.save_file", half_then_fail)
    with pytest.raises(OSError):
        core.save_model(model, target)
    assert list(tmp_path.iterdir()) == []
    # over an existing file: the old weights stay, byte for byte
    target.write_bytes(tiny_native.read_bytes())
    with pytest.raises(OSError):
        core.save_model(model, target)
    assert target.read_bytes() == tiny_native.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors"]


def test_nan_weights_are_refused(tmp_path: Path, tiny_native: Path) -> None:
    model = core.load_model(tiny_native)
    with torch.no_grad():
        model.stages[0].decoder.filters[0].weight[0, 0, 0] = float("nan")
    bad = core.save_model(model, tmp_path / "nan.safetensors")
    with pytest.raises(ModelLoadError, match="NaN"):
        core.load_model(bad)


def test_a_model_file_names_its_network_window(tiny_native: Path, tmp_path: Path) -> None:
    """``window_s`` metadata: the longest input the network is run on at once. Read back into
    the engine's family; absent means one call per engine window; an unusable value refuses the
    file with its name; the engine window itself is unchanged."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from core.checkpoint import WINDOW_KEY, load_model, save_model
    from core.families import read_any
    from core.options import DEFAULT_SEGMENT_S, SEGMENT_MIN_S
    from core.separator import Separator

    short = save_model(load_model(tiny_native), tmp_path / "short.safetensors", window_s=1.5)
    with safe_open(str(short), framework="pt") as f:
        meta = dict(f.metadata())
    assert meta[WINDOW_KEY] == "1.5"
    assert read_any(short).window_s == 1.5
    assert read_any(tiny_native).window_s is None
    assert Separator(short, "cpu").segment_s == DEFAULT_SEGMENT_S
    with pytest.raises(ValueError, match="segment"):
        save_model(load_model(tiny_native), tmp_path / "x.safetensors", window_s=SEGMENT_MIN_S / 2)
    bad = tmp_path / "bad window.safetensors"
    save_file(load_file(str(short)), str(bad), metadata={**meta, WINDOW_KEY: "soon"})
    with pytest.raises(ModelLoadError, match="bad window.safetensors.*network window"):
        read_any(bad)


def test_the_builtin_model_runs_in_short_network_windows() -> None:
    from core.families import read_any
    from core.resources import builtin_model_path

    fam = read_any(builtin_model_path())
    assert fam.window_s == 4.2  # chosen on validation songs (docs/engine.md)
