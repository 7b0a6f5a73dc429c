"""Settings persistence and the settings dialog's model list with download progress and cancel
(against a real HTTP server on 127.0.0.1 serving the tiny fixture checkpoint)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.settings import Settings
from app.stem_cache import StemCache, cache_key, file_identity, model_identity
from app.widgets.settings_dialog import SettingsDialog
from core.model_store import CatalogueEntry, ModelStore
from tests.core.http_server import ModelServer


def test_settings_round_trip_through_the_ini_file(tmp_path: Path) -> None:
    ini = tmp_path / "s.ini"
    s = Settings.from_file(ini)
    assert s.device == "auto" and s.model == "" and s.recent_files == []
    s.model, s.device, s.export_dir = "/x/model.pt", "cpu", "/music/out"
    for i in range(12):
        s.add_recent_file(tmp_path / f"song{i}.wav")
    s.add_recent_file(tmp_path / "song3.wav")
    s.sync()
    again = Settings.from_file(ini)
    assert (again.model, again.device, again.export_dir) == ("/x/model.pt", "cpu", "/music/out")
    assert len(again.recent_files) == 10 and again.recent_files[0].endswith("song3.wav")


@pytest.fixture
def server(tiny_checkpoint: Path):  # noqa: ANN201
    with ModelServer(tiny_checkpoint.read_bytes()) as srv:
        yield srv


def _store(root: Path, url: str) -> ModelStore:
    entry = CatalogueEntry(name="tiny-remote", url=url, description="tiny test model")
    return ModelStore(root, catalogue={"tiny-remote": entry})


def _wait_until_the_dialog_saw_the_end(qtbot, dlg: SettingsDialog) -> None:  # noqa: ANN001
    """Wait until the dialog has handled the download's outcome and its ``finished``.

    Not ``qtbot.waitSignal(worker.finished)``: a plain-callable connection runs on the worker's
    thread the moment it emits, while the dialog's own handlers are queued to the GUI thread
    (``errored``/``returned`` first, then ``finished``), so the wait could end before the
    dialog had recorded the outcome. ``dlg.download`` goes back to ``None`` in the dialog's
    ``finished`` handler, which runs after its outcome handler.
    """
    qtbot.waitUntil(lambda: dlg.download is None, timeout=30_000)


def test_dialog_downloads_a_model_with_progress_and_selects_it(qtbot, tmp_path, server) -> None:
    settings = Settings.from_file(tmp_path / "s.ini")
    dlg = SettingsDialog(None, settings, _store(tmp_path / "models", server.url))
    qtbot.addWidget(dlg)
    names = [dlg.tree.topLevelItem(i).text(0) for i in range(dlg.tree.topLevelItemCount())]
    assert "tiny-remote" in names
    dlg.select("tiny-remote")
    assert dlg.download_button.isEnabled() and not dlg.use_button.isEnabled()
    fractions: list[float] = []
    worker = dlg.start_download()
    worker.progressed.connect(lambda f, _e: fractions.append(f))
    _wait_until_the_dialog_saw_the_end(qtbot, dlg)
    assert not dlg.messages, dlg.messages
    assert fractions and fractions[-1] == pytest.approx(1.0)
    assert dlg.model_value == "tiny-remote"
    assert dlg.selected_info().installed
    dlg.device_combo.setCurrentText("cpu")
    dlg.accept()
    again = Settings.from_file(tmp_path / "s.ini")
    assert again.model == "tiny-remote" and again.device == "cpu"


def test_dialog_cancels_a_download(qtbot, tmp_path, server) -> None:
    ctl = server.control  # the connection stalls, then breaks: a slow download
    ctl.cut_after, ctl.stall_s, ctl.cut_times = 300_000, 2.0, 5
    settings = Settings.from_file(tmp_path / "s.ini")
    dlg = SettingsDialog(None, settings, _store(tmp_path / "models", server.url))
    qtbot.addWidget(dlg)
    dlg.select("tiny-remote")
    worker = dlg.start_download()
    assert dlg.cancel_button.isEnabled()
    with qtbot.waitSignal(worker.aborted, timeout=30_000):
        dlg.cancel_download()
    qtbot.waitUntil(lambda: dlg.download is None, timeout=5000)
    assert "cancelled" in dlg.progress_label.text()
    assert not dlg.selected_info() or not dlg.selected_info().installed
    assert not (tmp_path / "models" / "tiny-remote.safetensors").exists()


def test_stem_cache_keys_and_atomic_entries(tmp_path: Path, tiny_checkpoint: Path) -> None:
    song = tmp_path / "a.wav"
    song.write_bytes(b"abc" * 1000)
    key = cache_key(file_identity(song), model_identity(tiny_checkpoint))
    cache = StemCache(tmp_path / "cache", max_bytes=10_000)
    assert cache.load(key) is None
    stems = np.ones((4, 2, 100), np.float32)
    cache.store(key, stems, {"song": str(song)})
    np.testing.assert_array_equal(cache.load(key, frames=100), stems)
    assert cache.load(key, frames=99) is None  # a different length is not this song
    song.write_bytes(b"abd" * 1000)  # the content changed: another key
    assert cache_key(file_identity(song), model_identity(tiny_checkpoint)) != key
    for i in range(5):  # eviction keeps the cache under max_bytes (newest kept)
        cache.store(f"k{i}", stems)
    assert len(list((tmp_path / "cache").glob("*.npy"))) <= 3
    assert cache.load("k4") is not None


def test_dialog_shows_the_measured_precision(qtbot, tmp_path, monkeypatch, tiny_checkpoint):
    import torch

    from core import load_model
    from core.precision import choose_precision, forward_fn

    monkeypatch.setenv("STEMWEAVE_CACHE_DIR", str(tmp_path / "cache"))
    settings = Settings.from_file(tmp_path / "s.ini")
    store = _store(tmp_path / "models", "http://127.0.0.1:9/none.pt")
    before = SettingsDialog(None, settings, store)
    qtbot.addWidget(before)
    assert "measured on the first separation" in before.precision_label.text()

    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    model = load_model(tiny_checkpoint, cpu).eval()
    # bf16 named explicitly: by default it is measured only where the CPU has native bf16
    # (the test must hold on any CPU; bf16 runs everywhere, only its speed differs)
    choice = choose_precision(model, cpu, candidates={"bf16": forward_fn(model, cpu, "bf16")})
    assert choice.measured and not choice.cached
    after = SettingsDialog(None, settings, store)
    qtbot.addWidget(after)
    text = after.precision_label.text()
    assert text.startswith(f"automatic: {choice.precision} on this CPU"), text


def test_offline_download_points_to_the_checkpoint_file_button(qtbot, tmp_path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on: the connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings.from_file(tmp_path / "s.ini")
    dlg = SettingsDialog(None, settings, _store(tmp_path / "models",
                                                f"http://127.0.0.1:{port}/tiny.pt"))
    qtbot.addWidget(dlg)
    dlg.select("tiny-remote")
    dlg.start_download()
    _wait_until_the_dialog_saw_the_end(qtbot, dlg)
    assert len(dlg.messages) == 1 and "Download failed" in dlg.progress_label.text()
    message = dlg.messages[0]
    assert f"press “{dlg.file_button.text()}” below" in message, message
    assert "Checkpoint file…" in message and "Could not reach 127.0.0.1" in message
    assert f"http://127.0.0.1:{port}/tiny.pt" in message
    assert "stemweave models" not in message  # not the command line
    assert not dlg.selected_info().installed
