"""Real-time playback of the mixer through sounddevice (PortAudio), without Qt.

Three parties, and what each may do:

* The **producer thread** (:meth:`Player._produce`) renders the mix with
  :meth:`core.mixer.Mixer.render` block by block, passes each block through the optional
  **processor** (tempo/pitch, added by the practice tools) and writes the result, with the source
  position of every output frame, into a preallocated single-producer/single-consumer ring
  (:class:`core.ring.FrameRing`). It also handles seeks, the A-B loop and the end of the song.
  All heavy DSP runs here.
* The **audio callback** (:meth:`Player._callback`) only copies frames from the ring into
  PortAudio's buffer (:meth:`core.ring.FrameRing.read_into`: slice copies, zero-fill on
  underrun) and publishes the position of the last frame it delivered. It allocates no arrays,
  takes no lock and never touches Qt.
* The **GUI** changes the mixer's lane state, calls :meth:`Player.play` / :meth:`pause` /
  :meth:`seek` / :meth:`set_loop`, and polls the plain attributes :attr:`position_frames`,
  :attr:`reached_end` and :attr:`error` from a 30-60 Hz timer.

The ring's read and write counters are plain integers, each written by one thread only; a seek
is a request the producer answers by moving the ring's *skip* mark the callback jumps to, so
stale audio is dropped without the callback and producer ever sharing a lock (see
:mod:`core.ring`, tested without PortAudio).

Processor hook, two declared protocols: a :class:`Processor` (``process(block) -> block``,
``reset()``, ``tempo``) has its output positions interpolated (``n / m``); a
:class:`PositionTrackingProcessor` (like :class:`core.practice.TempoPitch`) is driven with
``process(block, source_frame=pos)``, ``reset(source_frame)`` on seeks and ``flush()`` at the end
of the song, and its own ``output_source_position`` feeds the playhead. ``process`` receives
float32 ``(2, n)`` source frames and returns ``(2, m)`` output frames (it may keep state and
return fewer or more frames); ``tempo`` is source seconds per output second.
:class:`PassThrough` is the default.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.errors import StemweaveError
from core.mixer import Mixer
from core.ring import FrameRing

log = logging.getLogger(__name__)


class PlaybackError(StemweaveError):
    """No usable audio output (no device, PortAudio missing, or the device refused)."""


class Processor(Protocol):
    """A streaming block processor between the mixer and the audio device."""

    tempo: float

    def process(self, block: np.ndarray) -> np.ndarray:
        """Process float32 ``(channels, n)`` source frames; return ``(channels, m)`` frames."""

    def reset(self) -> None:
        """Forget internal state (called after a seek)."""


class PassThrough:
    """The default processor: output = input, tempo 1."""

    tempo = 1.0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Return ``block`` unchanged."""
        return block

    def reset(self) -> None:
        """Nothing to reset."""


@runtime_checkable
class PositionTrackingProcessor(Protocol):
    """A processor that knows the source position of its output (e.g.
    :class:`core.practice.TempoPitch`): the playhead follows it exactly, and its buffered tail
    is played at the end of the song."""

    tempo: float

    @property
    def output_source_position(self) -> float:
        """Source frame of the next output frame :meth:`process` or :meth:`flush` returns."""

    def process(self, block: np.ndarray, source_frame: float | None = None) -> np.ndarray:
        """Process ``(channels, n)`` source frames starting at ``source_frame``."""

    def reset(self, source_frame: float = 0.0) -> None:
        """Forget internal state; the next block starts at ``source_frame`` (a seek)."""

    def flush(self) -> np.ndarray:
        """The buffered tail ``(channels, m)`` at the end of the song."""


