"""``stemweave separate`` end to end through ``stemweave.cli.main`` with the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import core.precision
import core.resources
from core.audio import save_audio
from stemweave.cli import main


def _song(path, channels=2, rate=22050, seconds=1.0):
    t = np.arange(int(rate * seconds)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 220 * (c + 1) * t) for c in range(channels)])
    return save_audio(path, x.astype(np.float32), rate)


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_separates_several_inputs_and_reports_bad_ones(tmp_path, tiny_checkpoint, capsys):
    a = _song(tmp_path / "first song.wav")
    b = _song(tmp_path / "mono.flac", channels=1, rate=44100, seconds=0.5)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = tmp_path / "out"
    code = main(["separate", str(a), str(bad), str(b), "-o", str(out), "--model",
                 str(tiny_checkpoint), "--device", "cpu", "--segment", "2", "--threads", "1"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.wav" in err[0] and "not a readable audio file" in err[0]
    assert _files(out) == sorted(f"{d}/{s}.wav" for d in ("first song", "mono")
                                 for s in ("drums", "bass", "other", "vocals"))
    info = sf.info(str(out / "mono" / "vocals.wav"))
    assert (info.frames, info.samplerate, info.channels, info.subtype) == (
        22050, 44100, 1, "PCM_24")


def test_options_stems_format_bits_sum_to_mix(tmp_path, tiny_checkpoint):
    a = _song(tmp_path / "s.wav", seconds=1.5)
    out = tmp_path / "out"
    code = main(["separate", str(a), "-o", str(out), "--model", str(tiny_checkpoint),
                 "--stems", "vocals,drums", "--format", "flac", "--bits", "16", "--threads", "1",
                 "--overlap", "0.2", "--sum-to-mix", "--lsq-gains"])
    assert code == 0
    assert _files(out) == ["s/drums.flac", "s/vocals.flac"]
    assert sf.info(str(out / "s" / "vocals.flac")).subtype == "PCM_16"


def _stems_32f(tmp_path, song, tiny_checkpoint, name, *options):
    """Separate ``song`` to 32-bit float WAV with ``options``; returns (4, frames, channels)."""
    out = tmp_path / name
    assert main(["separate", str(song), "-o", str(out), "--model", str(tiny_checkpoint),
                 "--bits", "32f", "--threads", "1", *options]) == 0
    return np.stack([sf.read(str(out / song.stem / f"{s}.wav"), dtype="float32")[0]
                     for s in ("drums", "bass", "other", "vocals")])


def test_every_engine_option_reaches_the_engine(tmp_path, tiny_checkpoint):
    """--sum-to-mix makes the stems add up to the input; --lsq-gains, --segment, --overlap and
    --no-wiener each change the stems (the CLI must pass them on, not drop them)."""
    song = _song(tmp_path / "song.wav", seconds=3.5)
    mix = sf.read(str(song), dtype="float32")[0]
    base = _stems_32f(tmp_path, song, tiny_checkpoint, "base", "--segment", "1.5")
    summed = _stems_32f(tmp_path, song, tiny_checkpoint, "sum", "--segment", "1.5",
                        "--sum-to-mix")
    assert np.abs(base.sum(0) - mix).max() > 1e-3  # the model alone does not add up exactly
    np.testing.assert_allclose(summed.sum(0), mix, rtol=0, atol=1e-6)
    for name, options in [("lsq", ["--segment", "1.5", "--lsq-gains"]),
                          ("segment", ["--segment", "2.5"]),
                          ("overlap", ["--segment", "1.5", "--overlap", "0.5"]),
                          ("raw", ["--segment", "1.5", "--no-wiener"])]:
        other = _stems_32f(tmp_path, song, tiny_checkpoint, name, *options)
        assert other.shape == base.shape
        assert np.abs(other - base).max() > 1e-4, f"{name} did not change the stems"


def test_32f_flac_is_refused_with_one_line(tmp_path, tiny_checkpoint, capsys):
    a = _song(tmp_path / "s.wav")
    code = main(["separate", str(a), "-o", str(tmp_path / "o"), "--model", str(tiny_checkpoint),
                 "--format", "flac", "--bits", "32f"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "32-bit float" in err[0]
    assert not (tmp_path / "o").exists() or _files(tmp_path / "o") == []


def test_model_is_required_until_builtin_ships(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(core.resources, "builtin_model_path", lambda: tmp_path / "none.st")
    monkeypatch.setenv("STEMWEAVE_MODELS_DIR", str(tmp_path / "models"))  # no installed model
    a = _song(tmp_path / "s.wav")
    assert main(["separate", str(a), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "--model" in err and len(err.strip().splitlines()) == 1


def test_missing_model_file(tmp_path, capsys):
    a = _song(tmp_path / "s.wav")
    assert main(["separate", str(a), "-o", str(tmp_path / "o"), "--model",
                 str(tmp_path / "nope.safetensors")]) == 1
    assert "nope.safetensors" in capsys.readouterr().err


@pytest.mark.parametrize("argv,msg", [(["--stems", ","], "no stem names"),
                                      (["--overlap", "0.9"], "between 0 and 0.5"),
                                      (["--segment", "0.1"], "at least 1 second")])
def test_bad_arguments(tmp_path, argv, msg, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["separate", "x.wav", "-o", str(tmp_path), *argv])
    assert exc.value.code == 2 and msg in capsys.readouterr().err


@pytest.mark.parametrize("asked,native", [("auto", True), ("auto", False), ("fp32", True)],
                         ids=["auto-native-bf16", "auto-no-native-bf16", "fp32"])
def test_verbose_says_which_precision(tmp_path, tiny_checkpoint, capsys, monkeypatch, asked,
                                      native):
    # Native bf16 forced both ways, so the test holds on any CPU (bf16 runs everywhere).
    monkeypatch.setattr(core.precision, "cpu_bf16_native", lambda: native)
    a = _song(tmp_path / "s.wav", channels=1, seconds=0.5)
    code = main(["separate", str(a), "-o", str(tmp_path / "out"), "--model",
                 str(tiny_checkpoint), "--device", "cpu", "--threads", "1", "--precision", asked,
                 "-v"])
    assert code == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "precision" in ln]
    assert len(lines) == 1
    if asked == "auto" and native:
        assert "chosen by measurement" in lines[0] and "fp32" in lines[0]
        assert "bf16" in lines[0] and lines[0].split()[2] in ("fp32", "bf16")
    elif asked == "auto":
        assert lines[0].startswith("stemweave: precision fp32 on cpu (auto, not measured: ")
    else:
        assert lines[0].startswith("stemweave: precision fp32 on cpu (as asked)")
