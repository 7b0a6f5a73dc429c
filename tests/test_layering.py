"""core never imports Qt, pyqtgraph, sounddevice, app or training, checked at run time."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

CODE = r"""
import importlib, pkgutil, sys
import core
for info in pkgutil.walk_packages(core.__path__, "core."):
    importlib.import_module(info.name)
bad = sorted(m for m in sys.modules
             if m.split(".")[0] in {"PySide6", "pyqtgraph", "sounddevice", "app", "training"})
print(",".join(bad))
"""


def test_core_imports_no_gui_audio_or_training() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip() == "", f"core pulled in: {out.stdout.strip()}"
