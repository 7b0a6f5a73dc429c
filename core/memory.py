"""Bounding the CPU heap during separation (glibc).

A 12-s window of the full-size model allocates and frees hundreds of tensors of 4-35 MB per
forward. glibc serves allocations below its mmap threshold from its heaps, and that threshold
grows with every large block freed (up to 32 MB), so the TCN activations of a 12-s window (8-25
MB) end up in the heap. Whether their freed chunks can be reused depends on the order in which
the two OpenMP threads allocate, so the peak RSS of one forward varied between 1.1 and 2.9 GB
from run to run with identical inputs (docs/engine.md). A fixed threshold of
:data:`MMAP_THRESHOLD` puts every tensor from 4 MB up in its own mapping, returned to the system
when freed: the peak was 1.1 GB in each of 6 runs (1.2-2.9 GB in 8 runs without it), for more
page faults (~1.3 M instead of ~0.3 M per 12-s mono window, ~0.8 s more system time).

Elsewhere (macOS, Windows, musl) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

__all__ = ["MMAP_THRESHOLD", "bound_heap"]

#: allocations from this size up get their own mapping (bytes).
MMAP_THRESHOLD = 4 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_done = False


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def bound_heap(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes (process-wide, once).

    Returns:
        whether the setting was applied (False on other C libraries).
    """
    global _done
    if _done:
        return True
    libc = _libc()
    if libc is None:
        return False
    try:
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    except (AttributeError, OSError):  # pragma: no cover - not glibc
        return False
    _done = ok
    log.debug("glibc mmap threshold %d bytes: %s", threshold, "set" if ok else "refused")
    return ok

