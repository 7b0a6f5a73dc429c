"""Locations of shipped resources (built-in weights, demo song, icons), also inside a bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources/`` folder: beside the packages, or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def builtin_model_path() -> Path:
    """Path of the built-in model weights (may not exist yet)."""
    return resources_dir() / "models" / "builtin.safetensors"


def demo_song_path() -> Path:
    """Path of the demo song (may not exist yet)."""
    return resources_dir() / "demo" / "demo_song.flac"
