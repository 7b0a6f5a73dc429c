"""Applying a Meta-TasNet to long signals: segment planning, crossfaded overlap-add, and the
authors' own chunked inference.

Two ways of cutting a song are implemented here:

* :func:`run_segments` — Stemweave's streaming engine. The song is cut into fixed-length windows
  of real audio (no zero padding except at the very end of the song) that overlap their
  neighbours; each window is resampled to the stage rates, separated in one forward (all channels
  batched together) and resampled back; the outputs are blended with linear crossfades over the
  overlaps (weights normalised by their sum) and delivered in time order as soon as a stretch of
  output can no longer change. Memory depends on the window length only, never on the song
  length. Window starts lie on a grid where every stage rate and the input rate have integer
  sample positions and the first stage's position is a multiple of the model stride ``W``, so
  every window is sample-exact at every rate. See ``docs/engine.md`` for how the lengths were
  chosen.
* :func:`authors_chunked_inference` — a faithful re-implementation of the original
  ``MultiTasNet.inference(input_audio, n_chunks)`` (chunk boundaries, 8 s of context, the grid fix
  that can move a chunk's start and the truncation it causes), checked against the authors'
  golden fixtures. Used to reproduce the paper's evaluation, not by the engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from math import gcd

import numpy as np
import torch

from core.errors import SeparationCancelled
from core.options import DEFAULT_OVERLAP, DEFAULT_SEGMENT_S, check_overlap
from core.resample import resample

log = logging.getLogger(__name__)

#: shortest window the model gets (the 32 kHz STFT needs > 1024 samples of reflect padding).
MIN_WINDOW_S = 0.25
#: extra input read on each side of a window before resampling, so the resampler's filter sees
#: real neighbouring samples and the cut-out window is identical to resampling the whole song.
RESAMPLE_MARGIN_S = 0.05


# --------------------------------------------------------------------------------------------
# Segment planning
# --------------------------------------------------------------------------------------------
def grid_frames(sample_rate: int, base_rate: int, hop: int) -> int:
    """Smallest step (input frames) that is an integer at every stage rate and ``hop``-aligned.

    Stage rates are ``base_rate * 2**s``; a step of ``g`` input frames lasts ``g / sample_rate``
    seconds and must hold a multiple of ``hop`` samples at ``base_rate``.

    Example: 44.1 kHz -> 441 frames (10 ms); 48 kHz -> 120 frames (2.5 ms).
    """
    g = gcd(int(sample_rate), int(base_rate))
    unit_in, unit_base = sample_rate // g, base_rate // g  # one "tick" in each domain
    k = hop // gcd(hop, unit_base)
    return unit_in * k


@dataclass(frozen=True)
class Window:
    """One model window ``[start, stop)`` in input frames (``stop`` may pass the song's end).

    ``keep`` is the first frame whose output is used (``None``: ``start``); the frames before
    it are context only. Only a window centred on a short tail (:func:`plan_windows` with
    ``even=False``) has one.
    """

    start: int
    stop: int
    keep: int | None = None

    @property
    def frames(self) -> int:
        """Length in input frames."""
        return self.stop - self.start

    @property
    def kept(self) -> int:
        """First input frame whose output is used."""
        return self.start if self.keep is None else self.keep


def plan_windows(frames: int, sample_rate: int, base_rate: int, hop: int,
                 segment_s: float = DEFAULT_SEGMENT_S,
                 overlap: float = DEFAULT_OVERLAP, *, even: bool = True,
                 max_segment_s: float | None = None) -> list[Window]:
    """Cut ``frames`` input frames into fixed-length, overlapping windows on the sample grid.

    Every window has the same length (the song padded to the grid is used whole when it is
    shorter than one window). With ``even=True`` the last window is moved back so that it ends
    where the song (rounded up to the grid) ends, so only the grid remainder is zero padding.
    With ``even=False`` the windows are placed the way the demucs library's ``apply_model``
    places them for a network trained on one fixed length: one every step from the song's
    start until the song ends; a window that would pass the song's end delivers only the song's
    part of it, ``[kept, end)``, and is moved back by half of its missing part so that this part
    sits in its middle (real audio before it, zeros after the song), as the library's
    ``TensorChunk.padded`` centres a short chunk.

    Args:
        frames: song length in input frames (>= 1).
        sample_rate: input rate.
        base_rate: model's first stage rate.
        hop: model stride ``W`` at the base rate.
        segment_s: window length in seconds.
        overlap: fraction of a window shared with each neighbour (bounds:
            :func:`core.options.check_overlap`).
        even: shorten the windows so that the song is shared evenly (a model trained on one
            fixed length, like HTDemucs, wants full-length windows placed like its library
            places them instead: ``False``).
        max_segment_s: the longest window the model accepts (windows are rounded down to it).

    Returns:
        windows in time order.
    """
    if frames < 1:
        raise ValueError("cannot plan windows for an empty signal")
    check_overlap(overlap)
    g = grid_frames(sample_rate, base_rate, hop)
    min_frames = -(-int(np.ceil(MIN_WINDOW_S * sample_rate)) // g) * g
    seg = max(int(round(segment_s * sample_rate / g)) * g, min_frames)
    if max_segment_s is not None:
        seg = min(seg, max(int(max_segment_s * sample_rate // g) * g, g))
    padded = max(-(-frames // g) * g, min_frames)
    if padded <= seg:
        return [Window(0, padded)]
    step = max(int(round(seg * (1.0 - overlap) / g)) * g, g)
    # Shrink the windows so that the song is shared evenly: same overlap, same number of
    # windows, but the last one no longer recomputes most of its neighbour (a 30-s song: 3 x
    # 10.8 s instead of 3 x 12 s). Never below two thirds of the requested length, where the
    # group norms' statistics are still measured to be reliable (docs/engine.md).
    shared = seg - step
    if even:
        count = -(-(padded - shared) // step)
        fit = -(-(padded + (count - 1) * shared) // (count * g)) * g
        seg = max(fit, -(-2 * seg // (3 * g)) * g, shared + g)
        step = seg - shared
    if not even:
        out = []
        for s in range(0, padded, step):
            missing = s + seg - padded
            if missing <= 0:
                out.append(Window(s, s + seg))
            else:  # centred on its song part [s, padded), the library's padded() rule
                a = s - (missing // 2) // g * g
                out.append(Window(a, a + seg, s))
        return out
    starts = []
    s = 0
    while s + seg < padded:
        starts.append(s)
        s += step
    starts.append(padded - seg)
    return [Window(a, a + seg) for a in starts]


def window_weights(windows: list[Window], index: int, fade: int) -> np.ndarray:
    """Crossfade weight of window ``index`` over its used output ``[kept, stop)``: 1 inside,
    linear ramps of ``fade`` frames where a neighbour overlaps (none at the song's start and
    end). The ramps sit at the ends of a full window starting at ``kept``, so a window centred
    on a short tail fades in where it begins to count and the window before it fades out over
    the same frames. Values are in ``(0, 1]``."""
    w = windows[index]
    n_out = w.stop - w.kept
    out = np.ones(n_out, dtype=np.float32)
    if fade <= 0:
        return out
    ramp = (np.arange(fade, dtype=np.float32) + 0.5) / fade
    if index > 0:
        n = min(fade, n_out)
        out[:n] = np.minimum(out[:n], ramp[:n])
    if index < len(windows) - 1:
        a = w.frames - fade  # the ramp down of a full window from kept, cut at this one's end
        lo, hi = max(a, 0), min(w.frames, n_out)
        if hi > lo:
            out[lo:hi] = np.minimum(out[lo:hi], ramp[::-1][lo - a:hi - a])
    return out


# --------------------------------------------------------------------------------------------
# Streaming engine
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    """A progress report: fraction done in ``[0, 1]``, seconds so far, estimated seconds left."""

    fraction: float
    elapsed_s: float
    eta_s: float | None


#: forward(mixes) -> (batch, stems, audio_channels, T_out): the model call on the window at
#: every stage rate, each ``(batch, audio_channels, T_r)`` (mono items for Meta-TasNet, stereo
#: pairs for HTDemucs: :class:`core.families.base.SeparationModel`).
Forward = Callable[[list[torch.Tensor]], torch.Tensor]


def forward_in_windows(forward: Forward, mixes: list[torch.Tensor], window: int, overlap: int,
                       hop: int) -> torch.Tensor:
    """Run ``forward`` on sub-windows of at most ``window`` samples and blend them.

    For a network that separates better on short inputs than on the engine's window (trained on
    short crops, its global layer norms see statistics like those of training): the window is
    cut into sub-windows spread evenly with at least ``overlap`` samples shared by neighbours,
    all separated in one call (as a batch), and blended with triangular weights normalised by
    their sum (as demucs' ``apply``). An input of at most ``window`` samples is one plain call.

    Args:
        forward: the model call (see :data:`Forward`).
        mixes: per stage ``s``, ``(batch, channels, T * 2**s)`` (``T`` at the lowest rate, a
            multiple of ``hop``).
        window: sub-window length at the lowest rate (a multiple of ``hop``).
        overlap: least overlap at the lowest rate (``0 <= overlap < window``).
        hop: the model's stride at the lowest rate; sub-windows start on multiples of it.

    Returns:
        ``(batch, stems, channels, T * r)`` as ``forward`` returns for the whole input.
    """
    if not 0 <= overlap < window:
        raise ValueError(f"overlap {overlap} must be in [0, window {window})")
    total = mixes[0].shape[-1]
    if total <= window:
        return forward(mixes)
    count = -(-(total - window) // (window - overlap)) + 1
    starts = sorted({int(round(a / hop)) * hop for a in np.linspace(0, total - window, count)})
    batch = mixes[0].shape[0]
    cut = [torch.cat([m[..., a << s:(a + window) << s] for a in starts])
           for s, m in enumerate(mixes)]
    out = forward(cut)  # (len(starts) * batch, stems, channels, window * r)
    r = out.shape[-1] // window
    k = torch.arange(window * r, dtype=out.dtype, device=out.device)
    weight = torch.minimum(k + 1, window * r - k)
    acc = out.new_zeros((batch, *out.shape[1:-1], total * r))
    norm = out.new_zeros(total * r)
    for i, a in enumerate(starts):
        acc[..., a * r:(a + window) * r] += out[i * batch:(i + 1) * batch] * weight
        norm[a * r:(a + window) * r] += weight
    return acc / norm


def run_segments(
    read: Callable[[int, int], np.ndarray],
    frames: int,
    channels: int,
    sample_rate: int,
    *,
    forward: Forward,
    stage_rates: tuple[int, ...],
    output_rate: int,
    hop: int,
    scale: float,
    emit: Callable[[int, np.ndarray], None],
    segment_s: float = DEFAULT_SEGMENT_S,
    overlap: float = DEFAULT_OVERLAP,
    resampler: str = "soxr",
    device: torch.device | None = None,
    batch_channels: int = 2,
    stems: int,
    audio_channels: int = 1,
    even: bool = True,
    max_segment_s: float | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    refine: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> None:
    """Separate a song window by window and deliver the result in time order.

    Args:
        read: ``read(start, stop)`` -> float32 ``(channels, stop - start)`` input frames; frames
            outside the song must read as zeros.
        frames: song length (input frames).
        channels: input channels; each is separated as its own mono signal.
        sample_rate: input rate.
        forward: the model call (see :data:`Forward`).
        stage_rates: the model's stage rates, lowest first.
        output_rate: rate of ``forward``'s output.
        hop: model stride at the lowest stage rate.
        scale: the input is divided by it before the model and the output multiplied back
            (the mixture's standard deviation).
        emit: ``emit(start, block)`` receives ``(stems, channels, n)`` float32 blocks that are
            contiguous, in time order, and cover ``[0, frames)`` exactly once.
        segment_s: window length in seconds.
        overlap: overlap fraction between neighbouring windows.
        resampler: ``"soxr"`` or ``"resampy"``.
        device: where the model lives.
        batch_channels: input channels per forward call (2 = left and right together).
        stems: number of stems the model returns.
        audio_channels: channels of one call item: 1 = every channel is its own mono item;
            2 = channels go in pairs (a mono song is duplicated and its two outputs averaged;
            an odd last channel likewise).
        even: see :func:`plan_windows`.
        max_segment_s: see :func:`plan_windows`.
        progress: called after every window.
        cancel: polled before every window; ``True`` raises :class:`SeparationCancelled`.
        refine: ``refine(mix, est)`` -> est, applied to every window before the overlap-add:
            ``mix`` ``(channels, n)`` and ``est`` ``(stems, channels, n)`` at the input rate,
            both divided by ``scale`` (e.g. :func:`core.wiener.wiener_refine`).

    Raises:
        SeparationCancelled: ``cancel()`` returned True.
    """
    base = stage_rates[0]
    windows = plan_windows(frames, sample_rate, base, hop, segment_s, overlap, even=even,
                           max_segment_s=max_segment_s)
    g = grid_frames(sample_rate, base, hop)
    margin = -(-int(np.ceil(RESAMPLE_MARGIN_S * sample_rate)) // g) * g
    fade = windows[0].stop - windows[1].kept if len(windows) > 1 else 0
    t0 = time.perf_counter()
    buf = np.zeros((stems, channels, 0), dtype=np.float32)
    wsum = np.zeros(0, dtype=np.float32)
    buf_start = 0  # input frame of buf[..., 0]; everything before it has been emitted
    inv = 1.0 / scale
    for k, win in enumerate(windows):
        if cancel is not None and cancel():
            raise SeparationCancelled("Separation cancelled")
        x = read(win.start - margin, win.stop + margin)
        if scale != 1.0:
            x = x * np.float32(inv)
        mixes = []
        for r in stage_rates:
            y = resample(x, sample_rate, r, resampler)
            a = margin * r // sample_rate
            n = win.frames * r // sample_rate
            mixes.append(y[:, a:a + n])
        if audio_channels == 1:
            outs = []
            for c0 in range(0, channels, batch_channels):
                batch = [torch.from_numpy(np.ascontiguousarray(m[c0:c0 + batch_channels, None]))
                         .to(device) for m in mixes]
                with torch.inference_mode():
                    est = forward(batch)  # (b, stems, 1, T_out)
                outs.append(est[:, :, 0].float().cpu().numpy())
            est = np.concatenate(outs, axis=0).transpose(1, 0, 2)  # (stems, channels, T_out)
        else:
            est = _forward_grouped(forward, mixes, channels, audio_channels, device)
        est = resample(est, output_rate, sample_rate, resampler)[..., :win.frames]
        if refine is not None:
            est = refine(x[:, margin:margin + win.frames], est)
        if scale != 1.0:
            est *= np.float32(scale)
        w = window_weights(windows, k, fade)
        if win.kept > win.start:  # a window centred on the song's tail: the rest is context
            est = est[..., win.kept - win.start:]
        # grow the accumulator to cover this window's used output, then add
        need = win.stop - buf_start
        if buf.shape[-1] < need:
            grow = need - buf.shape[-1]
            buf = np.concatenate([buf, np.zeros((stems, channels, grow), np.float32)], axis=-1)
            wsum = np.concatenate([wsum, np.zeros(grow, np.float32)])
        o = win.kept - buf_start
        buf[..., o:o + w.size] += est * w
        wsum[o:o + w.size] += w
        # everything before the next window's used output is final
        final_to = windows[k + 1].kept if k + 1 < len(windows) else frames
        final_to = min(final_to, frames)
        n_final = final_to - buf_start
        if n_final > 0:
            block = buf[..., :n_final] / wsum[:n_final]
            emit(buf_start, block.astype(np.float32, copy=False))
            buf = buf[..., n_final:].copy()
            wsum = wsum[n_final:].copy()
            buf_start = final_to
        if progress is not None:
            done = (k + 1) / len(windows)
            el = time.perf_counter() - t0
            progress(Progress(done, el, el * (1 - done) / done if done > 0 else None))


def _forward_grouped(forward: Forward, mixes: list[np.ndarray], channels: int, group: int,
                     device: torch.device | None) -> np.ndarray:
    """Run ``forward`` on the channels taken ``group`` at a time (one item per call).

    A group short of channels (a mono song into a stereo model) is filled by repeating its
    channels and its outputs are averaged back onto them.

    Returns:
        ``(stems, channels, T_out)`` float32.
    """
    rows = []
    for c0 in range(0, channels, group):
        have = min(group, channels - c0)
        take = [c0 + i % have for i in range(group)]
        batch = [torch.from_numpy(np.ascontiguousarray(m[take][None])).to(device)
                 for m in mixes]
        with torch.inference_mode():
            est = forward(batch)[0].float().cpu().numpy()  # (stems, group, T_out)
        for i in range(have):
            rows.append(est[:, i::have].mean(axis=1))
    return np.stack(rows, axis=1).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------
# The authors' chunked inference (MultiTasNet.inference)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuthorsChunk:
    """One chunk of the original inference: model input ``[start, stop)`` and the kept output
    ``[keep_start, keep_stop)`` (before clipping to the output length), at the base rate."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def authors_chunk_plan(frames: int, n_chunks: int, hop: int = 20,
                       context: int = 64000) -> list[AuthorsChunk]:
    """The integer logic of the original ``inference``: boundaries ``int(T/n*c + 0.5)``,
    ``context`` samples each side, then the grid fix (end moved back when the chunk starts at 0,
    otherwise start moved forward) so that every chunk is a multiple of ``hop`` long."""
    bounds = [int(frames / n_chunks * c + 0.5) for c in range(n_chunks)] + [frames]
    plan = []
    for c in range(n_chunks):
        s = max(0, bounds[c] - context)
        e = min(bounds[c + 1] + context, frames)
        rem = (e - s) % hop
        if s == 0:
            e -= rem
        else:
            s += rem
        plan.append(AuthorsChunk(s, e, bounds[c], bounds[c + 1]))
    return plan


def authors_chunked_inference(model: torch.nn.Module, mixes: list[torch.Tensor],
                              n_chunks: int = 4,
                              context: int | None = None) -> list[torch.Tensor]:
    """Re-implementation of the authors' ``MultiTasNet.inference(input_audio, n_chunks)``.

    Args:
        model: a :class:`~core.model.MetaTasNet` in eval mode.
        mixes: per-stage mono mixtures ``[(batch, 1, T), (batch, 1, 2T), (batch, 1, 4T)]``
            (``T`` need not be a multiple of ``W``).
        n_chunks: number of chunks (the original's default 4; its evaluation used 8).
        context: context samples at the base rate on each side (default 8 s, as hard-coded).

    Returns:
        every stage's stitched output ``[(batch, 4, 1, T_s)]``; like the original, it can be
        shorter than the input (see the fixture README).
    """
    cfg = model.config
    if context is None:
        context = 8 * cfg.sampling_rate
    frames = mixes[0].shape[-1]
    pieces: list[list[torch.Tensor]] = [[] for _ in model.stages]
    done: dict[tuple[int, int], list[torch.Tensor]] = {}  # chunks often repeat an interval
    with torch.no_grad():
        for ch in authors_chunk_plan(frames, n_chunks, cfg.W, context):
            if (ch.start, ch.stop) not in done:
                previous = None
                outs = []
                for i, stage in enumerate(model.stages):
                    m = 2**i
                    x = mixes[i][..., m * ch.start:m * ch.stop]
                    y, previous = stage(x, previous, decode=True)
                    outs.append(y)
                done[(ch.start, ch.stop)] = outs
            for i, y in enumerate(done[(ch.start, ch.stop)]):
                m = 2**i
                lo = m * (ch.keep_start - ch.start)
                hi = y.shape[-1] - m * (ch.stop - ch.keep_stop)
                pieces[i].append(y[..., lo:hi])
    return [torch.cat(p, dim=-1) for p in pieces]
