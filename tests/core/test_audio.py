"""core.audio: decoding, clear errors for bad files, atomic writing."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

import core.audio as audio
from core.audio import AudioInfo, StemWriter, audio_info, load_audio, save_audio
from core.errors import AudioLoadError, AudioWriteError


def _tone(channels=2, frames=4410, rate=44100):
    t = np.arange(frames) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t)
                     for c in range(channels)]).astype(np.float32)


@pytest.mark.parametrize("fmt,bits,tol", [("wav", "16", 1e-4), ("wav", "24", 1e-6),
                                          ("wav", "32f", 0.0), ("flac", "24", 1e-6),
                                          ("flac", "16", 1e-4)])
def test_roundtrip(tmp_path, fmt, bits, tol):
    x = _tone()
    p = save_audio(tmp_path / f"a.{fmt}", x, 44100, bits=bits)
    y, rate = load_audio(p)
    assert rate == 44100 and y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() <= tol
    assert sf.info(str(p)).subtype == audio.SUBTYPES[bits]
    assert [q.name for q in tmp_path.iterdir()] == [f"a.{fmt}"]  # no temp file left


def test_audio_info(tmp_path):
    p = save_audio(tmp_path / "a.wav", _tone(3, 22050, 22050), 22050)
    assert audio_info(p) == AudioInfo(frames=22050, sample_rate=22050, channels=3, duration_s=1.0)


def test_mono_1d_and_clipping(tmp_path):
    p = save_audio(tmp_path / "m.wav", np.array([0.5, 2.0, -3.0], np.float32), 8000, bits="16")
    y, _ = load_audio(p)
    assert y.shape == (1, 3) and np.abs(y).max() <= 1.0


def test_write_errors(tmp_path):
    with pytest.raises(AudioWriteError, match="FLAC cannot store 32-bit float"):
        save_audio(tmp_path / "a.flac", _tone(), 44100, bits="32f")
    with pytest.raises(AudioWriteError, match="format"):
        save_audio(tmp_path / "a.mp3", _tone(), 44100)
    with pytest.raises(AudioWriteError, match="NaN"):
        save_audio(tmp_path / "n.wav", np.full((1, 10), np.nan, np.float32), 44100)
    with pytest.raises(AudioWriteError, match="cannot write"):
        save_audio(tmp_path / "missing-dir" / "a.wav", _tone(), 44100)
    assert sorted(q.name for q in tmp_path.iterdir()) == []


def test_stem_writer_commit_and_discard(tmp_path):
    w = StemWriter(tmp_path / "s.wav", 8000, 2, bits="32f")
    w.write(_tone(2, 100, 8000))
    w.write(_tone(2, 50, 8000))
    assert not (tmp_path / "s.wav").exists()  # hidden until committed
    w.commit()
    assert sf.info(str(tmp_path / "s.wav")).frames == 150
    d = StemWriter(tmp_path / "d.wav", 8000, 1)
    d.write(np.zeros((1, 10), np.float32))
    d.discard()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["s.wav"]


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioLoadError, match="empty"):
        load_audio(p)


def test_text_file_named_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioLoadError, match="not a readable audio file"):
        load_audio(p)


def test_truncated_wav_data(tmp_path):
    p = save_audio(tmp_path / "t.wav", _tone(2, 44100), 44100, bits="16")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioLoadError, match=r"t\.wav: the file is truncated: its header "
                       r"announces \d+ bytes of audio but only \d+ are present"):
        load_audio(p)


def test_truncated_wav_header(tmp_path):
    p = save_audio(tmp_path / "h.wav", _tone(2, 441), 44100, bits="16")
    p.write_bytes(p.read_bytes()[:30])
    with pytest.raises(AudioLoadError, match=r"h\.wav: not a readable audio file"):
        load_audio(p)


def test_truncated_flac(tmp_path):
    p = save_audio(tmp_path / "t.flac", np.random.default_rng(0).uniform(-.5, .5, (2, 44100))
                   .astype(np.float32), 44100)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioLoadError, match=r"t\.flac: .*damaged or truncated"):
        load_audio(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioLoadError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioLoadError, match="folder"):
        load_audio(tmp_path)


def test_m4a_without_ffmpeg_says_so(tmp_path, monkeypatch):
    p = tmp_path / "song.m4a"
    p.write_bytes(b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 200)
    monkeypatch.setattr(audio, "ffmpeg_path", lambda: None)
    with pytest.raises(AudioLoadError, match="ffmpeg"):
        load_audio(p)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_m4a_through_ffmpeg(tmp_path):
    wav = save_audio(tmp_path / "src.wav", _tone(2, 44100), 44100)
    m4a = tmp_path / "src.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), "-c:a", "aac",
                    "-b:a", "128k", str(m4a)], check=True)
    y, rate = load_audio(m4a)
    assert rate == 44100 and y.shape[0] == 2
    assert abs(y.shape[1] - 44100) < 2048  # AAC priming/padding
    assert 0.2 < np.abs(y).max() < 0.7  # a 0.3-amplitude tone pair, AAC-coded
    assert audio_info(m4a).channels == 2
