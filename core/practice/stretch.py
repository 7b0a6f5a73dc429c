"""Tempo and pitch change for live playback and export, built on the Rubber Band Library.

:class:`TempoPitch` is a streaming processor for the playback producer thread: it takes source
blocks ``(channels, n)`` and returns output blocks whose length follows the tempo (about
``n / tempo`` frames over time). Tempo and pitch may change at any time (from any thread); the
change is applied at the start of the next :meth:`TempoPitch.process` call and becomes audible
within the stretcher's latency (about 45 ms at 44.1 kHz), without clicks: Rubber Band's real-time
mode changes ratios smoothly, and switching between the pass-through fast path (tempo 1, pitch 0)
and the stretcher crossfades over a few milliseconds.

:func:`render_offline` renders a whole buffer with Rubber Band's offline (two-pass, studied) mode
for export; its output has exactly ``round(frames / tempo)`` frames, aligned with the input.

The stretcher is Rubber Band (R3 "finer" engine) through the ``pylibrb`` bindings; see
``docs/practice.md`` for why.

Terms: *source* frames are frames of the song; *output* frames are what is heard. ``tempo`` is
source seconds per output second (0.75 = slower, longer); ``semitones`` is the pitch shift.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from core.errors import Cancelled, StemweaveError

log = logging.getLogger(__name__)

#: tempo range the processor accepts (the GUI offers 0.5-1.5).
TEMPO_MIN, TEMPO_MAX = 0.25, 4.0
#: pitch range in semitones the processor accepts (the GUI offers -6..+6).
SEMITONES_MIN, SEMITONES_MAX = -12.0, 12.0
#: crossfade between the pass-through path and the stretcher (about 6 ms at 44.1 kHz).
DEFAULT_CROSSFADE = 256
_FEED = 1024  # the stretcher is fed in pieces of at most this many frames



def _pylibrb() -> ModuleType:
    """Import the Rubber Band bindings on first use.

    Imported lazily (and never kept in module globals) so that importing this module stays
    cheap and nanobind's shutdown leak check does not fire when long-lived objects (e.g. Qt
    widgets referencing this module's functions) outlive the interpreter's module teardown.

    Raises:
        PracticeError: the package is not installed.
    """
    try:
        import pylibrb
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise PracticeError("Tempo and pitch change need the 'pylibrb' package "
                            f"(pip install pylibrb): {exc}") from exc
    pylibrb.set_default_logging_level(0)  # Rubber Band would otherwise warn on stderr
    return pylibrb


class PracticeError(StemweaveError):
    """A practice-tool setting or input is invalid (tempo, pitch, BPM, preset data)."""


class PracticeCancelled(PracticeError, Cancelled):
    """An offline render at the practice tempo was cancelled by the caller."""


def check_tempo(tempo: float) -> float:
    """Validate a tempo ratio; returns it as float.

    Raises:
        PracticeError: outside ``[TEMPO_MIN, TEMPO_MAX]`` or not finite.
    """
    t = float(tempo)
    if not (math.isfinite(t) and TEMPO_MIN <= t <= TEMPO_MAX):
        raise PracticeError(f"Tempo must be between {TEMPO_MIN:g} and {TEMPO_MAX:g} "
                            f"(1 = original speed), got {tempo!r}.")
    return t


def check_semitones(semitones: float) -> float:
    """Validate a pitch shift in semitones; returns it as float.

    Raises:
        PracticeError: outside ``[SEMITONES_MIN, SEMITONES_MAX]`` or not finite.
    """
    s = float(semitones)
    if not (math.isfinite(s) and SEMITONES_MIN <= s <= SEMITONES_MAX):
        raise PracticeError(f"Pitch shift must be between {SEMITONES_MIN:g} and "
                            f"{SEMITONES_MAX:+g} semitones, got {semitones!r}.")
    return s


def _is_identity(tempo: float, semitones: float) -> bool:
    return abs(tempo - 1.0) < 1e-6 and abs(semitones) < 1e-6


def _realtime_options(quality: str) -> Any:
    if quality not in ("high", "fast"):
        raise PracticeError(f"Unknown stretch quality {quality!r}; use 'high' or 'fast'.")
    o = _pylibrb().Option
    opts = o.PROCESS_REALTIME | o.PitchHighConsistency | o.THREADING_NEVER | o.ENGINE_FINER
    opts |= o.CHANNELS_TOGETHER  # keeps the centre (vocals, bass) clear and mono-compatible
    if quality == "fast":
        opts |= o.WINDOW_SHORT
    return opts


class TempoPitch:
    """Streaming tempo and pitch processor for the playback producer thread.

    Args:
        sample_rate: sample rate in Hz (8000-192000).
        channels: number of channels of every block.
        tempo: initial tempo ratio (source seconds per output second).
        semitones: initial pitch shift.
        quality: ``"high"`` (R3 engine, standard windows) or ``"fast"`` (R3 short window:
            about half the CPU and less latency, slightly less clear).
        crossfade_frames: length of the crossfade when entering or leaving the pass-through path.
        source_frame: source position of the first block (see :attr:`output_source_position`).

    Thread model: :meth:`process`, :meth:`flush` and :meth:`reset` are called by one thread (the
    playback producer); :meth:`set_tempo` / :meth:`set_pitch` may be called from any thread.
    """

    def __init__(self, sample_rate: int, channels: int, *, tempo: float = 1.0,
                 semitones: float = 0.0, quality: str = "high",
                 crossfade_frames: int = DEFAULT_CROSSFADE, source_frame: float = 0.0) -> None:
        if not 8000 <= int(sample_rate) <= 192000:
            raise PracticeError(f"Sample rate {sample_rate} Hz is outside 8000-192000 Hz.")
        if int(channels) < 1:
            raise PracticeError("TempoPitch needs at least one channel.")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.quality = quality
        self._options = _realtime_options(quality)
        self._xfade = max(1, int(crossfade_frames))
        self._tempo = check_tempo(tempo)
        self._semitones = check_semitones(semitones)
        self._lock = threading.Lock()
        self._rb: Any = None  # pylibrb.RubberBandStretcher, made when first needed
        self._pad = 0
        self._retag_frames = 0
        self.reset(source_frame)

    # -- parameters (any thread) -------------------------------------------------------------
    @property
    def tempo(self) -> float:
        """Requested tempo ratio (source seconds per output second)."""
        return self._tempo

    @property
    def semitones(self) -> float:
        """Requested pitch shift in semitones."""
        return self._semitones

    def set_tempo(self, tempo: float) -> None:
        """Request a new tempo; it applies from the next :meth:`process` call.

        Raises:
            PracticeError: tempo outside ``[TEMPO_MIN, TEMPO_MAX]``.
        """
        t = check_tempo(tempo)
        with self._lock:
            self._tempo = t

    def set_pitch(self, semitones: float) -> None:
        """Request a new pitch shift; it applies from the next :meth:`process` call.

        Raises:
            PracticeError: shift outside ``[SEMITONES_MIN, SEMITONES_MAX]``.
        """
        s = check_semitones(semitones)
        with self._lock:
            self._semitones = s

    @property
    def bypassed(self) -> bool:
        """True while the pass-through fast path is in use (no stretcher work)."""
        return not self._active

    @property
    def latency_frames(self) -> int:
        """Source frames fed but not yet returned as output (0 on the pass-through path).

        The playback position heard lags the source read position by this much (plus the
        output queue and the device latency); see :attr:`output_source_position`.
        """
        return max(0, int(round(self._in_pos - self._out_pos)))

    @property
    def output_source_position(self) -> float:
        """Source frame that the next output frame of :meth:`process` corresponds to.

        Read it before a :meth:`process` call to know where that call's output starts in the song
        (for the position display and :class:`core.practice.Metronome`). Exact on the
        pass-through path; while stretching it follows the tempo to within a few milliseconds.
        """
        return self._to_source(self._out_pos)

    @property
    def input_source_position(self) -> float:
        """Source frame that the next input block is expected to start at."""
        return self._to_source(self._in_pos)

    # -- streaming (producer thread) ---------------------------------------------------------
    def reset(self, source_frame: float = 0.0) -> None:
        """Drop all buffered audio (on seek); the next block starts at ``source_frame`` (used
        only for position bookkeeping). For loop wraps pass ``source_frame`` to
        :meth:`process` instead: that keeps the audio seamless."""
        # Internally frames are counted in *stream* frames (contiguous input since the reset);
        # _jumps maps them to source frames: [(stream frame, source frame there), ...].
        self._jumps: list[tuple[float, float]] = [(0.0, float(source_frame))]
        self._in_pos = 0.0  # stream frame after the last one fed
        self._out_pos = 0.0  # stream frame of the next output frame
        self._recent = np.zeros((self.channels, 0), dtype=np.float32)  # recent input frames
        self._recent_start = 0.0  # stream frame of _recent[:, 0]
        self._active = False
        self._discard = 0  # output frames still to drop after priming
        self._fade_in: float | None = None  # stream frame of the direct signal to fade out of
        self._fade_in_pos = 0
        self._seg: list[list[float]] = []  # [stream frames, tempo] fed, not yet output
        self._applied = (1.0, 0.0)

    def process(self, block: np.ndarray, source_frame: float | None = None) -> np.ndarray:
        """Process one source block.

        Args:
            block: float32 ``(channels, n)``; any ``n`` (512-4096 is typical).
            source_frame: the block's source position. Needed only when it does not follow the
                previous block (loop wrap): the audio then continues seamlessly through the
                stretcher and :attr:`output_source_position` jumps when the output gets there.
                (Call :meth:`reset` instead on a seek, to drop what is buffered.)

        Returns:
            float32 ``(channels, m)`` output; ``m`` is about ``n / tempo`` on average but varies
            per call (it is 0 for the first calls after the stretcher engages while it fills up).
            On the pass-through path the block itself is returned (no copy).
        """
        block = self._check_block(block)
        if source_frame is not None:
            expected = self._to_source(self._in_pos)
            if abs(float(source_frame) - expected) > 0.5:
                self._jumps.append((self._in_pos, float(source_frame)))
        with self._lock:
            tempo, semitones = self._tempo, self._semitones
        identity = _is_identity(tempo, semitones)
        if not self._active and identity:
            self._remember(block)
            self._in_pos += block.shape[1]
            self._out_pos = self._in_pos
            self._prune_jumps()
            return block
        if not self._active:
            self._engage(tempo, semitones)
        self._apply(tempo, semitones)
        out = self._feed(block)
        if identity and out.shape[1] > 0:
            out = self._disengage(out)
        return out

    def flush(self) -> np.ndarray:
        """Return the output still held by the stretcher (at the end of the song).

        Afterwards the processor is reset to the position after the last source frame.
        """
        end = self.input_source_position
        if not self._active:
            self.reset(end)
            return np.zeros((self.channels, 0), dtype=np.float32)
        assert self._rb is not None
        want = int(round(self._pending_output()))
        outs = []
        zeros = np.zeros((self.channels, _FEED), dtype=np.float32)
        pieces = 2 + (2 * self._rb.get_samples_required() + 4 * self._pad) // _FEED
        for i in range(pieces):
            self._rb.process(zeros, final=i == pieces - 1)
            got = self._rb.retrieve_available()
            if got.shape[1]:
                outs.append(self._drop_discard(got))
        out = np.concatenate(outs, axis=1) if outs else np.zeros((self.channels, 0), np.float32)
        out = out[:, :want]
        if out.shape[1] < want:
            out = np.pad(out, ((0, 0), (0, want - out.shape[1])))
        out = self._finish_fade_in(out)
        self.reset(end)
        return np.ascontiguousarray(out, dtype=np.float32)

    # -- internals -----------------------------------------------------------------------------
    def _to_source(self, stream_frame: float) -> float:
        """Source frame of a stream frame (through the recorded jumps)."""
        base, src = self._jumps[0]
        for b, s in self._jumps[1:]:
            if b > stream_frame + 1e-6:
                break
            base, src = b, s
        return src + (stream_frame - base)

    def _check_block(self, block: np.ndarray) -> np.ndarray:
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise PracticeError(f"TempoPitch expects ({self.channels}, n) blocks, "
                                f"got {block.shape}.")
        return np.ascontiguousarray(block, dtype=np.float32)

    def _keep_frames(self) -> int:
        # enough history to prime the stretcher and to crossfade out of it
        return 4 * max(self._pad, 2048) + 8 * self._xfade + 4 * _FEED

    def _remember(self, block: np.ndarray) -> None:
        """Append a source block to the recent-source buffer (trimmed to what may be needed)."""
        if block.shape[1] == 0:
            return
        buf = np.concatenate((self._recent, block), axis=1)
        # keep everything not yet output (the stretcher's backlog) plus priming history
        keep_from = min(self._out_pos - self._keep_frames(),
                        self._in_pos + block.shape[1] - self._keep_frames())
        cut = int(max(0.0, math.floor(keep_from - self._recent_start)))
        if cut > 0:
            buf = buf[:, cut:]
            self._recent_start += cut
        self._recent = buf

    def _source(self, start: float, n: int) -> np.ndarray:
        """Source frames ``[start, start + n)`` from the recent buffer (zeros where unknown)."""
        a = int(round(start - self._recent_start))
        out = np.zeros((self.channels, max(0, n)), dtype=np.float32)
        lo, hi = max(a, 0), min(a + n, self._recent.shape[1])
        if hi > lo:
            out[:, lo - a:hi - a] = self._recent[:, lo:hi]
        return out

    def _new_stretcher(self) -> Any:
        rb = _pylibrb().RubberBandStretcher(self.sample_rate, self.channels, self._options)
        rb.set_max_process_size(_FEED)
        return rb

    def _engage(self, tempo: float, semitones: float) -> None:
        """Leave the pass-through path: prime the stretcher with the source before the output
        position so that its output continues exactly where the direct output stopped."""
        if self._rb is None:
            self._rb = self._new_stretcher()
        rb = self._rb
        rb.reset()
        rb.time_ratio = 1.0 / tempo
        rb.pitch_scale = 2.0 ** (semitones / 12.0)
        self._applied = (tempo, semitones)
        self._pad = rb.get_preferred_start_pad()
        # measured: labelling pad * 1.25 frames keeps the position within ~5 ms after a change
        self._retag_frames = self._pad + self._pad // 4
        start = self._out_pos
        prime = self._source(start - self._pad, self._pad)
        rb.process(prime)
        self._discard = rb.get_start_delay()
        self._active = True
        # what was fed but not output yet is re-fed through the stretcher
        backlog = self._source(start, int(round(self._in_pos - start)))
        self._seg = []
        self._fade_in = start  # the direct source from here is faded out (read when needed)
        self._fade_in_pos = 0
        self._in_pos = start
        if backlog.shape[1]:
            self._feed_stretcher(backlog, tempo)
            self._in_pos += backlog.shape[1]

    def _apply(self, tempo: float, semitones: float) -> None:
        if (tempo, semitones) == self._applied:
            return
        assert self._rb is not None
        if tempo != self._applied[0]:
            self._rb.time_ratio = 1.0 / tempo
            self._retag(tempo)
        if semitones != self._applied[1]:
            self._rb.pitch_scale = 2.0 ** (semitones / 12.0)
        self._applied = (tempo, semitones)

    def _retag(self, tempo: float) -> None:
        """The stretcher applies a new ratio from its analysis point on, which trails the input
        by about its start pad: re-label that much of the not-yet-output source."""
        left = float(self._retag_frames)
        i = len(self._seg)
        while i > 0 and left > 1e-9:
            i -= 1
            src, old = self._seg[i]
            if src <= left:
                self._seg[i][1] = tempo
                left -= src
            else:
                self._seg[i][0] = src - left
                self._seg.insert(i + 1, [left, tempo])
                left = 0.0

    def _feed_stretcher(self, block: np.ndarray, tempo: float) -> None:
        assert self._rb is not None
        for a in range(0, block.shape[1], _FEED):
            self._rb.process(np.ascontiguousarray(block[:, a:a + _FEED]))
        if self._seg and self._seg[-1][1] == tempo:
            self._seg[-1][0] += block.shape[1]
        else:
            self._seg.append([float(block.shape[1]), tempo])

    def _feed(self, block: np.ndarray) -> np.ndarray:
        """Feed a block through the stretcher and return the output available now."""
        assert self._rb is not None
        self._remember(block)
        outs = []
        for a in range(0, block.shape[1], _FEED):
            piece = block[:, a:a + _FEED]
            self._feed_stretcher(piece, self._applied[0])
            self._in_pos += piece.shape[1]
            got = self._rb.retrieve_available()
            if got.shape[1]:
                outs.append(self._drop_discard(got))
        if not outs:
            return np.zeros((self.channels, 0), dtype=np.float32)
        out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=1)
        out = self._finish_fade_in(out)
        self._advance(out.shape[1])
        return out

    def _drop_discard(self, got: np.ndarray) -> np.ndarray:
        if self._discard > 0:
            k = min(self._discard, got.shape[1])
            self._discard -= k
            got = got[:, k:]
        return got

    def _finish_fade_in(self, out: np.ndarray) -> np.ndarray:
        """Crossfade from the direct source into the first stretcher frames after engaging."""
        if self._fade_in is None or out.shape[1] == 0:
            return out
        i0 = self._fade_in_pos
        k = min(out.shape[1], self._xfade - i0)
        direct = self._source(self._fade_in + i0, k)
        w = (np.arange(i0, i0 + k, dtype=np.float32) + 1.0) / np.float32(self._xfade + 1)
        out = out.copy()
        out[:, :k] = direct * (1.0 - w) + out[:, :k] * w
        self._fade_in_pos += k
        if self._fade_in_pos >= self._xfade:
            self._fade_in = None
        return out

    def _advance(self, m: int) -> None:
        """Move the output's source position over ``m`` output frames, consuming the tempo
        segments in the order they were fed."""
        left = float(m)
        while left > 1e-9 and self._seg:
            src, tempo = self._seg[0]
            out_frames = src / tempo
            if out_frames <= left:
                self._out_pos += src
                left -= out_frames
                self._seg.pop(0)
            else:
                self._out_pos += left * tempo
                self._seg[0][0] -= left * tempo
                left = 0.0
        if left > 1e-9:  # the stretcher gave slightly more than the ratio predicts
            self._out_pos += left * self._applied[0]
        self._out_pos = min(self._out_pos, self._in_pos)
        self._prune_jumps()

    def _prune_jumps(self) -> None:
        while len(self._jumps) > 1 and self._jumps[1][0] <= self._out_pos + 1e-6:
            self._jumps.pop(0)

    def _pending_output(self) -> float:
        return sum(src / tempo for src, tempo in self._seg)

    def _disengage(self, out: np.ndarray) -> np.ndarray:
        """Back to the pass-through path: crossfade the stretcher's last frames into the direct
        source at the same position, then return the rest of the backlog directly."""
        m = out.shape[1]
        end_pos = float(round(self._out_pos))  # after _advance: source position after `out`
        k = min(m, self._xfade)
        direct = self._source(end_pos - k, k)  # tempo is 1 now: k frames end at end_pos
        w = (np.arange(k, dtype=np.float32) + 1.0) / np.float32(k + 1)
        out = out.copy()
        out[:, m - k:] = out[:, m - k:] * (1.0 - w) + direct * w
        rest = self._source(end_pos, max(0, int(round(self._in_pos - end_pos))))
        self._active = False
        self._seg = []
        self._fade_in = None
        self._out_pos = self._in_pos = float(round(self._in_pos))
        self._prune_jumps()
        return np.concatenate((out, rest), axis=1)


def render_offline(audio: np.ndarray, sample_rate: int, tempo: float, semitones: float, *,
                   progress: Callable[[float], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """Render a whole buffer at a tempo and pitch, for export ("the mix as heard").

    Uses Rubber Band's offline mode (a study pass, then the stretch), which is of higher
    quality than the streaming path and returns exactly ``round(frames / tempo)`` frames.

    Args:
        audio: float32 ``(channels, frames)``.
        sample_rate: its sample rate in Hz.
        tempo: source seconds per output second (0.75 = slower).
        semitones: pitch shift.
        progress: called with the fraction done (0-1) now and then.
        cancel: polled between chunks; when it returns true :class:`PracticeCancelled` is raised.

    Returns:
        float32 ``(channels, round(frames / tempo))``; a copy of ``audio`` at tempo 1, pitch 0.

    Raises:
        PracticeError: invalid tempo, pitch, sample rate or shape, or cancelled.
    """
    tempo = check_tempo(tempo)
    semitones = check_semitones(semitones)
    if audio.ndim != 2 or audio.shape[0] < 1:
        raise PracticeError(f"render_offline expects (channels, frames) audio, got {audio.shape}.")
    if not 8000 <= int(sample_rate) <= 192000:
        raise PracticeError(f"Sample rate {sample_rate} Hz is outside 8000-192000 Hz.")
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    frames = audio.shape[1]
    if _is_identity(tempo, semitones) or frames == 0:
        return audio.copy()
    want = int(round(frames / tempo))
    chunk = 16384
    lib = _pylibrb()
    o = lib.Option
    rb = lib.RubberBandStretcher(int(sample_rate), audio.shape[0],
                                 o.PROCESS_OFFLINE | o.ENGINE_FINER | o.CHANNELS_TOGETHER,
                                 1.0 / tempo, 2.0 ** (semitones / 12.0))
    rb.set_max_process_size(chunk)
    rb.set_expected_input_duration(frames)
    for a in range(0, frames, chunk):
        rb.study(np.ascontiguousarray(audio[:, a:a + chunk]), final=a + chunk >= frames)
    out = np.zeros((audio.shape[0], want), dtype=np.float32)
    got_n = 0

    def drain() -> None:
        nonlocal got_n
        got = rb.retrieve_available()
        k = min(got.shape[1], want - got_n)
        if k > 0:
            out[:, got_n:got_n + k] = got[:, :k]
            got_n += k

    for a in range(0, frames, chunk):
        if cancel is not None and cancel():
            raise PracticeCancelled("Rendering at the practice tempo was cancelled.")
        rb.process(np.ascontiguousarray(audio[:, a:a + chunk]), final=a + chunk >= frames)
        drain()
        if progress is not None:
            progress(min(1.0, (a + chunk) / frames))
    drain()
    if got_n < want:
        log.debug("offline stretch returned %d of %d frames; padded", got_n, want)
    return out
