"""The PyInstaller desktop bundle (dist/stemweave/): builds it and runs the built binary.

Skipped unless pytest gets ``--run-bundle``: the build takes minutes (``bash
scripts/build_bundle.sh``: a clean virtual environment, then PyInstaller). To test a bundle
that is already built instead, point ``STEMWEAVE_BUNDLE_DIR`` at its folder, e.g.
``STEMWEAVE_BUNDLE_DIR=dist/stemweave``.

The binary runs in a scratch home (``HOME`` and the ``XDG_*`` folders in a temporary
directory), so it never reads or writes the user's settings, stem cache or models.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.resources import builtin_model_path, demo_song_path
from stemweave import __version__

pytestmark = [pytest.mark.bundle, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
STEMS = ("drums", "bass", "other", "vocals")
#: packages that must not be inside the bundle (training/test only, or the numba chain)
UNWANTED = ("numba", "llvmlite", "scipy", "resampy", "tensorboard", "museval", "musdb",
            "pytest", "_pytest", "matplotlib", "pandas")
#: a CPU bundle above this has picked up something it should not have (it is ~0.75 GB)
CPU_BUNDLE_LIMIT_MB = 1100


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    """The bundle folder: $STEMWEAVE_BUNDLE_DIR, else freshly built with the build script."""
    given = os.environ.get("STEMWEAVE_BUNDLE_DIR")
    if given:
        folder = Path(given).resolve()
        if not (folder / "stemweave").is_file():
            pytest.fail(f"STEMWEAVE_BUNDLE_DIR={given} holds no stemweave executable")
        return folder
    env = dict(os.environ, STEMWEAVE_BUNDLE_SETUP="0")  # setup.sh already ran for the tests
    proc = subprocess.run(["bash", "scripts/build_bundle.sh"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, f"build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    folder = ROOT / "dist" / "stemweave"
    assert (folder / "stemweave").is_file()
    return folder


@pytest.fixture()
def home(tmp_path: Path) -> dict[str, str]:
    """Environment for the binary with a scratch home and no Python variables leaking in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "XDG_", "QT_")) and k not in ("VIRTUAL_ENV",)}
    h = tmp_path / "home"
    for sub in ("config", "cache", "data"):
        (h / sub).mkdir(parents=True)
    env.update(HOME=str(h), XDG_CONFIG_HOME=str(h / "config"), XDG_CACHE_HOME=str(h / "cache"),
               XDG_DATA_HOME=str(h / "data"), QT_QPA_PLATFORM="offscreen")
    return env


