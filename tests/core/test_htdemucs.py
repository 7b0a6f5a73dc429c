"""HTDemucs through the engine: the library's own networks and weight loading, Stemweave's
segmenting around them.

Every network is a tiny random HTDemucs built from ``demucs.htdemucs.HTDemucs``
(tests/core/htdemucs_tiny.py) at 8 kHz, so the 60-s comparison runs in seconds on one thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("demucs")

from core.errors import ModelLoadError  # noqa: E402
from core.families import load, read_any, read_header, save  # noqa: E402
from core.families.htdemucs import HTDemucsFamily  # noqa: E402
from core.separator import Separator  # noqa: E402
from tests.core.htdemucs_tiny import FOUR, SIX, tiny_htdemucs, write_release_file  # noqa: E402

SR = 8000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on the shared 2-core machine more threads are many times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def music(seconds: float, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Tones, a pulse and noise: a signal every random network responds to."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    rows = []
    for c in range(channels):
        tone = 0.3 * np.sin(2 * np.pi * (110 + 55 * c) * t) * (1 + 0.5 * np.sin(2 * np.pi * t))
        pulse = 0.4 * (np.sin(2 * np.pi * 2 * t) > 0.95)
        rows.append(tone + pulse + 0.05 * rng.standard_normal(t.size))
    return np.stack(rows).astype(np.float32)


def library(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The library's own ``apply_model`` (no random shifts) on the engine's level-normalised
    input, scaled back like the engine does."""
    from demucs.apply import apply_model

    std = float(x.astype(np.float64).std())
    with torch.no_grad():
        out = apply_model(model, torch.from_numpy(x / std)[None], shifts=0, split=True,
                          overlap=0.25)
    return out[0].numpy() * std


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = ref.astype(np.float64), est.astype(np.float64)
    return float(10 * np.log10((ref**2).sum() / ((est - ref) ** 2).sum()))


def test_one_segment_equals_library_apply_model():
    model = tiny_htdemucs(SIX)
    sep = Separator(HTDemucsFamily([model]), device="cpu")
    assert sep.stems == SIX and sep.segment_s == 4.0 and sep.overlap == 0.25
    x = music(3.0)  # shorter than the 4-s training length: one window, padded by the library
    ours = sep.separate(x, SR)
    ref = library(model, x)
    assert ours.shape == ref.shape == (6, 2, x.shape[1])
    assert np.abs(ref).max() > 1e-3
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_sixty_seconds_agree_with_library(capsys):
    model = tiny_htdemucs(FOUR, seed=1)
    sep = Separator(HTDemucsFamily([model]), device="cpu")
    x = music(60.0)
    ours = sep.separate(x, SR)
    ref = library(model, x)
    whole = sdr(ref, ours)
    # The same windows (4 s every 3 s, the last one centred on the song's last 3 s with zeros
    # after the end) and, at 25 % overlap, the same linear crossfade: equal to float precision.
    tail = sdr(ref[..., 56 * SR:], ours[..., 56 * SR:])
    with capsys.disabled():
        print(f"\nHTDemucs (tiny, random) 60 s: engine vs apply_model SDR {whole:.1f} dB "
              f"(last 4 s: {tail:.1f} dB)")
    assert whole >= 30.0  # the bar
    assert tail > 80.0 and whole > 80.0  # measured: 112 and 118 dB


def test_tail_windows_are_the_library_chunks():
    """A song whose last two chunks are short (12.5 s, 4-s windows every 3 s, at 44.1 kHz):
    every window is the input the library's ``TensorChunk.padded`` gives its chunk, and the
    stems agree to float precision."""
    from demucs.apply import TensorChunk

    from core.apply import plan_windows

    rate, seg = 44100, 4 * 44100
    frames = int(12.5 * rate)
    index = torch.arange(1, frames + 1, dtype=torch.float64)[None]  # frame k reads k + 1
    wins = plan_windows(frames, rate, rate, 1, 4.0, 0.25, even=False)
    offsets = list(range(0, frames, int(0.75 * seg)))
    assert [w.kept for w in wins] == offsets
    assert sum(w.kept != w.start for w in wins) == 2
    for w, off in zip(wins, offsets):
        chunk = TensorChunk(index, off, seg).padded(seg)[0].numpy()
        frame = np.arange(w.start, w.stop)
        ours = np.where((frame >= 0) & (frame < frames), frame + 1, 0)
        np.testing.assert_array_equal(chunk, ours)
    model = tiny_htdemucs(FOUR, samplerate=rate, seed=1)
    x = np.stack([np.interp(np.arange(frames) / rate, np.arange(int(12.5 * SR)) / SR, c)
                  for c in music(12.5)]).astype(np.float32)
    ours = Separator(HTDemucsFamily([model]), device="cpu").separate(x, rate)
    ref = library(model, x)
    got = sdr(ref, ours)
    print(f"12.5 s at 44.1 kHz: engine vs apply_model SDR {got:.1f} dB")
    assert got > 80.0


