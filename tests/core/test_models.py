"""Model store: downloads from a real HTTP server on 127.0.0.1, imports, CLI."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import pytest
import torch

from core.checkpoint import read_authors_checkpoint, read_native
from core.config import ModelConfig
from core.errors import DownloadError, ModelLoadError, ModelNotFoundError
from core.model_store import (
    AUTHORS_MODEL,
    CatalogueEntry,
    DownloadCancelled,
    ModelStore,
    ModelStoreError,
    default_catalogue,
    url_env_var,
)
from stemweave.cli import main
from tests.core.http_server import ModelServer, closed_port_url


@pytest.fixture(scope="module")
def tiny_bytes(tiny_checkpoint: Path) -> bytes:
    return tiny_checkpoint.read_bytes()


@pytest.fixture(scope="module")
def tiny_config_state(tiny_checkpoint: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    return read_authors_checkpoint(tiny_checkpoint)


@pytest.fixture
def server(tiny_bytes: bytes):
    with ModelServer(tiny_bytes) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No built-in model (it may or may not exist yet in resources/) and no proxy."""
    monkeypatch.setattr("core.model_store.builtin_model_path", lambda: tmp_path / "no-builtin.st")
    for var in ("no_proxy", "NO_PROXY"):  # a developer's proxy must not capture 127.0.0.1
        monkeypatch.setenv(var, "127.0.0.1,localhost")


def _store(root: Path, url: str, *, config: ModelConfig | None = None, size: int | None = None,
           sha256: str | None = None, retries: int = 3) -> ModelStore:
    entry = CatalogueEntry("tiny", url, "tiny test model", size_bytes=size, sha256=sha256,
                           expected_config=config)
    return ModelStore(root, catalogue={"tiny": entry}, timeout_s=10, retries=retries)


