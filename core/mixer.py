"""A real-time stem mixer in pure numpy: per-lane gain, mute, solo and pan rendered to stereo.

The mixer has one *lane* per source: lane 0 is the original mixture, lanes 1.. are the stems in
the model's order (:attr:`Mixer.stem_names`, e.g. :data:`core.config.STEMS`; the count comes
from the model, so a six-stem model gives seven lanes). :meth:`Mixer.render` writes a block of
stereo output into a caller-owned buffer; gain changes are smoothed with a per-block linear
ramp (from the gains the previous block ended on to the new targets), so moving a fader or
toggling mute never clicks.

Which lanes are heard (see :meth:`Mixer.effective_gains`):

* a muted lane is silent; if any lane is soloed, only soloed (and unmuted) lanes are heard;
* where stems exist (frames before :attr:`Mixer.available_frames`) the stems are heard and the
  mixture lane only when it is soloed (for A/B comparison with the original);
* where stems do not exist yet (no separation, or a separation still running) the mixture lane
  plays in their place, unless it is muted or another lane is soloed.

Pan law ("sine/cosine balance", 0 dB at centre): with ``theta = (pan + 1) * pi / 4`` the left and
right gains are ``min(1, sqrt(2) * cos(theta))`` and ``min(1, sqrt(2) * sin(theta))``. At centre
both sides are at unity (a centred stem sounds as separated), at ``pan = +-1`` the far side is
silent and the near side at unity, and in between the far side follows a constant-power taper
(-5.3 dB at ``pan = 0.5``). A mono lane feeds both outputs through these gains; a stereo lane
sends its left channel to the left output and its right channel to the right output; lanes with
more channels fold even channels to the left and odd channels to the right.

Thread model: one thread renders (the playback producer); other threads may change the lane
state (plain attribute writes) and deliver stems (:meth:`Mixer.deliver`) at any time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.config import STEMS

#: lane 0 is the mixture; lane ``i + 1`` is stem ``stem_names[i]``.
MIX_LANE = 0


@dataclass
class LaneState:
    """Controls of one lane, changed by the GUI, read by the renderer."""

    gain_db: float = 0.0  #: fader level; 0 dB = unity
    mute: bool = False
    solo: bool = False
    pan: float = 0.0  #: -1 = hard left, 0 = centre, +1 = hard right

    @property
    def gain(self) -> float:
        """Linear gain of the fader (``-inf`` dB or below -120 dB is silence)."""
        if self.gain_db <= -120.0:
            return 0.0
        return float(10.0 ** (self.gain_db / 20.0))


def pan_gains(pan: float) -> tuple[float, float]:
    """Left and right gains of the sine/cosine balance law (0 dB at centre).

    Args:
        pan: -1 (left) .. +1 (right); values outside are clamped.

    Returns:
        ``(left, right)`` linear gains, each in ``[0, 1]``.
    """
    p = min(1.0, max(-1.0, float(pan)))
    theta = (p + 1.0) * math.pi / 4.0
    root2 = math.sqrt(2.0)
    left, right = min(1.0, root2 * math.cos(theta)), min(1.0, root2 * math.sin(theta))
    return (left if left > 1e-9 else 0.0), (right if right > 1e-9 else 0.0)


class Mixer:
    """Mixes a mixture and its (possibly partial) stems to stereo.

    Args:
        mix: the original mixture, float32 ``(channels, frames)``.
        sample_rate: its sample rate in Hz.
        stems: ``(stems, channels, frames)`` float32 stems, or ``None`` when not separated yet
            (call :meth:`allocate_stems` / :meth:`deliver` for progressive separation, or
            :meth:`set_stems`).
        stem_names: the stems' names in the model's order (their count sets the lanes).
        max_block: the largest block :meth:`render` will be asked for (sizes scratch buffers;
            larger requests are rendered in pieces).
    """

    def __init__(self, mix: np.ndarray, sample_rate: int, stems: np.ndarray | None = None, *,
                 stem_names: Sequence[str] = STEMS, max_block: int = 8192) -> None:
        if mix.ndim != 2:
            raise ValueError("mix must be (channels, frames)")
        self.mix = mix
        self.sample_rate = int(sample_rate)
        self.channels = int(mix.shape[0])
        self.frames = int(mix.shape[1])
        self.stem_names: tuple[str, ...] = ()
        self.lanes: list[LaneState] = [LaneState()]
        self.stems: np.ndarray | None = None
        #: stems are valid for frames ``[0, available_frames)``.
        self.available_frames = 0
        self.max_block = int(max_block)
        self._ramps: dict[int, np.ndarray] = {}
        self._tmp = np.zeros(self.max_block, dtype=np.float32)
        self._gain_tmp = np.zeros(self.max_block, dtype=np.float32)
        # current (already reached) per-lane left/right gains, per region kind
        self._current = np.zeros((2, 1, 2), dtype=np.float64)  # [stems|fallback, lane, L/R]
        self._primed = False
        self.set_stem_names(stem_names)
        if stems is not None:
            self.set_stems(stems)

    # -- stems ---------------------------------------------------------------------------
    @property
    def lane_names(self) -> tuple[str, ...]:
        """``("mix", *stem_names)``: the name of every lane."""
        return ("mix", *self.stem_names)

    def set_stem_names(self, names: Sequence[str]) -> None:
        """Name the stems (the model's sources, in its order); their count sets the lanes.

        A lane keeps its controls when a stem of the same name existed before; the mixture's
        lane always keeps its own. Changing the names drops stems of the old names.
        """
        names = tuple(str(n) for n in names)
        if not names or len(set(names)) != len(names) or "mix" in names:
            raise ValueError(f"stem names must be distinct, non-empty and not 'mix': {names}")
        if names == self.stem_names:
            return
        old = dict(zip(self.stem_names, self.lanes[1:]))
        self.clear_stems()
        self.lanes = [self.lanes[MIX_LANE], *(old.get(n, LaneState()) for n in names)]
        self.stem_names = names
        self._primed = False  # the renderer re-sizes its current gains at its next block

    def stem(self, name: str) -> np.ndarray | None:
        """``(channels, frames)`` audio of stem ``name``, or ``None`` while not separated.

        Raises:
            KeyError: the model has no stem of that name.
        """
        if name not in self.stem_names:
            raise KeyError(f"no stem named {name!r} (stems: {', '.join(self.stem_names)})")
        stems = self.stems
        return None if stems is None else stems[self.stem_names.index(name)]

    def set_stems(self, stems: np.ndarray, stem_names: Sequence[str] | None = None) -> None:
        """Use complete stems ``(stems, channels, frames)`` (e.g. loaded from the cache).

        Args:
            stems: one row per name in :attr:`stem_names`.
            stem_names: the stems' names, when they differ from the current ones.
        """
        if stem_names is not None:
            self.set_stem_names(stem_names)
        n = len(self.stem_names)
        if stems.ndim != 3 or stems.shape[0] != n or stems.shape[2] != self.frames:
            raise ValueError(f"stems must be ({n}, channels, {self.frames}), got {stems.shape}")
        self.stems = stems
        self.available_frames = self.frames

    def allocate_stems(self, stem_names: Sequence[str] | None = None) -> np.ndarray:
        """Allocate silent stems for a progressive separation; returns the buffer.

        Args:
            stem_names: the separating model's stem names, when they differ from the current.
        """
        if stem_names is not None:
            self.set_stem_names(stem_names)
        self.available_frames = 0
        self.stems = np.zeros((len(self.stem_names), self.channels, self.frames),
                              dtype=np.float32)
        return self.stems

    def deliver(self, start_frame: int, block: np.ndarray) -> int:
        """Copy a separated block ``(stems, channels, n)`` into the stems at ``start_frame``.

        Blocks must arrive contiguous and in time order; frames up to the end of the block
        become audible. Returns the new :attr:`available_frames`.
        """
        if self.stems is None or not self.stems.flags.writeable:
            self.allocate_stems()
        assert self.stems is not None
        n = min(block.shape[-1], self.frames - start_frame)
        if n > 0:
            self.stems[:, :, start_frame:start_frame + n] = block[:, : self.stems.shape[1], :n]
            self.available_frames = max(self.available_frames, start_frame + n)
        return self.available_frames

    def clear_stems(self) -> None:
        """Forget the stems (the mixture plays alone)."""
        self.available_frames = 0
        self.stems = None

    # -- gains ---------------------------------------------------------------------------
    def effective_gains(self) -> np.ndarray:
        """Target gains, ``(2, lanes, 2)``: [region (0 = stems exist, 1 = not yet), lane, L/R]."""
        lanes = self.lanes  # read once: the stem names (and lanes) may change meanwhile
        any_solo = any(s.solo for s in lanes)
        out = np.zeros((2, len(lanes), 2), dtype=np.float64)
        for i, s in enumerate(lanes):
            audible = (not s.mute) and (s.solo or not any_solo)
            if not audible:
                continue
            left, right = pan_gains(s.pan)
            g = s.gain
            if i == MIX_LANE:
                out[1, i] = (g * left, g * right)
                if s.solo:
                    out[0, i] = (g * left, g * right)
            else:
                out[0, i] = (g * left, g * right)
        return out

    def snap_gains(self) -> None:
        """Jump to the target gains without a ramp (e.g. before an offline render)."""
        self._current = self.effective_gains()
        self._primed = True

    # -- rendering -----------------------------------------------------------------------
    def render(self, start_frame: int, out: np.ndarray) -> int:
        """Render frames ``[start_frame, start_frame + n)`` into ``out`` (2, n), overwriting it.

        Gains ramp linearly from the previous call's end to the current targets over each block
        (blocks longer than ``max_block`` ramp over their first ``max_block`` frames).

        Returns:
            the number of frames of the song written (``n`` or fewer at the end of the song;
            the rest of ``out`` is zeroed).
        """
        n = out.shape[1]
        written = 0
        pos = int(start_frame)
        while written < n:
            m = min(self.max_block, n - written)
            self._render_block(pos, out[:, written:written + m])
            written += m
            pos += m
        return max(0, min(n, self.frames - int(start_frame)))

    def _render_block(self, start: int, out: np.ndarray) -> None:
        out.fill(0.0)
        n = out.shape[1]
        target = self.effective_gains()
        if not self._primed or self._current.shape != target.shape:
            self._current = target.copy()
            self._primed = True
        begin = self._current.copy()
        self._current[:] = target
        stop = min(start + n, self.frames)
        if stop <= start:
            return
        stems = self.stems  # read once: another thread may swap or drop the stems
        avail = min(self.available_frames, stems.shape[2]) if stems is not None else 0
        split = min(max(avail, start), stop)  # [start, split) has stems, [split, stop) not
        ramp = self._ramp_for(n)
        for region, (a, b) in enumerate(((start, split), (split, stop))):
            if b <= a:
                continue
            o = a - start
            r = ramp[o:o + (b - a)]
            sources: list[tuple[int, np.ndarray]] = [(MIX_LANE, self.mix)]
            if region == 0 and stems is not None:
                count = min(stems.shape[0], target.shape[1] - 1)
                sources += [(i + 1, stems[i]) for i in range(count)]
            for lane, src in sources:
                g0 = begin[region, lane]
                g1 = target[region, lane]
                if not (g0.any() or g1.any()):
                    continue
                self._add(src[:, a:b], out[:, o:o + (b - a)], g0, g1, r)

    def _ramp_for(self, n: int) -> np.ndarray:
        """Linear ramp ``(1/n .. 1)`` of length ``n`` (built once per block size)."""
        ramp = self._ramps.get(n)
        if ramp is None:
            ramp = np.arange(1, n + 1, dtype=np.float32) / np.float32(n)
            if len(self._ramps) < 64:
                self._ramps[n] = ramp
        return ramp

    def _add(self, src: np.ndarray, out: np.ndarray, g0: np.ndarray, g1: np.ndarray,
             ramp: np.ndarray) -> None:
        """out[ch] += src routed by channel with gains ramping g0 -> g1 along ``ramp``."""
        n = src.shape[1]
        channels = src.shape[0]
        gain = self._gain_tmp[:n]
        tmp = self._tmp[:n]
        if channels == 1:
            routes = [(0, 0, 1.0), (0, 1, 1.0)]
        else:
            per_side = math.ceil(channels / 2)
            scale = 1.0 / per_side
            routes = [(c, c % 2, scale) for c in range(channels)]
        for c, side, scale in routes:
            a0, a1 = g0[side] * scale, g1[side] * scale
            if a0 == a1:
                if a1 == 0.0:
                    continue
                np.multiply(src[c], np.float32(a1), out=tmp)
            else:
                np.multiply(ramp, np.float32(a1 - a0), out=gain)
                gain += np.float32(a0)
                np.multiply(src[c], gain, out=tmp)
            out[side] += tmp

    def render_offline(self, start_frame: int = 0, stop_frame: int | None = None, *,
                       progress: Callable[[float], None] | None = None,
                       cancel: Callable[[], bool] | None = None) -> np.ndarray:
        """The mix as heard (current gains, no ramps) for ``[start_frame, stop_frame)``.

        Args:
            start_frame: first frame.
            stop_frame: end frame (exclusive); the song's end by default.
            progress: called with the fraction done after each chunk.
            cancel: polled between chunks; when it returns true rendering stops early and the
                partial result is returned.

        Returns:
            float32 ``(2, stop_frame - start_frame)``.
        """
        stop = self.frames if stop_frame is None else min(int(stop_frame), self.frames)
        start = max(0, int(start_frame))
        out = np.zeros((2, max(0, stop - start)), dtype=np.float32)
        saved = self._current.copy(), self._primed
        self.snap_gains()
        chunk = self.max_block
        try:
            for a in range(0, out.shape[1], chunk):
                if cancel is not None and cancel():
                    break
                self._render_block(start + a, out[:, a:a + chunk])
                if progress is not None:
                    progress(min(1.0, (a + chunk) / max(1, out.shape[1])))
        finally:
            self._current, self._primed = saved
        return out

    def snapshot(self) -> Mixer:
        """A mixer over the same audio with a copy of the current lane state.

        Use it to render on another thread (e.g. export) while this one keeps playing: the two
        share no scratch buffers.
        """
        other = Mixer(self.mix, self.sample_rate, stem_names=self.stem_names,
                      max_block=self.max_block)
        other.stems = self.stems
        other.available_frames = self.available_frames
        other.lanes = [LaneState(s.gain_db, s.mute, s.solo, s.pan) for s in self.lanes]
        return other

    # -- convenience -----------------------------------------------------------------------
    def set_lane(self, lane: int, *, gain_db: float | None = None, mute: bool | None = None,
                 solo: bool | None = None, pan: float | None = None) -> None:
        """Change some controls of one lane (0 = mixture, ``i + 1`` = stem ``stem_names[i]``)."""
        s = self.lanes[lane]
        if gain_db is not None:
            s.gain_db = float(gain_db)
        if mute is not None:
            s.mute = bool(mute)
        if solo is not None:
            s.solo = bool(solo)
        if pan is not None:
            s.pan = min(1.0, max(-1.0, float(pan)))

    def lane_states(self) -> Sequence[LaneState]:
        """The lane states (mixture first, then one per stem)."""
        return tuple(self.lanes)