def test_mono_song_is_fed_as_two_equal_channels():
    model = tiny_htdemucs(FOUR)
    sep = Separator(HTDemucsFamily([model]), device="cpu")
    mono = music(2.0, channels=1)
    out = sep.separate(mono, SR)
    assert out.shape == (4, 1, mono.shape[1])
    both = sep.separate(np.concatenate([mono, mono]), SR)
    np.testing.assert_allclose(out[:, 0], both.mean(axis=1), atol=1e-6)


def test_bag_weights_each_model_per_stem():
    a, b = tiny_htdemucs(FOUR, seed=2), tiny_htdemucs(FOUR, seed=3)
    weights = [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    bag = Separator(HTDemucsFamily([a, b], weights), device="cpu")
    x = music(2.0)
    out = bag.separate(x, SR)
    oa = Separator(HTDemucsFamily([a]), device="cpu").separate(x, SR)
    ob = Separator(HTDemucsFamily([b]), device="cpu").separate(x, SR)
    np.testing.assert_allclose(out[[0, 2]], oa[[0, 2]], atol=1e-6)
    np.testing.assert_allclose(out[[1, 3]], ob[[1, 3]], atol=1e-6)


def test_release_file_reads_like_the_library(tmp_path):
    from demucs.states import load_model as library_load

    path = write_release_file(tiny_htdemucs(SIX, seed=4), tmp_path)
    fam = read_any(path)
    assert fam.family == "htdemucs" and fam.stems == SIX
    x = music(2.0)
    ours = Separator(fam, device="cpu").separate(x, SR)
    ref = library(library_load(path).eval(), x)
    np.testing.assert_allclose(ours, ref, atol=1e-6 * np.abs(ref).max())
    # native round trip: the same network, no pickle
    native = save(fam, tmp_path / "six.safetensors", extra={"name": "six"})
    header = read_header(native)
    assert header.family == "htdemucs" and header.stems == SIX
    again = Separator(str(native), device="cpu").separate(x, SR)
    np.testing.assert_array_equal(again, ours)
    # no post-filter for this family: the GUI's stem cache must not key on the setting
    from core.families import runs_wiener

    assert runs_wiener(header.family) is False


def test_corrupt_and_mismatched_files_are_refused(tmp_path):
    path = write_release_file(tiny_htdemucs(FOUR, seed=5), tmp_path)
    cut = tmp_path / "cut-00000000.th"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="not a readable demucs model file"):
        read_any(cut)
    # weights of a 4-stem network under a 6-stem network's arguments
    from demucs.states import get_state

    four = tiny_htdemucs(FOUR, seed=5)
    six = tiny_htdemucs(SIX, seed=5)
    mixed = tmp_path / "mixed-00000000.th"
    torch.save({"klass": type(six), "args": six._init_args_kwargs[0],
                "kwargs": six._init_args_kwargs[1],
                "state": get_state(four, None), "training_args": {}}, mixed)
    with pytest.raises(ModelLoadError, match="weights do not fit the model.*shape"):
        read_any(mixed)
    # anything but the allow-listed class is refused without running it
    evil = tmp_path / "evil-00000000.th"
    torch.save({"klass": os.system, "args": ("true",), "kwargs": {}, "state": {}}, evil)
    with pytest.raises(ModelLoadError, match="refused to load"):
        read_any(evil)
    # a native file whose tensors were damaged
    native = save(HTDemucsFamily([four]), tmp_path / "four.safetensors")
    data = bytearray(native.read_bytes())
    data[-64:] = b"\xff" * 64  # NaNs in the last tensor
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="NaN or infinite"):
        load(bad)


#: a start-up script that makes ``import demucs`` fail, as on a machine without the extra.
BLOCK_DEMUCS = """
import sys
class _NoDemucs:
    def find_spec(self, name, path=None, target=None):
        if name == "demucs" or name.startswith("demucs."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _NoDemucs())
"""


def test_without_the_extra_nothing_crashes(tmp_path):
    """The catalogue says how to get the extra; a stored HTDemucs model is listed with its
    stems and refused with the install hint only when it is used."""
    fam = HTDemucsFamily([tiny_htdemucs(FOUR)])
    models = tmp_path / "models"
    models.mkdir()
    save(fam, models / "mine.safetensors", extra={"name": "mine", "kind": "user",
                                                  "description": "tiny"})
    song = tmp_path / "song.wav"
    import soundfile as sf

    sf.write(song, music(1.0).T, SR)
    (tmp_path / "sitecustomize.py").write_text(BLOCK_DEMUCS)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
           "STEMWEAVE_MODELS_DIR": str(models)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stemweave", *args], env=env, text=True,
                              capture_output=True, timeout=120)

    check = subprocess.run([sys.executable, "-c", "import core.families.htdemucs as h; "
                            "print(h.demucs_available())"], env=env, text=True,
                           capture_output=True, timeout=60)
    assert check.stdout.strip() == "False", check.stderr
    listed = run("models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "stemweave[demucs]" in listed.stdout
    assert "mine" in listed.stdout and "drums, bass, other, vocals" in listed.stdout
    sep = run("separate", str(song), "-o", str(tmp_path / "out"), "--model", "mine")
    assert sep.returncode != 0
    assert 'pip install "stemweave[demucs]"' in sep.stderr
    assert len(sep.stderr.strip().splitlines()) == 1, sep.stderr
    assert "Traceback" not in sep.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.wav"))
