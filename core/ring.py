"""A lock-free single-producer/single-consumer ring of audio frames tagged with source positions.

The playback producer (:class:`app.playback.Player`'s thread) writes processed frames with the
source position of each one; the audio callback reads them. Neither takes a lock:

* the **write counter** and the **skip mark** are written by the producer only, the **read
  counter** by the consumer only; all three only grow (plain Python ints, so a reader sees either
  the old or the new value, never a torn one);
* a seek is answered by :meth:`FrameRing.skip_queued`: the skip mark jumps to the write counter,
  and the consumer's next read starts there, so audio queued before the seek is dropped without
  the two threads ever agreeing on anything else;
* the end of the song is a mark (:meth:`FrameRing.mark_end`): frames before it are the song's,
  and a read that comes short of it is an underrun, one at or past it is the end.

:meth:`FrameRing.read_into` is what the audio callback runs: slice copies into the caller's
buffer, no array allocation. Frames are stored ``(capacity, channels)`` (PortAudio's
interleaved layout); :meth:`FrameRing.write` takes the engine's ``(channels, n)``.
"""

from __future__ import annotations

import numpy as np

#: the end mark while the end of the song has not been reached.
NEVER = 1 << 62


class FrameRing:
    """Frames with their source positions, between one producer and one consumer thread.

    Args:
        capacity: frames the ring holds (bounds the delay between rendering and hearing).
        channels: channels per frame.

    Attributes:
        last_position: source position of the last frame :meth:`read_into` delivered (float;
            meaningful once something was read).
        end_mark: the write count at which the song ends (:data:`NEVER` until
            :meth:`mark_end`).
    """

    def __init__(self, capacity: int, channels: int = 2) -> None:
        if capacity < 1 or channels < 1:
            raise ValueError("capacity and channels must be >= 1")
        self.capacity = int(capacity)
        self.channels = int(channels)
        self._frames = np.zeros((self.capacity, self.channels), dtype=np.float32)
        self._positions = np.zeros(self.capacity, dtype=np.float64)
        self._steps = np.arange(self.capacity, dtype=np.float64)
        self._write = 0  # producer only
        self._skip = 0  # producer only
        self._read = 0  # consumer only
        self.end_mark = NEVER
        self.last_position = 0.0

    # -- producer side ---------------------------------------------------------------------
    @property
    def written(self) -> int:
        """Frames written so far (the write counter)."""
        return self._write

    def free(self) -> int:
        """Frames that can be written now without overwriting unread ones."""
        r = self._read
        if self._skip > r:
            r = self._skip
        return self.capacity - (self._write - r)

    def write(self, block: np.ndarray, first_position: float, step: float) -> None:
        """Append ``block`` ``(channels, m)``; frame ``k`` gets source position
        ``first_position + k * step``.

        Raises:
            ValueError: more frames than :meth:`free` allows.
        """
        m = block.shape[1]
        if m > self.free():
            raise ValueError(f"{m} frames do not fit ({self.free()} free)")
        cap = self.capacity
        w = self._write
        i = w % cap
        k = min(m, cap - i)
        self._frames[i:i + k] = block[:, :k].T
        self._positions[i:i + k] = first_position + self._steps[:k] * step
        if k < m:
            self._frames[:m - k] = block[:, k:].T
            self._positions[:m - k] = first_position + self._steps[k:m] * step
        self._write = w + m

    def skip_queued(self) -> None:
        """Drop every frame written so far but not yet read (a seek); clears the end mark."""
        self.end_mark = NEVER
        self._skip = self._write

    def mark_end(self) -> None:
        """The song ends after the frames written so far."""
        self.end_mark = self._write

    @property
    def ended(self) -> bool:
        """Whether :meth:`mark_end` was called since the last :meth:`skip_queued`."""
        return self.end_mark != NEVER

    # -- consumer side ---------------------------------------------------------------------
    def available(self) -> int:
        """Frames ready to be read."""
        r = self._read
        if self._skip > r:
            r = self._skip
        return self._write - r

    def read_into(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` frames into ``out`` ``(frames, channels)``; zero the rest.

        Allocates no arrays and takes no lock (the audio callback calls it). Sets
        :attr:`last_position` when a frame was read.

        Returns:
            the number of frames copied (fewer than asked: an underrun, or the end).
        """
        frames = out.shape[0]
        r = self._read
        skip = self._skip
        if skip > r:
            r = skip
        avail = self._write - r
        n = frames if avail >= frames else (avail if avail > 0 else 0)
        cap = self.capacity
        i = r % cap
        first = cap - i
        if n <= first:
            out[:n] = self._frames[i:i + n]
        else:
            out[:first] = self._frames[i:]
            out[first:n] = self._frames[:n - first]
        if n < frames:
            out[n:] = 0.0
        if n:
            self.last_position = float(self._positions[(r + n - 1) % cap])
        self._read = r + n
        return n

    @property
    def at_end(self) -> bool:
        """Whether every frame of the song (up to the end mark) has been read."""
        return self._read >= self.end_mark

    @property
    def before_end(self) -> bool:
        """Whether the reader is still before the end mark (a short read is an underrun)."""
        r = self._read
        if self._skip > r:
            r = self._skip
        return r < self.end_mark


__all__ = ["NEVER", "FrameRing"]
