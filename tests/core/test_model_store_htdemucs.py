"""HTDemucs in the model store: catalogue entries, offline import of release files (checksum in
the name, stems, bags), downloads of several files from a real local HTTP server, listing."""

from __future__ import annotations

import dataclasses
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("demucs")

from core.errors import DownloadError, ModelLoadError  # noqa: E402
from core.families import read_header  # noqa: E402
from core.model_store import (  # noqa: E402
    SIX_STEMS,
    CatalogueEntry,
    DownloadCancelled,
    ModelStore,
    default_catalogue,
)
from tests.core.htdemucs_tiny import FOUR, SIX, tiny_htdemucs, write_release_file  # noqa: E402


def test_catalogue_offers_three_htdemucs_models():
    cat = default_catalogue()
    assert {"htdemucs", "htdemucs_ft", "htdemucs_6s"} <= set(cat)
    assert cat["htdemucs_6s"].stems == SIX_STEMS == SIX
    assert len(cat["htdemucs_ft"].files) == 4 and cat["htdemucs_ft"].bag_weights is not None
    for name in ("htdemucs", "htdemucs_ft", "htdemucs_6s"):
        e = cat[name]
        assert e.family == "htdemucs" and e.approx_size_bytes
        # every release file name carries 8 hex digits of its SHA-256
        assert all(len(f.split("-")[1].split(".")[0]) == 8 for f in e.files)


@pytest.fixture()
def release(tmp_path):
    """Two tiny 4-stem release files and a catalogue bag of them (one network per stem pair)."""
    files = [write_release_file(tiny_htdemucs(FOUR, seed=s), tmp_path / "dl", f"m{s}")
             for s in (1, 2)]
    entry = CatalogueEntry(name="tinybag", url="http://127.0.0.1:9/none/", description="tiny bag",
                           family="htdemucs", stems=FOUR, files=tuple(f.name for f in files),
                           bag_weights=((1, 0, 1, 0), (0, 1, 0, 1)), approx_size_bytes=10)
    return files, entry


def test_offline_import_of_a_bag_in_any_order(tmp_path, release):
    files, entry = release
    store = ModelStore(tmp_path / "models", catalogue={entry.name: entry})
    info = store.import_([str(files[1]), str(files[0])], name="tinybag")
    assert info.installed and info.kind == "remote" and info.family == "htdemucs"
    assert info.stems == FOUR
    header = read_header(info.path)
    assert header.config["weights"] == [[1, 0, 1, 0], [0, 1, 0, 1]]
    assert [m["class"] for m in header.config["models"]] == ["HTDemucs", "HTDemucs"]
    assert store.resolve("tinybag") == info.path


def test_offline_import_refuses_wrong_checksum_missing_file_and_stems(tmp_path, release):
    files, entry = release
    store = ModelStore(tmp_path / "models", catalogue={entry.name: entry})
    with pytest.raises(ModelLoadError, match="needs 2 files; missing"):
        store.import_([str(files[0])], name="tinybag")
    # same name, other content: the checksum in the name does not match
    other = write_release_file(tiny_htdemucs(FOUR, seed=9), tmp_path / "x", "other")
    fake = tmp_path / "y" / files[1].name
    fake.parent.mkdir()
    fake.write_bytes(other.read_bytes())
    with pytest.raises(ModelLoadError, match="does not match the published"):
        store.import_([str(files[0]), str(fake)], name="tinybag")
    six = dataclasses.replace(entry, name="tinysix", stems=SIX)
    store = ModelStore(tmp_path / "models", catalogue={"tinysix": six})
    with pytest.raises(ModelLoadError, match="separates into"):
        store.import_([str(files[0]), str(files[1])], name="tinysix")
    assert not any((tmp_path / "models").glob("*.safetensors"))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: ANN002
        pass


@pytest.fixture()
def server(release):
    files, _ = release
    handler = functools.partial(_Quiet, directory=str(files[0].parent))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_of_several_files_installs_one_native_model(tmp_path, release, server):
    files, entry = release
    entry = dataclasses.replace(entry, url=server)
    store = ModelStore(tmp_path / "models", catalogue={entry.name: entry})
    seen = []
    # cancelled after the first file: it stays as a partial download, reported in the listing
    first = files[0].stat().st_size

    def cancel() -> bool:
        return bool(seen) and seen[-1][0] >= first

    with pytest.raises(DownloadCancelled):
        store.download("tinybag", progress=lambda d, t: seen.append((d, t)), cancel=cancel)
    assert store.info("tinybag").partial_bytes >= first
    assert not store.info("tinybag").installed
    seen.clear()
    path = store.download("tinybag", progress=lambda d, t: seen.append((d, t)))
    assert read_header(path).family == "htdemucs"
    assert seen[-1][0] == sum(f.stat().st_size for f in files)
    assert store.info("tinybag").installed and store.info("tinybag").partial_bytes == 0
    assert not any((tmp_path / "models" / ".partial").glob("*")) if (
        tmp_path / "models" / ".partial").exists() else True


def test_download_with_a_wrong_file_is_rejected(tmp_path, release, server):
    files, entry = release
    other = write_release_file(tiny_htdemucs(FOUR, seed=7), tmp_path / "o", "o")
    files[1].write_bytes(other.read_bytes())  # the server now serves other content
    entry = dataclasses.replace(entry, url=server)
    store = ModelStore(tmp_path / "models", catalogue={entry.name: entry})
    with pytest.raises(DownloadError, match="rejected.*SHA-256"):
        store.download("tinybag")
    assert not store.model_path("tinybag").exists()
    assert store.info("tinybag").partial_bytes == 0


def test_user_release_file_lists_family_and_stems(tmp_path):
    path = write_release_file(tiny_htdemucs(SIX, seed=3), tmp_path / "dl", "mine")
    store = ModelStore(tmp_path / "models")
    info = store.import_(str(path), name="mine6")
    assert (info.kind, info.family, info.stems) == ("user", "htdemucs", SIX)
    listed = {m.name: m for m in store.list()}
    assert listed["mine6"].stems == SIX and listed["htdemucs_6s"].stems == SIX
    assert listed["htdemucs_6s"].size_estimated and not listed["mine6"].size_estimated
    assert Path(store.resolve("mine6")).name == "mine6.safetensors"
