"""The set-up scripts a new user runs: the launcher that puts `stemweave` on PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_install_launcher_puts_stemweave_on_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    env = {**os.environ, "BIN_DIR": str(bin_dir), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "install_launcher.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "is not on PATH yet" in proc.stdout
    link = bin_dir / "stemweave"
    assert link.resolve() == (ROOT / ".venv" / "bin" / "stemweave").resolve()
    # a new shell with the folder on PATH finds the command
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    out = subprocess.run(["bash", "-c", "stemweave --version"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("stemweave "), out.stderr
