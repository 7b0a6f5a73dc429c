"""One model resolver: the CLI, the GUI and training give the same answer for the same name.

Every entry point goes through :func:`core.model_store.resolve_model`; this checks it from the
outside, through each entry point as a user drives it (``stemweave separate --model``, the
window's Settings model, ``train --init``), against one isolated model store.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import ModelNotFoundError
from core.model_store import AUTHORS_MODEL, ENV_MODELS_DIR
from stemweave.cli import main
from training.config import TrainConfig
from training.train import build_model


@pytest.fixture
def models(tmp_path: Path, tiny_native: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An isolated store (the window's and the default one) holding a catalogue model and a
    user model, a built-in model and a loose weights file: each a different file."""
    store = tmp_path / "models"  # the folder the make_window fixture's store uses
    store.mkdir()
    monkeypatch.setenv(ENV_MODELS_DIR, str(store))
    files = {
        "catalogue": store / f"{AUTHORS_MODEL}.safetensors",
        "installed": store / "mine.safetensors",
        "file": tmp_path / "elsewhere" / "loose.safetensors",
        "builtin": tmp_path / "resources" / "builtin.safetensors",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tiny_native, path)
    monkeypatch.setattr("core.model_store.builtin_model_path", lambda: files["builtin"])
    return files


def _cli(value: str | None, song: Path, out: Path, caplog: pytest.LogCaptureFixture,
         capsys: pytest.CaptureFixture[str]) -> Path | str:
    """The model ``stemweave separate`` used, or the error line it printed."""
    caplog.clear()
    capsys.readouterr()
    args = ["separate", str(song), "-o", str(out), "--device", "cpu"]
    if value is not None:
        args += ["--model", value]
    with caplog.at_level(logging.INFO, logger="stemweave.separate"):
        status = main(args)
    if status:
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("stemweave: error: ")
        return err[0].removeprefix("stemweave: error: ")
    used = [r.args[0] for r in caplog.records if r.getMessage().startswith("model: ")]
    assert len(used) == 1
    return Path(used[0])


def _gui(window, value: str | None) -> Path | str:  # noqa: ANN001
    """The model the window separates with, or the first line of its error."""
    window.settings.model = value or ""
    try:
        return window.resolve_model()
    except ModelNotFoundError as exc:
        return str(exc).splitlines()[0]


def _training(value: str, caplog: pytest.LogCaptureFixture) -> Path | str:
    """The weights ``train --init`` starts from, or its error."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="training.train"):
        try:
            build_model(TrainConfig(init=value))
        except ModelNotFoundError as exc:
            return str(exc)
    used = [r.args[0] for r in caplog.records if r.getMessage().startswith("initial weights")]
    assert len(used) == 1
    return Path(used[0])


def test_cli_gui_and_training_resolve_every_kind_of_name_alike(
        models: dict[str, Path], make_window, tmp_path: Path, caplog, capsys) -> None:
    song = tmp_path / "song.wav"
    t = np.arange(8000) / 8000.0
    sf.write(song, np.stack([np.sin(2 * np.pi * 220 * t)] * 2, 1).astype(np.float32), 8000)
    window = make_window(model=None)
    cases = {
        AUTHORS_MODEL: models["catalogue"],
        "mine": models["installed"],
        str(models["file"]): models["file"],
        "builtin": models["builtin"],
    }
    for value, expected in cases.items():
        answers = {"cli": _cli(value, song, tmp_path / "out", caplog, capsys),
                   "gui": _gui(window, value), "training": _training(value, caplog)}
        assert answers == dict.fromkeys(answers, expected), value

    # no name: the built-in model for the command line and the window alike
    assert _cli(None, song, tmp_path / "out", caplog, capsys) == models["builtin"]
    assert _gui(window, None) == models["builtin"]

    # a missing name: the same message everywhere, naming it
    answers = {"cli": _cli("nope", song, tmp_path / "out", caplog, capsys),
               "gui": _gui(window, "nope"), "training": _training("nope", caplog)}
    assert len(set(answers.values())) == 1 and "'nope'" in answers["cli"], answers


def test_without_a_builtin_model_the_default_is_an_installed_catalogue_model(
        models: dict[str, Path], make_window, tmp_path: Path, caplog, capsys) -> None:
    """A build without the built-in model: the command line works where the window does."""
    models["builtin"].unlink()
    song = tmp_path / "song.wav"
    sf.write(song, np.zeros((4000, 2), np.float32) + 0.1, 8000)
    window = make_window(model=None)
    assert _gui(window, None) == models["catalogue"]
    assert _cli(None, song, tmp_path / "out", caplog, capsys) == models["catalogue"]
    models["catalogue"].unlink()
    message = _cli(None, song, tmp_path / "out", caplog, capsys)
    assert isinstance(message, str) and "stemweave models download" in message
    with pytest.raises(ModelNotFoundError):
        window.resolve_model()