def _files(root: Path) -> list[str]:
    """Every file and folder under the store, hidden ones included, relative to it."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() or not any(p.iterdir()))


def _assert_same_weights(path: Path, source_state: dict[str, torch.Tensor]) -> None:
    _, state, meta = read_native(path)
    assert set(state) == set(source_state)
    for key, value in source_state.items():
        torch.testing.assert_close(state[key], value.float(), rtol=0, atol=0, msg=key)


def test_download_with_progress_installs_native_model(server, tmp_path, tiny_bytes,
                                                      tiny_config_state) -> None:
    config, source_state = tiny_config_state
    root = tmp_path / "models"
    store = _store(root, server.url, config=config, size=len(tiny_bytes),
                   sha256=hashlib.sha256(tiny_bytes).hexdigest())
    calls: list[tuple[int, int | None]] = []
    path = store.download("tiny", progress=lambda d, t: calls.append((d, t)))

    assert path == root / "tiny.safetensors"
    assert _files(root) == ["tiny.safetensors"]  # no partial data left behind
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == len(tiny_bytes)
    assert {t for _, t in calls} == {len(tiny_bytes)}
    assert len(calls) > 2
    _assert_same_weights(path, source_state)
    info = store.info("tiny")
    assert (info.kind, info.installed, info.path, info.config) == ("remote", True, path, config)
    assert store.resolve("tiny") == path
    assert "Range" not in server.requests[0]["headers"]


def test_interrupted_download_resumes_with_range(server, tmp_path, tiny_bytes,
                                                 tiny_config_state) -> None:
    server.control.cut_after = 300_000
    server.control.cut_times = 1
    root = tmp_path / "models"
    store = _store(root, server.url, config=tiny_config_state[0])
    calls: list[int] = []
    path = store.download("tiny", progress=lambda d, t: calls.append(d))

    assert len(server.requests) == 2
    rng = server.requests[1]["headers"].get("Range")
    assert rng is not None and rng.startswith("bytes=")
    offset = int(rng[len("bytes="):].rstrip("-"))
    assert 0 < offset <= 300_000
    assert server.requests[1]["headers"].get("If-Range") == '"fixture-v1"'
    assert calls == sorted(calls) and calls[-1] == len(tiny_bytes)
    _assert_same_weights(path, tiny_config_state[1])
    assert _files(root) == ["tiny.safetensors"]


def test_broken_download_is_resumed_by_the_next_call(server, tmp_path, tiny_bytes,
                                                     tiny_config_state) -> None:
    server.control.cut_after = 500_000
    server.control.cut_times = 1
    root = tmp_path / "models"
    store = _store(root, server.url, retries=0)
    with pytest.raises(DownloadError, match="interrupted.*again to resume"):
        store.download("tiny")
    assert not (root / "tiny.safetensors").exists()
    assert [f for f in _files(root) if not f.startswith(".partial/")] == []
    info = store.info("tiny")
    assert not info.installed and 0 < info.partial_bytes <= 500_000
    with pytest.raises(ModelNotFoundError, match="stemweave models download tiny"):
        store.resolve("tiny")

    path = store.download("tiny")
    assert server.requests[-1]["headers"]["Range"] == f"bytes={info.partial_bytes}-"
    _assert_same_weights(path, tiny_config_state[1])
    assert _files(root) == ["tiny.safetensors"]


def test_cancel_keeps_the_partial_file_for_a_resume(server, tmp_path, tiny_config_state) -> None:
    root = tmp_path / "models"
    store = _store(root, server.url)
    seen: list[int] = []
    with pytest.raises(DownloadCancelled):
        store.download("tiny", progress=lambda d, t: seen.append(d), cancel=lambda: len(seen) > 2)
    assert not (root / "tiny.safetensors").exists()
    partial = store.info("tiny").partial_bytes
    assert partial > 0
    store.download("tiny")
    assert server.requests[-1]["headers"]["Range"] == f"bytes={partial}-"
    _assert_same_weights(root / "tiny.safetensors", tiny_config_state[1])


def test_server_ignoring_range_restarts_cleanly(server, tmp_path, tiny_config_state) -> None:
    server.control.cut_after = 200_000
    server.control.cut_times = 1
    server.control.ignore_range = True
    root = tmp_path / "models"
    path = _store(root, server.url).download("tiny")
    assert "Range" in server.requests[1]["headers"]
    _assert_same_weights(path, tiny_config_state[1])


@pytest.mark.parametrize("case", ["truncated", "truncated-known-size", "garbage", "html",
                                  "sha256", "wrong-config", "bad-content-range"])
def test_wrong_download_is_rejected_and_leaves_nothing(server, tmp_path, tiny_bytes, case,
                                                       tiny_config_state) -> None:
    ctl = server.control
    kwargs: dict = {}
    expected = "rejected"
    if case == "truncated":
        ctl.truncate_to = len(tiny_bytes) // 2
        expected = "not a valid model file"
    elif case == "truncated-known-size":
        ctl.truncate_to = len(tiny_bytes) - 1000
        kwargs["size"] = len(tiny_bytes)
        expected = f"the catalogue expects {len(tiny_bytes)}"
    elif case == "garbage":
        ctl.body = bytes(range(256)) * 2000
        expected = "not a valid model file"
    elif case == "html":
        ctl.body, ctl.content_type = b"<html>This file was deleted</html>", "text/html"
        expected = "web page instead of the model"
    elif case == "sha256":
        kwargs["sha256"] = "0" * 64
        expected = "SHA-256"
    elif case == "wrong-config":
        kwargs["config"] = ModelConfig()  # the full released config; the fixture is tiny
        expected = "configuration differs: N="
    elif case == "bad-content-range":
        ctl.cut_after, ctl.cut_times, ctl.wrong_range_start = 100_000, 1, True
        expected = "asked to resume at byte"
    root = tmp_path / "models"
    store = _store(root, server.url, **kwargs)
    with pytest.raises(DownloadError, match=expected):
        store.download("tiny")
    assert _files(root) == []
    assert not store.info("tiny").installed


class _Evil:
    """Unpickling this calls ``open(marker, "w")``: it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(params=["zip", "legacy"])
def malicious(request, tmp_path: Path, tiny_checkpoint: Path) -> tuple[Path, Path]:
    """The tiny checkpoint plus a payload, in torch's zip and legacy (the authors') formats."""
    marker = tmp_path / "pwned.txt"
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    ckpt["payload"] = _Evil(marker)
    path = tmp_path / "evil.pt"
    torch.save(ckpt, path, _use_new_zipfile_serialization=request.param == "zip")
    assert not marker.exists()
    return path, marker


