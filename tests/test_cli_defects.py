"""Regression tests for command-line defects a new user found (issue 14): inputs that share a
name, Ctrl-C while the stems are published, a full disk, the progress bar's ETA."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from core.audio import save_audio
from stemweave.cli import main

ROOT = Path(__file__).resolve().parents[1]
STEMS = ("drums", "bass", "other", "vocals")


def _song(path: Path, seconds: float = 1.0, rate: int = 22050, freq: float = 220.0) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * freq * (c + 1) * t) for c in range(2)])
    return save_audio(path, x.astype(np.float32), rate)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_inputs_with_the_same_name_get_their_own_folders(tmp_path, tiny_checkpoint, capsys):
    songs = [_song(tmp_path / "song.flac", freq=220.0), _song(tmp_path / "song.wav", freq=330.0),
             _song(tmp_path / "other.wav")]
    out = tmp_path / "out"
    code = main(["separate", *map(str, songs), "-o", str(out), "--model", str(tiny_checkpoint),
                 "--device", "cpu", "--threads", "1", "--stems", "vocals"])
    assert code == 0
    assert _files(out) == ["other/vocals.wav", "song.flac/vocals.wav", "song.wav/vocals.wav"]
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"{songs[0]} -> {out / 'song.flac'}", f"{songs[1]} -> {out / 'song.wav'}",
                     f"{songs[2]} -> {out / 'other'}"]
    # each folder holds its own song's stem (different inputs, different outputs)
    a = sf.read(str(out / "song.flac" / "vocals.wav"))[0]
    b = sf.read(str(out / "song.wav" / "vocals.wav"))[0]
    assert not np.allclose(a, b, atol=1e-3)


def test_output_folder_names() -> None:
    from stemweave.cmd_separate import output_folders

    names = output_folders([Path("a/song.flac"), Path("b/song.flac"), Path("song.mp3"),
                            Path("x.wav"), Path("x.wav")])
    assert names == {Path("a/song.flac"): "song.flac", Path("b/song.flac"): "song.flac (2)",
                     Path("song.mp3"): "song.mp3", Path("x.wav"): "x"}


def test_eta_has_no_stray_comma(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    from stemweave.cmd_separate import _progress_bar

    bar, update = _progress_bar("song.wav")
    update(SimpleNamespace(fraction=0.5, eta_s=68.0))
    bar.close()
    text = err.getvalue()
    assert "50%" in text and "<01:08" in text and "<," not in text


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, tiny_checkpoint) -> None:
    song = _song(tmp_path / "s.wav", seconds=0.5)
    proc = subprocess.run([sys.executable, "-m", "stemweave", "separate", str(song), "-o",
                           str(tmp_path / "o"), "--model", str(tiny_checkpoint), "--threads",
                           "1", "--stems", "vocals"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


# --- Ctrl-C in a real process --------------------------------------------------------------

SLOW_PUBLISH = """
import os, sys, time
real = os.replace
def slow_replace(a, b):
    real(a, b)
    if str(b).endswith(".wav"):
        print("published", b, flush=True)
        time.sleep(30)  # Ctrl-C arrives here, after the first stem is in place
os.replace = slow_replace
from stemweave.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _interrupt_when(proc: subprocess.Popen, marker: str, timeout: float = 120.0) -> str:
    """Send SIGINT once ``marker`` appears on the process's stdout; returns what it printed."""
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if marker in line:
            proc.send_signal(signal.SIGINT)
            return seen
    proc.kill()
    pytest.fail(f"never saw {marker!r}: {seen}")


def test_ctrl_c_while_publishing_leaves_none_of_the_stems(tmp_path, tiny_checkpoint) -> None:
    song = _song(tmp_path / "song.wav")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_PUBLISH, "separate", str(song), "-o", str(out), "--model",
         str(tiny_checkpoint), "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    printed = _interrupt_when(proc, "published")
    assert (out / "song").is_dir() and "published" in printed  # one stem was in place
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() or _files(out) == []  # no stems, no .part files