def _run(bundle: Path, args: list[str], env: dict[str, str], timeout: float = 600,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bundle / "stemweave"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-second stereo 44.1 kHz WAV: a bass line, a chord, clicks and noise."""
    sr = 44100
    t = np.arange(3 * sr) / sr
    rng = np.random.default_rng(7)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
    clicks = np.where((t % 0.5) < 0.01, 0.5, 0.0) * rng.standard_normal(t.size)
    mix = np.stack([bass + chord + clicks, bass + 0.8 * chord + clicks]).T
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(path, mix.astype(np.float32), sr)
    return path


@pytest.fixture(scope="session")
def model_args(tiny_checkpoint: Path) -> list[str]:
    """``--model`` for the tests: the tiny fixture (fast); the built-in model has its own test."""
    return ["--model", str(tiny_checkpoint)]


def _check_png(path: Path, width: int, height: int) -> None:
    """The PNG exists, has the window's size and shows more than a blank window."""
    from PySide6.QtGui import QImage

    assert path.is_file() and path.stat().st_size > 10_000, path
    img = QImage(str(path))
    assert not img.isNull()
    assert (img.width(), img.height()) == (width, height)
    colours = {img.pixel(x, y) for x in range(0, width, 7) for y in range(0, height, 7)}
    assert len(colours) > 50, f"only {len(colours)} colours: a blank window?"


def test_contents(bundle_dir: Path) -> None:
    """What the bundle must and must not contain, and a sane size."""
    internal = bundle_dir / "_internal"
    plugins = internal / "PySide6" / "Qt" / "plugins" / "platforms"
    for plugin in ("libqoffscreen.so", "libqxcb.so", "libqwayland.so"):
        if sys.platform.startswith("linux"):
            assert (plugins / plugin).is_file(), f"Qt platform plugin {plugin} missing"
    if sys.platform.startswith("linux"):
        assert list(internal.glob("libportaudio.so*")), "PortAudio not shipped"
    for name in UNWANTED:
        assert not (internal / name).exists(), f"{name} is in the bundle"
    assert not (internal / "torch" / "test").exists()
    for sub, source in (("models/builtin.safetensors", builtin_model_path()),
                        ("demo/demo_song.flac", demo_song_path())):
        if source.is_file():
            assert (internal / "resources" / sub).is_file(), f"resources/{sub} not shipped"
    size_mb = sum(f.stat().st_size for f in bundle_dir.rglob("*")
                  if f.is_file() and not f.is_symlink()) / 2**20
    if not list((internal / "torch" / "lib").glob("libtorch_cuda*")):
        assert size_mb < CPU_BUNDLE_LIMIT_MB, f"CPU bundle is {size_mb:.0f} MB"


#: libraries a bundle may take from the user's system: glibc, the GL/EGL/DRM stack, libxcb,
#: Wayland's client libraries and the NVIDIA driver (PyInstaller leaves these out on purpose)
SYSTEM_LIBS = re.compile(r"^(ld-linux.*|lib(c|m|dl|pthread|rt|resolv|util)\.so\..*"
                         r"|lib(GL|EGL|GLX|OpenGL|GLdispatch|drm|gbm)\.so\..*|libxcb\.so\.1"
                         r"|libwayland-.*|libcuda\.so.*|libnvidia-.*)$")


@pytest.mark.skipif(not (sys.platform.startswith("linux") and shutil.which("readelf")),
                    reason="needs Linux and readelf")
def test_libraries_resolve(bundle_dir: Path) -> None:
    """Every library a bundled binary links against is bundled too or a base-system one, so
    nothing the spec leaves out is still needed."""
    files = [f for f in bundle_dir.rglob("*") if f.is_file() and not f.is_symlink()]
    names = {f.name for f in bundle_dir.rglob("*")}
    missing: dict[str, str] = {}
    for f in files:
        with open(f, "rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        out = subprocess.run(["readelf", "-d", str(f)], capture_output=True, text=True).stdout
        for lib in re.findall(r"\(NEEDED\).*\[(.*)\]", out):
            if lib not in names and not SYSTEM_LIBS.match(lib):
                missing.setdefault(lib, str(f.relative_to(bundle_dir)))
    assert not missing, f"needed but not bundled (library: needed by): {missing}"


def test_version_and_models_list(bundle_dir: Path, home: dict[str, str],
                                 tiny_checkpoint: Path, tmp_path: Path) -> None:
    """``--version``, ``models import`` and ``models list`` work from the bundle."""
    proc = _run(bundle_dir, ["--version"], home, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"stemweave {__version__}"

    store = tmp_path / "models"
    proc = _run(bundle_dir, ["models", "--dir", str(store), "import", str(tiny_checkpoint),
                             "--name", "tiny"], home, timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = _run(bundle_dir, ["models", "--dir", str(store), "list"], home, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # columns: NAME FAMILY KIND STATUS ...
    assert re.search(r"^tiny\s+metatasnet\s+user\s+installed\b", proc.stdout, re.M), proc.stdout
    assert str(store) in proc.stdout
    if builtin_model_path().is_file():  # the bundle finds its own copy of the built-in model
        assert re.search(r"^builtin\s+\S+\s+builtin\s+installed\b", proc.stdout,
                         re.M), proc.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checks the Linux runtime hook")
def test_portaudio_from_bundle(bundle_dir: Path, home: dict[str, str], tmp_path: Path) -> None:
    """sounddevice loads the PortAudio library shipped in the bundle, not the system's."""
    env = dict(home, STEMWEAVE_BUNDLE_AUDIO_CHECK="1", LD_DEBUG="files",
               LD_DEBUG_OUTPUT=str(tmp_path / "ld"))
    proc = _run(bundle_dir, ["--version"], env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^audio check: PortAudio V19", proc.stderr, re.M), proc.stderr
    loaded = "".join(p.read_text(errors="replace") for p in tmp_path.glob("ld.*"))
    portaudio = set(re.findall(r"file=(\S*libportaudio\S*)", loaded))
    assert portaudio and all(p.startswith(str(bundle_dir)) for p in portaudio), portaudio


def test_error_is_one_line(bundle_dir: Path, home: dict[str, str], tmp_path: Path) -> None:
    """A user error ends in one line on stderr and exit status 1, as from source."""
    proc = _run(bundle_dir, ["separate", str(tmp_path / "missing.wav"), "-o", str(tmp_path),
                             "--model", str(tmp_path / "missing.safetensors")], home, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("stemweave: error:"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_separate_headless(bundle_dir: Path, home: dict[str, str], song: Path,
                           model_args: list[str], tmp_path: Path) -> None:
    """``stemweave separate`` writes four sane stems and exits 0."""
    out = tmp_path / "out"
    proc = _run(bundle_dir, ["separate", str(song), "-o", str(out), *model_args], home)
    assert proc.returncode == 0, proc.stderr
    mix, sr = sf.read(song, dtype="float32")
    for stem in STEMS:
        data, rate = sf.read(out / "song" / f"{stem}.wav", dtype="float32")
        assert rate == sr and data.shape == mix.shape, (stem, rate, data.shape)
        assert np.isfinite(data).all()
    total = sum(sf.read(out / "song" / f"{s}.wav", dtype="float32")[0] for s in STEMS)
    assert np.abs(total).max() > 1e-3, "all stems are silent"


@pytest.mark.skipif(not (builtin_model_path().is_file() and demo_song_path().is_file()),
                    reason="built-in model or demo song not in resources/ yet")
def test_separate_demo_song_builtin_model(bundle_dir: Path, home: dict[str, str],
                                          tmp_path: Path) -> None:
    """The shipped demo song, separated with the shipped model (no --model), exits 0."""
    demo = bundle_dir / "_internal" / "resources" / "demo" / "demo_song.flac"
    out = tmp_path / "out"
    proc = _run(bundle_dir, ["separate", str(demo), "-o", str(out), "--format", "flac"], home,
                timeout=1200)
    assert proc.returncode == 0, proc.stderr
    info = sf.info(demo)
    for stem in STEMS:
        got = sf.info(out / "demo_song" / f"{stem}.flac")
        assert (got.samplerate, got.frames) == (info.samplerate, info.frames)


def test_separate_six_stem_htdemucs(bundle_dir: Path, home: dict[str, str], song: Path,
                                    tmp_path: Path) -> None:
    """The bundle carries the demucs library's HTDemucs: a six-stem model (tiny, random,
    imported from a demucs release file) separates into six stems; the catalogue offers the
    HTDemucs models without the install hint."""
    pytest.importorskip("demucs")
    from tests.core.htdemucs_tiny import SIX, tiny_htdemucs, write_release_file

    release = write_release_file(tiny_htdemucs(SIX, samplerate=44100, seed=3), tmp_path / "dl",
                                 "six")
    env = dict(home, STEMWEAVE_MODELS_DIR=str(tmp_path / "models"))
    proc = _run(bundle_dir, ["models", "import", str(release), "--name", "six"], env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = _run(bundle_dir, ["models", "list"], env, timeout=120)
    assert proc.returncode == 0 and "htdemucs_6s" in proc.stdout, proc.stderr
    assert "pip install" not in proc.stdout + proc.stderr, proc.stdout
    out = tmp_path / "out"
    proc = _run(bundle_dir, ["separate", str(song), "-o", str(out), "--model", "six",
                             "--threads", "1"], env)
    assert proc.returncode == 0, proc.stderr
    mix, sr = sf.read(song, dtype="float32")
    assert sorted(p.name for p in (out / "song").iterdir()) == sorted(f"{s}.wav" for s in SIX)
    for stem in SIX:
        data, rate = sf.read(out / "song" / f"{stem}.wav", dtype="float32")
        assert rate == sr and data.shape == mix.shape and np.isfinite(data).all(), stem


def test_gui_screenshot_offscreen(bundle_dir: Path, home: dict[str, str], song: Path,
                                  model_args: list[str], tmp_path: Path) -> None:
    """The GUI starts headless (Qt's offscreen plugin), separates and renders the window."""
    shot = tmp_path / "offscreen.png"
    env = dict(home, LD_DEBUG="files", LD_DEBUG_OUTPUT=str(tmp_path / "ld"))
    proc = _run(bundle_dir, ["gui", str(song), "--screenshot", str(shot), "--size", "1200x800",
                             "--settings", str(tmp_path / "settings.ini"), *model_args], env)
    assert proc.returncode == 0, proc.stderr
    _check_png(shot, 1200, 800)
    # Qt came from the bundle, not from a system Qt
    loaded = "".join(p.read_text(errors="replace") for p in tmp_path.glob("ld.*"))
    qt = {p for p in re.findall(r"file=(\S*libQt6Gui\S*)", loaded) if "/" in p}
    assert qt and all(p.startswith(str(bundle_dir)) for p in qt), qt


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed")
def test_gui_screenshot_xvfb(bundle_dir: Path, home: dict[str, str], song: Path,
                             model_args: list[str], tmp_path: Path) -> None:
    """The GUI starts on an X server (Xvfb) through the bundled xcb platform plugin."""
    shot = tmp_path / "xvfb.png"
    env = dict(home, QT_QPA_PLATFORM="xcb")
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", str(bundle_dir / "stemweave"), "gui",
         str(song), "--screenshot", str(shot), "--size", "1000x700",
         "--settings", str(tmp_path / "settings.ini"), *model_args],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    _check_png(shot, 1000, 700)