def _import_sounddevice() -> Any:
    """Import sounddevice (initialises PortAudio) or raise :class:`PlaybackError`."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:
        raise PlaybackError(
            f"Audio playback is not available: the PortAudio library could not be loaded "
            f"({exc}). Install PortAudio (libportaudio2) to hear songs.") from exc
    return sounddevice


class Player:
    """Plays a :class:`~core.mixer.Mixer` on an audio output device.

    Args:
        mixer: what to play; its lane state may change while playing.
        device: PortAudio output device (index or name substring); the default output device,
            else the first device with outputs, when ``None``.
        ring_frames: ring buffer capacity; bounds the delay of fader changes (~93 ms at 44.1 kHz
            for the default).
        block_frames: frames the producer renders per step.
        latency: PortAudio latency hint ("low", "high" or seconds).

    Attributes:
        position_frames: source frame of the last frame the callback handed to the device
            (float; a plain attribute the GUI polls).
        playing: whether :meth:`play` is in effect.
        reached_end: set by the callback when the song's last frame has been played.
        loop_wraps: how many times the producer jumped from the loop end to the loop start.
        callback_frames: frames requested by PortAudio so far (counts delivered audio).
        underruns: callbacks that found too little audio in the ring while playing.
        error: a message when the stream stopped on its own (device lost); else ``None``.
    """

    def __init__(self, mixer: Mixer, *, device: int | str | None = None,
                 ring_frames: int = 4096, block_frames: int = 1024,
                 latency: str | float = "low") -> None:
        self.mixer = mixer
        self.sample_rate = mixer.sample_rate
        self.device = device
        self.latency = latency
        self.block_frames = int(block_frames)
        self.ring = FrameRing(int(ring_frames), 2)
        self._scratch = np.zeros((2, self.block_frames), dtype=np.float32)
        self._fade = np.linspace(0.0, 1.0, 256, dtype=np.float32)
        # seek handshake: GUI bumps _seek_requested, producer answers with _seek_done
        self._seek_target = 0
        self._seek_requested = 0
        self._seek_done = 0
        self._render_pos = 0
        self.position_frames = 0.0
        self.playing = False
        self.reached_end = False
        self.loop_enabled = False
        self.loop_start = 0
        self.loop_end = 0
        self.loop_wraps = 0
        self.callback_frames = 0
        self.callback_count = 0
        self.underruns = 0
        self.status_flags = 0
        self.error: str | None = None
        self.processor: Processor | PositionTrackingProcessor = PassThrough()
        #: (processor, whether it tracks positions): one attribute, swapped whole, so the
        #: producer never sees a new processor with the old kind
        self._proc: tuple[Any, bool] = (self.processor, False)
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._alive = False
        #: the device's rate; differs from the song's when the device refused the song's rate
        self.device_rate = self.sample_rate
        self._resampler: Any = None
        self._flushed = False
        #: optional click generator (``render(first_source_frame, n_out, tempo) -> (n_out,)``,
        #: ``reset()``), e.g. :class:`core.practice.Metronome`; mixed in after the processor.
        self.metronome: Any = None
        #: master volume (linear) and clip protection (a core.limiter.Limiter or None), applied
        #: by the producer after the processor and the metronome; set from the GUI thread.
        self.master_gain = 1.0
        self.limiter: Any = None
        self._seek_preroll: np.ndarray | None = None

    # -- GUI side ------------------------------------------------------------------------------
    @property
    def position_s(self) -> float:
        """The playhead in seconds."""
        return self.position_frames / self.sample_rate

    @property
    def duration_s(self) -> float:
        """Length of the song in seconds."""
        return self.mixer.frames / self.sample_rate

    def set_processor(self, processor: Processor | PositionTrackingProcessor | None) -> None:
        """Insert a processor (``None`` = pass-through); audio after the playhead is re-rendered."""
        proc = processor if processor is not None else PassThrough()
        self.processor = proc
        self._proc = (proc, isinstance(proc, PositionTrackingProcessor))
        self.seek(self.position_frames)

    def play(self, count_in: np.ndarray | None = None) -> None:
        """Start or resume playback from :attr:`position_frames`.

        Args:
            count_in: ``(2, n)`` audio (e.g. :func:`core.practice.count_in`) played before the
                song; the playhead waits at the start meanwhile.

        Raises:
            PlaybackError: no usable output device.
        """
        if self.playing:
            return
        if self.reached_end:
            self.seek(self.loop_start if self.loop_enabled else 0)
        if count_in is not None and count_in.size:
            self._seek_preroll = np.ascontiguousarray(count_in[:2], dtype=np.float32)
            self.seek(self.position_frames)
        self.error = None
        stream = self._ensure_stream()
        self.playing = True
        self._ensure_producer()
        try:
            if not stream.active:
                stream.start()
        except Exception as exc:  # PortAudioError and friends
            self.playing = False
            raise PlaybackError(f"The audio device could not be started: {exc}") from exc

    def pause(self) -> None:
        """Pause; :meth:`play` resumes where it stopped."""
        self.playing = False
        stream = self._stream
        if stream is not None:
            try:
                stream.stop()
            except Exception as exc:  # device vanished: nothing left to stop
                log.warning("stopping the audio stream failed: %s", exc)

    def stop(self) -> None:
        """Pause and return to the start (of the loop when looping)."""
        self.pause()
        self.seek(self.loop_start if self.loop_enabled else 0)

    def toggle(self) -> None:
        """Play if paused, pause if playing."""
        if self.playing:
            self.pause()
        else:
            self.play()

    def seek(self, frame: float) -> None:
        """Move the playhead to source ``frame`` (clamped to the song)."""
        frame = int(min(max(0.0, float(frame)), max(0, self.mixer.frames - 1)))
        self._seek_target = frame
        self.position_frames = float(frame)
        self.reached_end = False
        self._seek_requested += 1

    def set_loop(self, start_frame: float, end_frame: float, enabled: bool | None = None) -> None:
        """Set the A-B loop region (and optionally switch looping on or off)."""
        a = int(max(0, min(start_frame, end_frame)))
        b = int(min(self.mixer.frames, max(start_frame, end_frame)))
        self.loop_start, self.loop_end = a, b
        if enabled is not None:
            self.loop_enabled = bool(enabled)
        # audio already rendered past the new loop end must not play: re-render from here
        self.seek(self.position_frames)

    def set_loop_enabled(self, enabled: bool) -> None:
        """Switch looping on or off."""
        self.loop_enabled = bool(enabled)
        self.seek(self.position_frames)

    def set_device(self, device: int | str | None) -> None:
        """Play on another output device (``None``: the default); playback goes on there.

        The current stream is closed; the next :meth:`play` (at once when playing) opens the new
        device, and what was queued for the old one is rendered again.

        Raises:
            PlaybackError: playing, and the new device could not be started.
        """
        was_playing = self.playing
        self.pause()
        self._close_stream()
        self.device = device
        self._resampler = None
        self.device_rate = self.sample_rate
        self.seek(self.position_frames)
        if was_playing:
            self.play()

    def close(self) -> None:
        """Stop the stream and the producer; the player can not be used afterwards."""
        self.playing = False
        self._alive = False
        self._close_stream()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2.0)

    # -- setup -------------------------------------------------------------------------------
    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception as exc:  # a device that vanished has nothing left to close
                log.warning("closing the audio stream failed: %s", exc)

    def _ensure_producer(self) -> None:
        if self._thread is None:
            self._alive = True
            self._thread = threading.Thread(target=self._produce, name="stemweave-playback",
                                            daemon=True)
            self._thread.start()

    def _pick_device(self, sd: Any) -> Any:
        if isinstance(self.device, str):  # an exact output name first, else PortAudio's match
            for index, dev in enumerate(sd.query_devices()):
                if dev.get("name") == self.device and dev.get("max_output_channels", 0) > 0:
                    return index
        if self.device is not None:
            return self.device
        try:
            default = sd.default.device[1]
            if default is not None and int(default) >= 0:
                return int(default)
        except (TypeError, ValueError, IndexError):
            pass
        for index, dev in enumerate(sd.query_devices()):
            if dev.get("max_output_channels", 0) > 0:
                return index
        raise PlaybackError("No audio output device was found; playback is not available.")

    def _ensure_stream(self) -> Any:
        if self._stream is not None:
            return self._stream
        sd = _import_sounddevice()
        try:
            device = self._pick_device(sd)
        except PlaybackError:
            raise
        except Exception as exc:  # sd.PortAudioError, ValueError for a bad device
            raise PlaybackError(f"The audio output could not be opened: {exc}") from exc
        try:
            self._stream = self._open(sd, device, self.sample_rate)
        except Exception as exc:  # the device may not run at the song's rate: resample
            try:
                rate = int(sd.query_devices(device, "output")["default_samplerate"])
            except Exception:  # noqa: BLE001 - report the first error below
                rate = self.sample_rate
            if rate == self.sample_rate:
                raise PlaybackError(
                    f"The audio output could not be opened at {self.sample_rate} Hz: {exc}"
                ) from exc
            try:
                self._stream = self._open(sd, device, rate)
            except Exception as exc2:
                raise PlaybackError(
                    f"The audio output could not be opened at {self.sample_rate} Hz "
                    f"or {rate} Hz: {exc2}") from exc2
            import soxr

            self.device_rate = rate
            self._resampler = soxr.ResampleStream(self.sample_rate, rate, 2, dtype="float32")
            self.seek(self.position_frames)  # re-render what is queued at the device's rate
            log.info("playing at %d Hz (resampled from %d Hz)", rate, self.sample_rate)
        return self._stream

    def _open(self, sd: Any, device: Any, rate: int) -> Any:
        return sd.OutputStream(samplerate=rate, channels=2, dtype="float32", device=device,
                               latency=self.latency, callback=self._callback,
                               finished_callback=self._finished)

    def _finished(self) -> None:
        if self.playing and self._alive:
            self.error = "The audio device stopped unexpectedly."
            self.playing = False

    # -- audio thread ------------------------------------------------------------------------
    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio callback: copy from the ring; allocate nothing, lock nothing."""
        if status:
            self.status_flags += 1
        ring = self.ring
        n = ring.read_into(outdata)
        if n < frames and ring.before_end:
            self.underruns += 1
        if n and self._seek_done == self._seek_requested:
            self.position_frames = ring.last_position
        if ring.at_end and self._seek_done == self._seek_requested:
            # (while a seek is pending the ring still ends where the old position did: Play at
            # the end of the song seeks to the start and must not be reported as ended again)
            self.reached_end = True
        self.callback_frames += frames
        self.callback_count += 1

    # -- producer thread -----------------------------------------------------------------------
    def _produce(self) -> None:
        """Run the producer loop; a failure stops playback with a message for the GUI."""
        try:
            self._produce_loop()
        except Exception as exc:  # a bug or a failing processor must not fail silently
            log.exception("the playback producer failed")
            self.error = f"Playback stopped: {type(exc).__name__}: {exc}"
            self.playing = False
            self.ring.mark_end()
            self._thread = None  # the next play() starts a new producer

    def _produce_loop(self) -> None:
        """Keep the ring full: render, process, write; answer seeks; loop; stop at the end."""
        fade_pos = -1
        pending: np.ndarray | None = None  # processed frames not yet written
        pending_pos = 0.0
        pending_step = 1.0
        ring = self.ring
        while self._alive:
            if self._seek_done != self._seek_requested:
                serial = self._seek_requested
                self._render_pos = self._seek_target
                proc, tracking = self._proc
                if tracking:
                    proc.reset(float(self._seek_target))
                else:
                    proc.reset()
                resampler = self._resampler  # (set_device may swap it from the GUI)
                if resampler is not None:
                    resampler.clear()
                if self.metronome is not None:
                    self.metronome.reset()
                preroll, self._seek_preroll = self._seek_preroll, None
                pending = None
                self._flushed = False
                ring.skip_queued()
                fade_pos = 0
                if preroll is not None:  # count-in: the playhead waits at the start
                    pending, pending_pos, pending_step = preroll, float(self._render_pos), 0.0
                    pending, pending_step = self._to_device_rate(pending, pending_step)
                    fade_pos = -1
                self._seek_done = serial
                continue
            if pending is None:
                if ring.ended:
                    time.sleep(0.01)
                    continue
                pending, pending_pos, pending_step = self._render_next()
                if pending is None:  # end of song: let the processor's buffered tail out
                    tail = self._flush_processor()
                    if tail is not None:
                        pending, pending_pos, pending_step = tail
                        self._flushed = True
                    else:
                        ring.mark_end()
                        continue
                if fade_pos >= 0:
                    k = min(pending.shape[1], self._fade.shape[0] - fade_pos)
                    if k > 0:
                        pending[:, :k] *= self._fade[fade_pos:fade_pos + k]
                        fade_pos += k
                    else:
                        fade_pos = -1
            free = ring.free()
            if free <= 0:
                time.sleep(0.004 if self.playing else 0.02)
                continue
            m = min(free, pending.shape[1])
            ring.write(pending[:, :m], pending_pos, pending_step)
            if m == pending.shape[1]:
                pending = None
                if self._flushed:
                    self._flushed = False
                    ring.mark_end()
            else:
                pending = pending[:, m:]
                pending_pos += m * pending_step

    def _render_next(self) -> tuple[np.ndarray | None, float, float]:
        """Render and process the next source block; returns (frames, first pos, step)."""
        mixer = self.mixer
        pos = self._render_pos
        n = self.block_frames
        if self.loop_enabled and self.loop_end > self.loop_start and pos < self.loop_end:
            n = min(n, self.loop_end - pos)
        elif pos >= mixer.frames:
            return None, 0.0, 1.0
        n = min(n, mixer.frames - pos)
        if n <= 0:
            return None, 0.0, 1.0
        block = self._scratch[:, :n]
        mixer.render(pos, block)
        proc, tracking = self._proc
        if tracking:  # e.g. core.practice.TempoPitch: exact positions
            first = float(proc.output_source_position)
            out = proc.process(block, source_frame=float(pos))
            step = float(proc.tempo)
        else:
            out = proc.process(block)  # may return ``block`` itself (pass-through)
            first = float(pos)
            step = n / out.shape[1] if out.shape[1] else 1.0
        met = self.metronome
        if met is not None and out.shape[1]:
            out = out + met.render(first, out.shape[1], step if step > 0 else 1.0)[None, :]
        gain = self.master_gain
        if gain != 1.0:
            out = out * np.float32(gain)  # out of place: ``out`` may be the mixer's scratch
        lim = self.limiter
        if lim is not None and out.shape[1]:
            out = lim.process(out)
        out, step = self._to_device_rate(out, step)
        self._render_pos = pos + n
        if (self.loop_enabled and self.loop_end > self.loop_start
                and self._render_pos >= self.loop_end):
            self._render_pos = self.loop_start
            self.loop_wraps += 1
        return out, first, step

    def _to_device_rate(self, out: np.ndarray, step: float) -> tuple[np.ndarray, float]:
        """Resample processed frames when the device runs at another rate."""
        resampler = self._resampler
        if resampler is None:
            return out, step
        m = out.shape[1]
        res = np.ascontiguousarray(resampler.resample_chunk(np.ascontiguousarray(out.T)).T)
        if res.shape[1]:
            step = step * m / res.shape[1] if m else step
        return res, step

    def _flush_processor(self) -> tuple[np.ndarray, float, float] | None:
        """The processor's buffered tail at the end of the song (``None`` if it has none)."""
        proc, tracking = self._proc
        if not tracking:
            return None
        first = float(proc.output_source_position)
        out = proc.flush()
        if out is None or out.shape[1] == 0:
            return None
        out, step = self._to_device_rate(out, float(proc.tempo))
        return (out, first, step) if out.shape[1] else None


def output_devices() -> list[str]:
    """Names of the audio output devices PortAudio sees (empty when unavailable)."""
    try:
        sd = _import_sounddevice()
        return [d["name"] for d in sd.query_devices() if d.get("max_output_channels", 0) > 0]
    except Exception:  # no PortAudio, no devices
        return []


def frames_to_time(frames: float, sample_rate: int) -> str:
    """``m:ss.t`` for a frame position (used in the transport's time label)."""
    seconds = max(0.0, frames / sample_rate)
    minutes = math.floor(seconds / 60)
    return f"{minutes}:{seconds - 60 * minutes:04.1f}"