SLOW_SEPARATION = """
import sys, time
import core.separator as s
real = s.Separator._run
def slow_run(self, *a, **k):
    print("separating", flush=True)
    time.sleep(30)
    return real(self, *a, **k)
s.Separator._run = slow_run
from stemweave.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_separating_exits_130_without_files(tmp_path, tiny_checkpoint) -> None:
    song = _song(tmp_path / "song.wav")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SEPARATION, "separate", str(song), "-o", str(out),
         "--model", str(tiny_checkpoint), "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _interrupt_when(proc, "separating")
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("stemweave:") and "Traceback" not in err
    assert not out.exists() or _files(out) == []


# --- a full disk (a 1 MB tmpfs; needs root) ----------------------------------------------------

def _tmpfs(mnt: Path, options: str):  # noqa: ANN202
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path):
    yield from _tmpfs(tmp_path / "tiny", "size=1m")


@pytest.fixture
def read_only_disk(tmp_path: Path):
    """A read-only file system: refused even to root (permission bits are not)."""
    yield from _tmpfs(tmp_path / "ro", "ro,size=1m")


@pytest.mark.parametrize("where", ["the folder", "a new sub-folder"])
def test_read_only_output_is_one_clear_line(tmp_path, tiny_checkpoint, read_only_disk, capsys,
                                            where) -> None:
    song = _song(tmp_path / "song.wav")
    out = read_only_disk if where == "the folder" else read_only_disk / "new"
    assert main(["separate", str(song), "-o", str(out), "--model", str(tiny_checkpoint),
                 "--threads", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stemweave: error:"), err
    assert "Read-only file system" in err[0] and ("cannot write" in err[0]
                                                   or "cannot create" in err[0]), err[0]
    assert _files(read_only_disk) == []


def test_disk_full_says_so_and_how_much_was_needed(tmp_path, tiny_checkpoint, tiny_disk, capsys):
    song = _song(tmp_path / "song.wav", seconds=3.0, rate=44100)  # 4 stems x 794 kB at 24 bits
    code = main(["separate", str(song), "-o", str(tiny_disk), "--model", str(tiny_checkpoint),
                 "--threads", "1"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "the disk is full" in err[0] and "need about 3.2 MB" in err[0], err[0]
    assert _files(tiny_disk) == []  # nothing left behind, not even the temporary files


# --- models import: garbage, pickled objects, malicious code ------------------------------------

class _Evil:
    def __reduce__(self):  # noqa: ANN204 - what an attacker would put in a .pt file
        return (os.system, ("touch pwned",))


def _import(tmp_path: Path, file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stemweave", "models", "--dir",
                           str(tmp_path / "store"), "import", str(file)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("kind", ["garbage", "raw pickle", "malicious", "torch zip, other object"])
def test_models_import_says_what_is_wrong_with_a_pt_file(tmp_path, kind) -> None:
    import collections
    import pickle

    import torch

    f = tmp_path / "model.pt"
    if kind == "garbage":
        f.write_bytes(np.random.default_rng(0).bytes(4096))
        want = "model.pt: not a PyTorch checkpoint"
    elif kind == "raw pickle":  # protocol 4: torch warns about it on its own
        f.write_bytes(pickle.dumps({"state_dict": {}, "c": collections.Counter()}, protocol=4))
        want = "possibly malicious code: collections.Counter)"
    elif kind == "malicious":
        f.write_bytes(pickle.dumps(_Evil(), protocol=2))
        want = "possibly malicious code: posix.system)"
    else:
        from fractions import Fraction

        torch.save({"state_dict": {"w": torch.zeros(2)}, "args": Fraction(1, 3)}, f)
        want = "possibly malicious code: fractions.Fraction)"
    proc = _import(tmp_path, f)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line: no torch UserWarning, no traceback
    assert lines[0].startswith("stemweave: error: ") and want in lines[0], lines[0]
    assert "weights_only" not in lines[0] and "Re-running" not in lines[0]
    if kind != "garbage":
        assert "refused to load, the file contains objects other than weights" in lines[0]
    assert not (tmp_path / "pwned").exists() and not any((tmp_path / "store").glob("*"))


# --- bad inputs through the command line: one line naming the reason, no files ------------------

def _bad_input(folder: Path, kind: str) -> Path:
    f = folder / f"{kind}.wav"
    x = np.zeros((22050, 2), np.float32)
    if kind == "nan":
        x[100, 0] = np.nan
        sf.write(str(f), x, 22050, subtype="FLOAT")
    elif kind == "inf":
        x[100, 1] = np.inf
        sf.write(str(f), x, 22050, subtype="FLOAT")
    elif kind == "zero-frames":
        sf.write(str(f), x[:0], 22050)
    elif kind == "empty":
        f.write_bytes(b"")
    else:  # truncated: half of a valid file
        full = folder / "full.wav"
        _song(full)
        data = full.read_bytes()
        f.write_bytes(data[: len(data) // 2])
        full.unlink()
    return f


@pytest.mark.parametrize(("kind", "reason"), [
    ("nan", "NaN or infinite samples"), ("inf", "NaN or infinite samples"),
    ("zero-frames", "holds no audio frames"), ("empty", "the file is empty"),
    ("truncated", "the file is truncated"),
])
def test_bad_inputs_give_one_line_with_the_reason(tmp_path, tiny_checkpoint, capsys, kind,
                                                  reason) -> None:
    src = _bad_input(tmp_path, kind)
    out = tmp_path / "out"
    assert main(["separate", str(src), "-o", str(out), "--model", str(tiny_checkpoint),
                 "--threads", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"stemweave: error: {src}: "), err
    assert reason in err[0], err[0]
    assert not out.exists() or _files(out) == []


# --- Ctrl-C of `models download` in a real process: the partial file is kept and resumed -------

RELAXED_DOWNLOAD = """
import sys
import core.model_store as ms
entry = ms.default_catalogue()[ms.AUTHORS_MODEL]
relaxed = ms.CatalogueEntry(entry.name, entry.url, entry.description)  # tiny model accepted
ms.default_catalogue = lambda: {ms.AUTHORS_MODEL: relaxed}
from stemweave.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_of_a_download_keeps_the_partial_file_for_resume(tmp_path, tiny_checkpoint):
    from core.model_store import AUTHORS_MODEL, url_env_var
    from tests.core.http_server import ModelServer

    body = tiny_checkpoint.read_bytes()
    store = tmp_path / "models"
    with ModelServer(body) as server:
        server.control.cut_after, server.control.cut_times = 300_000, 1
        server.control.stall_s = 10.0  # the transfer stalls: Ctrl-C arrives meanwhile
        env = {**os.environ, url_env_var(AUTHORS_MODEL): server.url,
               "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
        argv = [sys.executable, "-c", RELAXED_DOWNLOAD, "models", "--dir", str(store),
                "download", AUTHORS_MODEL, "--quiet"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT, env=env)
        part = store / ".partial" / f"{AUTHORS_MODEL}.part"
        deadline = time.monotonic() + 60
        while not (part.is_file() and part.stat().st_size >= 300_000):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert part.stat().st_size == 300_000  # kept for resume
        assert not list(store.glob("*.safetensors"))  # nothing installed
        # the next run resumes from there (without --quiet: stderr is a pipe, so no bar)
        done = subprocess.run(argv[:-1], capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert "%|" not in done.stderr and "\r" not in done.stderr, done.stderr
        assert server.requests[-1]["headers"].get("Range") == "bytes=300000-"
        assert (store / f"{AUTHORS_MODEL}.safetensors").is_file() and not part.exists()