def test_malicious_payload_is_real(malicious) -> None:
    """Guard for the two tests below: an unsafe load really would run the payload."""
    path, marker = malicious
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_malicious_pickle_download_is_refused(malicious, tmp_path) -> None:
    path, marker = malicious
    root = tmp_path / "models"
    with ModelServer(path.read_bytes()) as srv:
        with pytest.raises(DownloadError, match="refused to load"):
            _store(root, srv.url).download("tiny")
    assert not marker.exists()
    assert _files(root) == []


def test_malicious_pickle_import_is_refused(malicious, tmp_path, monkeypatch, capsys) -> None:
    path, marker = malicious
    monkeypatch.setenv("STEMWEAVE_MODELS_DIR", str(tmp_path / "models"))
    assert main(["models", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused to load" in err
    assert not marker.exists()
    assert not (tmp_path / "models" / "evil.safetensors").exists()


def test_offline_gives_a_clear_message(tmp_path) -> None:
    store = _store(tmp_path / "models", closed_port_url())
    with pytest.raises(DownloadError) as exc:
        store.download("tiny")
    msg = str(exc.value)
    assert "Could not reach 127.0.0.1" in msg and "check your connection" in msg
    assert "stemweave models import PATH --name tiny" in msg
    assert _files(tmp_path / "models") == []


def test_cli_download_offline_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STEMWEAVE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv(url_env_var(AUTHORS_MODEL), closed_port_url())
    assert main(["models", "download", AUTHORS_MODEL]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stemweave: error: Could not reach") and err.count("\n") == 1


def test_cli_download_shows_progress(server, tmp_path, monkeypatch, capsys, tiny_config_state,
                                     tiny_checkpoint) -> None:
    """The CLI's catalogue model, pointed at the test server (config check relaxed)."""
    entry = default_catalogue()[AUTHORS_MODEL]
    assert entry.expected_config == ModelConfig() and entry.url.endswith("best_model.pt?dl=1")
    relaxed = CatalogueEntry(entry.name, entry.url, entry.description)
    monkeypatch.setattr("core.model_store.default_catalogue", lambda: {AUTHORS_MODEL: relaxed})
    monkeypatch.setenv("STEMWEAVE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv(url_env_var(AUTHORS_MODEL), server.url)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a bar only on a terminal
    assert main(["models", "download", AUTHORS_MODEL]) == 0
    out = capsys.readouterr()
    assert "installed 'metatasnet-musdb18'" in out.out
    assert AUTHORS_MODEL in out.err and "100%" in out.err  # the tqdm bar
    _assert_same_weights(tmp_path / "models" / f"{AUTHORS_MODEL}.safetensors",
                         tiny_config_state[1])


def test_cli_import_list_info_remove(tmp_path, monkeypatch, capsys, tiny_checkpoint,
                                     tiny_native, tiny_config_state) -> None:
    root = tmp_path / "models"
    monkeypatch.setenv("STEMWEAVE_MODELS_DIR", str(root))
    assert main(["models", "import", str(tiny_checkpoint), "--name", "mine",
                 "--description", "my tiny model"]) == 0
    assert main(["models", "import", str(tiny_native)]) == 0  # native format, named by file
    assert "imported 'mine'" in capsys.readouterr().out
    assert sorted(p.name for p in root.iterdir()) == ["mine.safetensors", "tiny.safetensors"]
    _assert_same_weights(root / "mine.safetensors", tiny_config_state[1])

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "not installed" in lines["builtin"] and "not included" in lines["builtin"]
    assert "not installed" in lines[AUTHORS_MODEL]
    assert "installed" in lines["mine"] and "my tiny model" in lines["mine"]
    assert "user" in lines["tiny"]

    assert main(["models", "info", "mine"]) == 0
    out = capsys.readouterr().out
    cfg = tiny_config_state[0]
    # `info` prints the source as resolved (the fixtures may sit behind a symlink)
    assert f"N={cfg.N} " in out and "kind:        user" in out
    assert str(tiny_checkpoint.resolve()) in out

    assert main(["models", "import", str(tiny_checkpoint), "--name", "mine"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["models", "remove", "builtin"]) == 1
    assert "cannot be removed" in capsys.readouterr().err
    assert main(["models", "remove", "mine"]) == 0
    assert not (root / "mine.safetensors").exists()
    assert main(["models", "info", "mine"]) == 1
    assert "No model named 'mine'" in capsys.readouterr().err


def test_import_rejects_mismatched_weights_naming_the_key(tmp_path, tiny_checkpoint) -> None:
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    dropped = sorted(ckpt["state_dict"])[0]
    del ckpt["state_dict"][dropped]
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    store = ModelStore(tmp_path / "models", catalogue={})
    with pytest.raises(ModelLoadError, match=f"missing 1 key.*{dropped}"):
        store.import_(bad)
    assert not (tmp_path / "models").exists() or _files(tmp_path / "models") == []


def test_import_keeps_the_network_window(tmp_path, tiny_checkpoint, monkeypatch,
                                        capsys) -> None:
    """An imported native file keeps the network window its metadata names (the store writes
    a new file of its own); ``models info`` shows it."""
    from core.checkpoint import load_model, save_model
    from core.families import read_any, read_header

    src = save_model(load_model(tiny_checkpoint), tmp_path / "win.safetensors", window_s=2.5)
    store = ModelStore(tmp_path / "models", catalogue={})
    info = store.import_(src, name="win")
    assert info.path != src and read_any(info.path).window_s == 2.5
    plain = store.import_(tiny_checkpoint, name="plain")
    assert read_any(plain.path).window_s is None
    assert store.info("win").window_s == 2.5 and store.info("plain").window_s is None
    monkeypatch.setenv("STEMWEAVE_MODELS_DIR", str(tmp_path / "models"))
    assert main(["models", "info", "win"]) == 0
    assert "2.5-s sub-windows" in capsys.readouterr().out
    assert main(["models", "info", "plain"]) == 0
    assert "sub-windows" not in capsys.readouterr().out
    # a weights file outside the store (a training run's checkpoint) is described in place
    assert main(["models", "info", str(src)]) == 0
    out = capsys.readouterr().out
    assert "2.5-s sub-windows" in out and str(src) in out and "kind:        file" in out
    assert "status:      usable (not in the store" in out and "installed\n" not in out
    rf = read_header(src).config.receptive_field_s  # what the masking network hears (s)
    assert f"hears:       {rf:.2f} s around each output frame" in out
    with pytest.raises(ModelNotFoundError):
        store.info(str(tmp_path / "missing.safetensors"))


def test_import_under_a_catalogue_name_installs_it(tmp_path, tiny_checkpoint,
                                                   tiny_config_state) -> None:
    """The offline route: fetch the file with a browser, then import it under its name."""
    root = tmp_path / "models"
    store = _store(root, closed_port_url(), config=tiny_config_state[0])
    info = store.import_(tiny_checkpoint, name="tiny")
    assert (info.kind, info.installed) == ("remote", True)
    strict = ModelStore(tmp_path / "other", catalogue={AUTHORS_MODEL: default_catalogue()[
        AUTHORS_MODEL]})
    with pytest.raises(ModelLoadError, match="configuration differs"):
        strict.import_(tiny_checkpoint, name=AUTHORS_MODEL)


def test_resolve(tmp_path, tiny_checkpoint, monkeypatch) -> None:
    root = tmp_path / "models"
    store = _store(root, closed_port_url())
    with pytest.raises(ModelNotFoundError, match="No model is installed.*download"):
        store.resolve(None)
    assert store.resolve(str(tiny_checkpoint)) == tiny_checkpoint
    with pytest.raises(ModelNotFoundError, match="not found"):
        store.resolve(str(tmp_path / "missing.pt"))
    with pytest.raises(ModelNotFoundError, match="No model named 'nope'"):
        store.resolve("nope")
    with pytest.raises(ModelNotFoundError, match="stemweave models download tiny"):
        store.resolve("tiny")
    user = store.import_(tiny_checkpoint, name="mine")
    assert store.resolve("mine") == user.path
    with pytest.raises(ModelNotFoundError, match="pick one of yours \\(mine\\)"):
        store.resolve(None)
    remote = store.import_(tiny_checkpoint, name="tiny")
    assert store.resolve(None) == remote.path
    builtin = tmp_path / "builtin.safetensors"
    builtin.write_bytes(user.path.read_bytes())
    monkeypatch.setattr("core.model_store.builtin_model_path", lambda: builtin)
    assert store.resolve(None) == builtin
    assert store.info("builtin").installed
    with pytest.raises(ModelStoreError, match="cannot be removed"):
        store.remove("builtin")
    store.remove("tiny")
    assert not remote.path.exists()
    with pytest.raises(ModelNotFoundError, match="not installed"):
        store.remove("tiny")


def test_default_root_honours_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STEMWEAVE_MODELS_DIR", str(tmp_path / "elsewhere"))
    store = ModelStore()
    assert store.root == tmp_path / "elsewhere"
    assert [m.name for m in store.list()] == ["builtin", *default_catalogue()]
    assert AUTHORS_MODEL in default_catalogue()
    assert not (tmp_path / "elsewhere").exists()  # listing creates nothing
    monkeypatch.delenv("STEMWEAVE_MODELS_DIR")
    assert ModelStore().root.name == "models" and "stemweave" in str(ModelStore().root)


def test_installed_model_is_not_downloaded_again_unless_forced(server, tmp_path,
                                                               tiny_config_state) -> None:
    store = _store(tmp_path / "models", server.url)
    path = store.download("tiny")
    assert len(server.requests) == 1
    assert store.download("tiny") == path and len(server.requests) == 1
    assert store.download("tiny", force=True) == path and len(server.requests) == 2
    _assert_same_weights(path, tiny_config_state[1])


def test_http_error_is_reported(server, tmp_path) -> None:
    store = _store(tmp_path / "models", server.url.replace("model.pt", "gone.pt"))
    with pytest.raises(DownloadError, match="answered 404"):
        store.download("tiny")
    assert _files(tmp_path / "models") == []


def test_save_trained_model_as_user_model(tmp_path, tiny_native) -> None:
    from core import load_model

    store = ModelStore(tmp_path / "models", catalogue={})
    info = store.save(load_model(tiny_native), "run-1", description="trained on my songs")
    assert (info.kind, info.installed, info.description) == ("user", True, "trained on my songs")
    assert info.source == "trained" and [m.name for m in store.list()] == ["builtin", "run-1"]
    with pytest.raises(ModelStoreError, match="Invalid model name"):
        store.save(load_model(tiny_native), "../escape")


def test_config_check_compares_architecture_not_training_fields(tiny_config_state) -> None:
    from dataclasses import replace

    from core.model_store import config_differences

    full = ModelConfig()
    assert config_differences(replace(full, dropout=0.3), full) == []
    assert config_differences(replace(full, N=400), full) == ["N=400 (expected 440)"]
    tiny = tiny_config_state[0]
    diffs = config_differences(tiny, full)
    assert any(d.startswith("N=") for d in diffs) and any(d.startswith("B=") for d in diffs)


def test_stalled_connection_times_out_and_resumes(server, tmp_path, tiny_config_state) -> None:
    server.control.cut_after, server.control.cut_times = 400_000, 1
    server.control.stall_s = 2.0
    root = tmp_path / "models"
    store = ModelStore(root, catalogue={"tiny": CatalogueEntry("tiny", server.url, "t")},
                       timeout_s=0.5)
    path = store.download("tiny")
    assert server.requests[1]["headers"]["Range"].startswith("bytes=")
    _assert_same_weights(path, tiny_config_state[1])


def test_resume_through_a_redirect_keeps_the_range(server, tmp_path, tiny_config_state) -> None:
    server.control.cut_after, server.control.cut_times = 300_000, 1
    url = server.url.replace("/model.pt", "/redirect?dl=1")
    path = _store(tmp_path / "models", url).download("tiny")
    assert [r["path"] for r in server.requests] == ["/redirect?dl=1", "/model.pt"] * 2
    assert "Range" not in server.requests[1]["headers"]
    assert server.requests[2]["headers"]["Range"] == server.requests[3]["headers"]["Range"]
    _assert_same_weights(path, tiny_config_state[1])


def test_malformed_override_url_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(url_env_var("tiny"), "not a url")
    with pytest.raises(DownloadError, match="Invalid download address"):
        _store(tmp_path / "models", "http://127.0.0.1:9/unused").download("tiny")
