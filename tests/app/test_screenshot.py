"""``stemweave gui --screenshot``: offscreen in-process, then under Xvfb in a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-cache")


def _check_png(path: Path) -> None:
    img = QImage(str(path))
    assert not img.isNull() and img.width() >= 1000 and img.height() >= 600
    # the lanes are drawn: many distinct colours, not a blank window
    colours = {img.pixel(x, y) for x in range(250, img.width(), 7) for y in range(100, 800, 7)}
    assert len(colours) > 50


def test_screenshot_offscreen_separates_and_renders(qtbot, tmp_path, song_path, tiny_checkpoint,
                                                    cache_home, monkeypatch) -> None:
    from app.main import take_screenshot

    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    out = take_screenshot(song_path, tmp_path / "shot.png", model=str(tiny_checkpoint),
                          settings_path=tmp_path / "s.ini", size=(1200, 800))
    _check_png(out)
    assert list(cache_home.rglob("*.npy"))  # the separation was cached for the next run


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed")
def test_screenshot_command_under_xvfb(tmp_path, song_path, tiny_checkpoint, cache_home) -> None:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(XDG_CACHE_HOME=str(cache_home), XDG_CONFIG_HOME=str(tmp_path / "config"))
    out = tmp_path / "xvfb.png"
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "stemweave",
         "gui", "--screenshot", str(out), str(song_path), "--model", str(tiny_checkpoint),
         "--settings", str(tmp_path / "s.ini"), "--size", "1200x800"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _check_png(out)


def test_screenshot_of_a_missing_file_fails_with_one_line(tmp_path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.run(
        [sys.executable, "-m", "stemweave", "gui", "--screenshot", str(tmp_path / "x.png"),
         str(tmp_path / "missing.wav"), "--settings", str(tmp_path / "s.ini")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("stemweave: error:") and "missing.wav" in last
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("song", ["present", "missing"])
def test_screenshot_leaves_no_temporary_settings(tmp_path, song_path, tiny_checkpoint,
                                                cache_home, song) -> None:
    """Without --settings a throw-away settings.ini is used, and removed at the end (also when
    the screenshot fails)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(tmp),
           "XDG_CACHE_HOME": str(cache_home), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    file = song_path if song == "present" else tmp_path / "missing.wav"
    proc = subprocess.run(
        [sys.executable, "-m", "stemweave", "gui", "--screenshot", str(tmp_path / "x.png"),
         str(file), "--model", str(tiny_checkpoint), "--size", "1000x700"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == (0 if song == "present" else 1), proc.stderr[-2000:]
    assert (tmp_path / "x.png").exists() == (song == "present")
    assert not list(tmp.glob("stemweave-shot-*")), list(tmp.rglob("*"))
