"""Regression tests for the training commands' defects a new user found (issue 14): help texts
with defaults, progress bars only on a terminal, progress while computing the spectrogram
statistics, no ``dataset.json`` left by a failed ``prepare``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stemweave.cli import main
from tests.training.conftest import TINY_MODEL, TINY_RUN, make_song

ROOT = Path(__file__).resolve().parents[2]


def _help(command: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "stemweave", *command, "--help"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _option_help(text: str) -> dict[str, str]:
    """Option -> its help text, from argparse's output (the help may start on the next line)."""
    found: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^  (-[-\w]+)(.*)$", line)
        if m:
            current = m.group(1)
            parts = re.split(r"\s{2,}", m.group(2).rstrip(), maxsplit=1)
            found[current] = parts[1] if len(parts) == 2 else ""
        elif current and line.startswith("    ") and line.strip():
            found[current] = (found[current] + " " + line.strip()).strip()
        else:
            current = None
    return found


@pytest.mark.parametrize(("command", "with_default"), [
    (["train"], ["--N", "--L", "--W", "--B", "--H", "--layers", "--stack", "--kernel",
                 "--filters", "--num_mels", "--E_1", "--E_2", "--stages", "--lr",
                 "--weight-decay", "--reconstruction-weight", "--dissimilarity-weight",
                 "--similarity-weight", "--seed", "--log-every", "--dropout"]),
    (["evaluate"], ["--split", "--segment-s", "--device", "--max-songs"]),
    (["prepare"], ["--resampler", "--seed", "--valid-fraction"]),
])
def test_every_option_has_help_and_the_listed_ones_a_default(command, with_default) -> None:
    options = _option_help(_help(command))
    for name in with_default:
        assert name in options, (name, sorted(options))
        assert "(default: " in options[name], f"{name}: {options[name]!r}"
    missing = [k for k, v in options.items() if not v.strip()]
    assert not missing, f"options without help: {missing}"


def test_models_import_path_has_help() -> None:
    text = _help(["models", "import"])
    assert re.search(r"^  path +\S", text, re.M), text


def test_prepare_with_a_wrong_layout_leaves_nothing(tmp_path: Path, capsys) -> None:
    source = tmp_path / "songs"
    (source / "not a song").mkdir(parents=True)
    (source / "not a song" / "readme.txt").write_text("no stems here")
    out = tmp_path / "prepared"
    assert main(["prepare", str(source), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stemweave: error:")
    assert not out.exists()
    # an existing dataset keeps its index and songs when a later run fails
    make_song(tmp_path / "good" / "song0", seed=0, seconds=1.0)
    assert main(["prepare", str(tmp_path / "good"), "--out", str(out), "--no-progress"]) == 0
    assert main(["prepare", str(source), "--out", str(out), "--no-progress"]) == 1
    assert (out / "dataset.json").is_file() and list(out.glob("*/song0/meta.json"))


def test_no_progress_bars_in_a_log_file(tmp_path: Path) -> None:
    """stderr redirected to a file: prepare, synth, train and evaluate write no bars there."""
    songs = tmp_path / "songs"
    for k in range(3):
        make_song(songs / f"song{k}", seed=k, seconds=1.5)
    log = tmp_path / "log.txt"
    data, run = tmp_path / "data", tmp_path / "run"
    runs = [
        ["prepare", str(songs), "--out", str(data), "--valid-fraction", "0.34"],
        ["synth", str(tmp_path / "synth"), "--songs", "1", "--seconds", "1", "--workers", "1"],
        ["train", "--data", str(data), "--out", str(run), *TINY_MODEL,
         *[a for a in TINY_RUN if a != "--no-progress"], "--steps", "1", "--steps-per-epoch",
         "1"],
        ["evaluate", str(run / "best.safetensors"), "--data", str(data), "--split", "valid",
         "--out", str(tmp_path / "scores"), "--max-s", "1", "--threads", "1"],
    ]
    for argv in runs:
        with open(log, "w") as err:
            proc = subprocess.run([sys.executable, "-m", "stemweave", *argv],
                                  stdout=subprocess.PIPE, stderr=err, text=True, timeout=300,
                                  cwd=ROOT)
        text = log.read_text()
        assert proc.returncode == 0, (argv[0], text)
        assert "\r" not in text and "it/s" not in text and "|" not in text, (argv[0], text)


def test_train_shows_progress_while_computing_statistics(tmp_path: Path, prepared: Path,
                                                          capsys) -> None:
    from training.config import TrainConfig
    from training.train import train

    cfg = TrainConfig(data=str(prepared), out=str(tmp_path / "run"),
                      model={"N": 32, "B": 16, "H": 32, "layers": 2, "stack": 1,
                             "num_mels": 16},
                      steps=0, batch_size=2, crop_s=0.5, stats_crops=16, workers=0,
                      valid_songs=0, threads=1, progress=True)
    train(cfg)
    err = capsys.readouterr().err
    assert "spectrogram statistics" in err and "16/16" in err, err


def test_statistics_report_every_batch(prepared: Path) -> None:
    from core.config import ModelConfig
    from core.model import MetaTasNet
    from training.data import AugmentConfig, CropDataset, compute_spectrogram_stats
    from training.prepared import list_songs

    model = MetaTasNet(ModelConfig(N=32, B=16, H=32, layers=2, stack=1, num_mels=16))
    songs = list_songs(prepared, "train")
    dataset = CropDataset(songs, 0, 2, (8000, 16000, 32000), AugmentConfig(crop_s=0.5))
    seen: list[tuple[int, int]] = []
    compute_spectrogram_stats(model, dataset, 10, batch=4,
                              progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 10), (8, 10), (10, 10)]
