"""Help ▸ About on the real window names the chosen model's family and stems."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox


def _about_text(window) -> str:  # noqa: ANN001
    window.about_action.trigger()
    box = next(b for b in window.findChildren(QMessageBox) if b.windowTitle() == "About Stemweave")
    text = box.text()
    box.close()
    return text


def test_about_names_the_meta_tasnet_model_and_its_stems(make_window, tiny_checkpoint) -> None:
    text = _about_text(make_window())
    assert "Meta-TasNet or Hybrid Transformer Demucs" in text and "MIT" in text
    assert (f"Current model: {tiny_checkpoint.name} — Meta-TasNet, 4 stems: drums, bass, other, "
            "vocals.") in text


def test_about_without_a_usable_model_says_so(make_window) -> None:
    text = _about_text(make_window(model="no-such-model"))
    assert "No usable model is chosen yet" in text and "Current model" not in text


def test_about_names_a_six_stem_htdemucs_model(make_window, tmp_path) -> None:
    pytest.importorskip("demucs")
    from core.model_store import ModelStore
    from tests.core.htdemucs_tiny import SIX, tiny_htdemucs, write_release_file

    release = write_release_file(tiny_htdemucs(SIX, samplerate=44100), tmp_path / "dl", "six")
    ModelStore(tmp_path / "models").import_(str(release), name="six")
    text = _about_text(make_window(model="six"))
    assert ("— Hybrid Transformer Demucs, 6 stems: drums, bass, other, vocals, guitar, piano."
            in text), text
    assert "Meta-TasNet, " not in text
