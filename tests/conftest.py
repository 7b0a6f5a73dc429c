"""Shared test fixtures: paths to the authors' golden fixtures and tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "metatasnet"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-bundle", action="store_true", help="build and test the bundle")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    skip_bundle = pytest.mark.skip(reason="bundle test: pass --run-bundle (takes minutes)")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if "bundle" in item.keywords and not config.getoption("--run-bundle"):
            item.add_marker(skip_bundle)


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Caches (the precision probe's, core.precision) go to a temporary folder, never the
    user's; subprocesses inherit it."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["STEMWEAVE_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The authors' golden fixtures (tests/fixtures/metatasnet, see its README)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"golden fixtures missing at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_checkpoint(fixtures_dir: Path) -> Path:
    """The authors' tiny generated-weights checkpoint (.pt)."""
    return fixtures_dir / "tiny_checkpoint.pt"


@pytest.fixture(scope="session")
def tiny_native(tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path) -> Path:
    """The tiny checkpoint converted to the native .safetensors format."""
    from core import convert_checkpoint

    out = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    return convert_checkpoint(tiny_checkpoint, out)
