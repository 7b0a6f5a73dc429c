"""core.apply: window planning, crossfade weights and the streaming overlap-add engine.

The engine is checked with a stand-in "model" that returns its 32 kHz input scaled per stem, so
the exact answer (resample to 32 kHz and back, over the whole song) is known.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.apply import (
    Window,
    grid_frames,
    plan_windows,
    run_segments,
    window_weights,
)
from core.errors import SeparationCancelled
from core.resample import resample

GAINS = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(1, 4, 1, 1)
RATES = (8000, 16000, 32000)


def fake_forward(mixes):
    assert [m.shape[-1] for m in mixes] == [mixes[0].shape[-1] * 2**i for i in range(3)]
    assert mixes[0].shape[-1] % 20 == 0  # model lengths are multiples of W
    return mixes[-1].unsqueeze(1) * GAINS  # (b, 4, 1, 4T)


@pytest.mark.parametrize("rate,expected", [(44100, 441), (48000, 120), (22050, 441),
                                           (96000, 240), (8000, 20), (32000, 80),
                                           (44101, 44101)])
def test_grid(rate, expected):
    assert grid_frames(rate, 8000, 20) == expected


@pytest.mark.parametrize("frames", [1, 1000, 44100 * 5, 44100 * 12, 44100 * 61 + 17])
def test_plan_covers_the_song_with_equal_windows(frames):
    ws = plan_windows(frames, 44100, 8000, 20, segment_s=12.0, overlap=0.1)
    g = grid_frames(44100, 8000, 20)
    assert ws[0].start == 0 and ws[-1].stop >= frames and ws[-1].stop - frames < max(g, 11025)
    assert len({w.frames for w in ws}) == 1
    for a, b in zip(ws, ws[1:]):
        assert b.start > a.start and b.start < a.stop  # overlapping, in order
    for w in ws:
        assert w.start % g == 0 and w.frames % g == 0
        assert (w.frames * 8000 // 44100) % 20 == 0


def test_weights_crossfade_to_one():
    ws = [Window(0, 100), Window(80, 180), Window(160, 260)]
    total = np.zeros(260)
    for k, w in enumerate(ws):
        total[w.start:w.stop] += window_weights(ws, k, 20)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    assert window_weights(ws, 0, 20)[0] == 1.0 and window_weights(ws, 2, 20)[-1] == 1.0


@pytest.mark.parametrize("seconds", [12.5, 13.7, 14.0, 61.3])
def test_fixed_plan_centres_the_tail_and_crossfades_to_one(seconds):
    """even=False: windows every step from 0 until the song ends; one that passes the end keeps
    only its song part (from ``kept``) and is centred on it; the weights still sum to one."""
    frames = int(seconds * 44100)
    ws = plan_windows(frames, 44100, 8000, 20, segment_s=4.0, overlap=0.25, even=False)
    g = grid_frames(44100, 8000, 20)
    step = ws[1].kept - ws[0].kept
    assert [w.kept for w in ws] == list(range(0, frames, step))
    assert len({w.frames for w in ws}) == 1 and ws[0].frames == 4 * 44100
    for w in ws:
        assert w.start % g == 0 and w.start <= w.kept < w.stop
        if w.kept + w.frames <= frames:
            assert w.start == w.kept
        else:  # the song part [kept, frames) sits in the middle, to the grid
            before, after = w.kept - w.start, w.stop - frames
            assert w.start < w.kept and w.stop > frames and abs(before - after) <= 2 * g
    total = np.zeros(ws[-1].stop)
    fade = ws[0].stop - ws[1].kept
    for k, w in enumerate(ws):
        total[w.kept:w.stop] += window_weights(ws, k, fade)
    np.testing.assert_allclose(total[:frames], 1.0, atol=1e-6)


def _engine(x, rate, **kw):
    blocks = []
    out = np.zeros((4, *x.shape), np.float32)

    def emit(start, block):
        blocks.append((start, block.shape[-1]))
        out[..., start:start + block.shape[-1]] = block

    def read(a, b):
        blk = np.zeros((x.shape[0], b - a), np.float32)
        lo, hi = max(a, 0), min(b, x.shape[1])
        blk[:, lo - a:hi - a] = x[:, lo:hi]
        return blk

    run_segments(read, x.shape[1], x.shape[0], rate, forward=fake_forward, stage_rates=RATES,
                 output_rate=32000, hop=20, scale=kw.pop("scale", 1.0), emit=emit, stems=4, **kw)
    return out, blocks


@pytest.mark.parametrize("rate,even", [(44100, True), (48000, True), (44100, False),
                                       (48000, False)])
def test_overlap_add_equals_whole_song_path(rate, even):
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, int(rate * 9.3)))).astype(np.float32)
    out, blocks = _engine(x, rate, segment_s=2.0, overlap=0.25, scale=0.1, even=even)
    # contiguous, in order, covering the song exactly once
    assert blocks[0][0] == 0 and len(blocks) > 3
    assert all(a + n == b for (a, n), (b, _) in zip(blocks, blocks[1:]))
    assert blocks[-1][0] + blocks[-1][1] == x.shape[1]
    # The whole song resampled there and back. With even=False the last window runs on past
    # the song's end (reading zeros), so its reference is the song followed by silence (cut
    # at the song's end, the reference's own ringing there is about 50 dB below the signal).
    after = 0 if even else rate
    ref = resample(resample(np.pad(x, ((0, 0), (0, after))), rate, 32000), 32000,
                   rate)[:, :x.shape[1]]
    tail = x.shape[1] - rate // 10
    for s in range(4):
        want = (s + 1) / 10 * ref
        err = out[s] - want
        # only the resampler's ringing at window edges (where crossfade weights are ~0) differs
        sdr = 10 * np.log10(np.sum(want[:, :tail]**2) / np.sum(err[:, :tail]**2))
        end = 10 * np.log10(np.sum(want[:, tail:]**2) / np.sum(err[:, tail:]**2))
        print(f"stem {s}: SDR vs whole-song resampling {sdr:.1f} dB (last 0.1 s: {end:.1f} dB)")
        assert sdr > 70, sdr
        assert end > 70, end


def test_cancel_between_windows():
    x = np.ones((1, 44100 * 6), np.float32)
    calls = []
    with pytest.raises(SeparationCancelled):
        _engine(x, 44100, segment_s=1.0, overlap=0.1,
                cancel=lambda: len(calls) >= 2, progress=calls.append)
    assert len(calls) == 2
    assert 0 < calls[0].fraction < calls[1].fraction < 1 and calls[1].eta_s > 0


def test_forward_in_windows_cuts_blends_and_passes_short_inputs_whole() -> None:
    """Sub-windows: every call sees at most ``window`` samples per stage, starting on the hop
    grid, neighbours share at least ``overlap``; a per-sample network's output comes back
    exactly; an input no longer than the window is one plain call."""
    from core.apply import forward_in_windows

    hop, window, overlap = 20, 400, 100
    calls: list[list[tuple[int, ...]]] = []

    def forward(mixes: list[torch.Tensor]) -> torch.Tensor:
        calls.append([tuple(m.shape) for m in mixes])
        top = mixes[-1]  # (b, 1, T * 4): "stems" = the input and its square, at 4x the rate
        return torch.stack([top, top.square()], 1)

    torch.manual_seed(0)
    total = 1340
    mixes = [torch.randn(2, 1, total << s) for s in range(3)]
    out = forward_in_windows(forward, mixes, window, overlap, hop)
    assert len(calls) == 1 and out.shape == (2, 2, 1, total * 4)
    batch = calls[0]
    assert [shape[-1] for shape in batch] == [window << s for s in range(3)]
    count = batch[0][0] // 2
    assert count >= 4  # ceil((1340 - 400) / 300) + 1
    torch.testing.assert_close(out[:, 0], mixes[-1], rtol=0, atol=1e-6)
    torch.testing.assert_close(out[:, 1], mixes[-1].square(), rtol=0, atol=1e-6)
    # the sub-windows' starts: on the hop grid, from 0 to the end, overlapping enough
    seen = torch.zeros(total, dtype=torch.int64)

    def record(mixes: list[torch.Tensor]) -> torch.Tensor:
        base = mixes[0]
        for item in base:
            hits = [a for a in range(0, total - window + 1, hop)
                    if torch.equal(item[0], probe[0, 0, a:a + window])]
            assert len(hits) == 1
            seen[hits[0]:hits[0] + window] += 1
        return forward(mixes)

    probe = torch.randn(1, 1, total)
    forward_in_windows(record, [probe, probe.repeat_interleave(2, -1),
                                probe.repeat_interleave(4, -1)], window, overlap, hop)
    assert seen.min() >= 1
    assert int((seen >= 2).sum()) >= overlap * (count - 1)
    # short inputs: one call on the input itself
    calls.clear()
    short = [m[..., : window << s] for s, m in enumerate(mixes)]
    torch.testing.assert_close(forward_in_windows(forward, short, window, overlap, hop),
                               forward(short))
    assert [shape[-1] for shape in calls[0]] == [window << s for s in range(3)]


def test_engine_runs_the_network_in_its_window(tiny_native, tmp_path) -> None:
    """With a network window, every forward of a real model sees at most that input while the
    engine window (and the post-filter's) stays long; the output is finite and differs from one
    call per window."""
    from core.checkpoint import load_model, save_model
    from core.separator import Separator

    short = save_model(load_model(tiny_native), tmp_path / "w.safetensors", window_s=1.0)
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal((2, 16000 * 5))).astype(np.float32)
    sep = Separator(short, "cpu", segment_s=4.0, threads=1)
    lengths: list[int] = []
    sep.model.register_forward_pre_hook(lambda _m, args: lengths.append(args[0][0].shape[-1]))
    a = sep.separate(x, 16000)
    base = sep.family.sample_rates[0]
    assert lengths and max(lengths) <= base * 1.0
    b = Separator(tiny_native, "cpu", segment_s=4.0, threads=1).separate(x, 16000)
    assert a.shape == b.shape and np.isfinite(a).all()
    assert not np.allclose(a, b, atol=1e-4)
