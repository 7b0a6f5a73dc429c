"""core.ring.FrameRing without PortAudio: wrap-around, skip (seek), underrun, end, positions."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.ring import NEVER, FrameRing


def _block(first: int, n: int) -> np.ndarray:
    """``(2, n)`` frames whose left channel counts ``first, first + 1, ...`` (right = -left)."""
    left = np.arange(first, first + n, dtype=np.float32)
    return np.stack([left, -left])


def _read(ring: FrameRing, n: int) -> tuple[np.ndarray, int]:
    out = np.full((n, 2), 99.0, np.float32)
    got = ring.read_into(out)
    return out, got


def test_wraps_around_and_keeps_order_and_positions() -> None:
    ring = FrameRing(8)
    ring.write(_block(0, 6), 100.0, 1.0)
    out, n = _read(ring, 5)
    assert n == 5 and list(out[:, 0]) == [0, 1, 2, 3, 4]
    assert ring.last_position == 104.0
    assert ring.free() == 8 - 1
    ring.write(_block(6, 7), 106.0, 0.5)  # crosses the end of the storage
    assert ring.available() == 8 and ring.free() == 0
    out, n = _read(ring, 8)
    assert n == 8 and list(out[:, 0]) == list(range(5, 13))
    np.testing.assert_array_equal(out[:, 1], -out[:, 0])
    assert ring.last_position == 106.0 + 6 * 0.5  # the 7th frame of the second write
    with pytest.raises(ValueError, match="do not fit"):
        ring.write(_block(0, 9), 0.0, 1.0)


def test_underrun_zero_fills_and_is_not_the_end() -> None:
    ring = FrameRing(16)
    ring.write(_block(1, 3), 0.0, 1.0)
    out, n = _read(ring, 5)
    assert n == 3 and list(out[:, 0]) == [1, 2, 3, 0, 0]  # zero-filled, not stale
    assert ring.before_end and not ring.at_end and not ring.ended
    out, n = _read(ring, 4)  # nothing at all
    assert n == 0 and not out.any()
    assert ring.last_position == 2.0  # unchanged by an empty read


def test_end_mark() -> None:
    ring = FrameRing(16)
    ring.write(_block(0, 4), 0.0, 1.0)
    ring.mark_end()
    assert ring.ended and ring.end_mark == 4
    _, n = _read(ring, 3)
    assert n == 3 and not ring.at_end and ring.before_end
    _, n = _read(ring, 3)  # the last frame, then silence: the end, not an underrun
    assert n == 1 and ring.at_end and not ring.before_end


def test_skip_drops_what_is_queued_like_a_seek() -> None:
    ring = FrameRing(8)
    ring.write(_block(0, 6), 0.0, 1.0)
    ring.mark_end()
    _read(ring, 2)
    ring.skip_queued()  # a seek: frames 2..5 must never be heard
    assert ring.available() == 0 and ring.free() == 8
    assert not ring.ended and ring.end_mark == NEVER  # the end mark belonged to the old place
    ring.write(_block(50, 8), 5000.0, 1.0)  # the whole ring is usable again
    out, n = _read(ring, 8)
    assert n == 8 and list(out[:, 0]) == list(range(50, 58))
    assert ring.last_position == 5007.0


def test_one_producer_one_consumer_threads_lose_and_repeat_nothing() -> None:
    """A producer thread and a consumer thread, no lock: every frame arrives once, in order."""
    ring = FrameRing(64)
    total = 4_000
    got: list[np.ndarray] = []

    def produce() -> None:
        k = 0
        while k < total:
            m = min(ring.free(), 37, total - k)
            if m > 0:
                ring.write(_block(k, m), float(k), 1.0)
                k += m
        ring.mark_end()

    thread = threading.Thread(target=produce)
    thread.start()
    out = np.zeros((29, 2), np.float32)
    while not ring.at_end:
        n = ring.read_into(out)
        if n:
            got.append(out[:n, 0].copy())
            assert ring.last_position == out[n - 1, 0]
    thread.join()
    np.testing.assert_array_equal(np.concatenate(got), np.arange(total, dtype=np.float32))


def test_bad_sizes() -> None:
    with pytest.raises(ValueError):
        FrameRing(0)
