"""prepare -> train -> stop -> resume (same losses as an uninterrupted run) -> evaluate ->
separate, all through the ``stemweave`` command on small generated songs and a tiny model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from safetensors.torch import load_file

from stemweave.cli import main
from tests.training.conftest import TINY_MODEL, TINY_RUN

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("one_thread")


def _losses(run: Path) -> list[float]:
    lines = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    return [x["loss"] for x in lines if "loss" in x]


def test_prepare_train_resume_evaluate_separate(tmp_path: Path, song_folder: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["prepare", str(song_folder), "--out", str(data), "--valid-fraction", "0.2",
                 "--no-progress"]) == 0
    assert "4 train, 1 valid" in capsys.readouterr().out

    common = ["train", "--data", str(data), *TINY_MODEL, *TINY_RUN, "--steps-per-epoch", "3"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert main([*common, "--out", str(full), "--steps", "6"]) == 0
    assert main([*common, "--out", str(part), "--steps", "3"]) == 0
    # a second start without --resume is refused with a clear message
    assert main([*common, "--out", str(part), "--steps", "6"]) == 1
    assert "--resume" in capsys.readouterr().err
    # resuming a run that already reached --steps says so instead of "training" 0 steps
    assert main([*common, "--out", str(part), "--steps", "3", "--resume"]) == 1
    assert "already done 3 steps" in capsys.readouterr().err
    assert main([*common, "--out", str(part), "--steps", "6", "--resume"]) == 0

    # Ctrl-C in the middle of a long run: it stops after the current step and saves. (This run
    # also reads its crops in a loader worker; the stream does not depend on that.)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stemweave", *common, "--out", str(killed), "--steps", "1000",
         "--workers", "1"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE,
        text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (killed / "history.jsonl").is_file() and len(_losses(killed)) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    stopped_at = len(_losses(killed))
    assert 2 <= stopped_at < 1000 and "saving the state" in err
    assert main([*common, "--out", str(killed), "--steps", "6", "--resume"]) == 0

    a = _losses(full)
    assert len(a) == 6  # 6 steps cover a Lookahead synchronisation (k=6)
    for run in (part, killed):
        np.testing.assert_allclose(_losses(run)[:6], a, rtol=1e-6, atol=0, err_msg=run.name)
    wa = load_file(str(full / "last.safetensors"))
    wb = load_file(str(part / "last.safetensors"))
    for k in wa:
        np.testing.assert_allclose(wb[k].numpy(), wa[k].numpy(), rtol=0, atol=1e-6)
    cfg = json.loads((part / "config.json").read_text())
    assert cfg["model"]["N"] == 32 and cfg["steps"] == 3
    assert (part / "best.safetensors").is_file() and any((part / "tb").iterdir())
    valid = [json.loads(x) for x in (part / "history.jsonl").read_text().splitlines()
             if "valid" in x]
    assert len(valid) == 2 and np.isfinite(valid[-1]["valid"]["sisnr"])

    scores = tmp_path / "scores"
    assert main(["evaluate", str(part / "best.safetensors"), "--data", str(data), "--split",
                 "valid", "--out", str(scores), "--max-s", "1", "--device", "cpu", "--threads", "1",
                 "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "drums" in table and "vocals" in table and "SDR" in table
    result = json.loads((scores / "scores.json").read_text())
    assert set(result["median"]) == {"drums", "bass", "other", "vocals"}
    assert (scores / "scores.csv").read_text().count("\n") == 1 + 4 * 2

    song = tmp_path / "song.wav"
    rate = 22050
    mix = sum(sf.read(p, dtype="float32")[0] for p in (song_folder / "song1").glob("*.wav"))
    sf.write(song, mix, rate)
    out = tmp_path / "separated"
    assert main(["separate", str(song), "-o", str(out), "--model",
                 str(part / "last.safetensors"), "--device", "cpu", "--threads", "1"]) == 0
    for stem in ("drums", "bass", "other", "vocals"):
        audio, sr = sf.read(next((out / "song").glob(f"{stem}.*")), dtype="float32")
        assert sr == rate and audio.shape == mix.shape and np.isfinite(audio).all()


def test_time_limit_ends_the_run_validated_and_saved(tmp_path: Path, prepared: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """``--max-minutes`` ends a long run early like a finished one: validated, best and last
    weights written, and ``--resume`` (with a new limit) continues from that step."""
    run = tmp_path / "run"
    common = ["train", "--data", str(prepared), *TINY_MODEL, *TINY_RUN, "--out", str(run),
              "--steps-per-epoch", "1000"]
    assert main([*common, "--steps", "1000", "--max-minutes", "0"]) == 0
    assert "time limit of 0 min reached at step 1" in caplog.text
    lines = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert len([x for x in lines if "loss" in x]) == 1  # stopped after the first step
    assert any("valid" in json.dumps(x) for x in lines)  # and validated it
    assert (run / "best.safetensors").is_file() and (run / "last.safetensors").is_file()
    assert main([*common, "--steps", "3", "--resume"]) == 0
    lines = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss" in x] == [1, 2, 3]
