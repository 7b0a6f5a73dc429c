"""Bounding the CPU heap during separation (glibc).

A 12-s window of the full-size model allocates and frees hundreds of tensors of 4-35 MB per
forward. glibc serves allocations below its mmap threshold from its heaps, and that threshold
grows with every large block freed (up to 32 MB), so the TCN activations of a 12-s window (8-25
MB) end up in the heap. Whether their freed chunks can be reused depends on the order in which
the two OpenMP threads allocate, so the peak RSS of one forward varied between 1.1 and 2.9 GB
from run to run with identical inputs (docs/engine.md). A fixed threshold of
:data:`MMAP_THRESHOLD` puts every tensor from 4 MB up in its own mapping, returned to the system
when freed: the peak was 1.1 GB in each of 6 runs (1.2-2.9 GB in 8 runs without it), for more
page faults: every fresh mapping is zeroed by the kernel.

Those faults are not cheap. Measured on 2026-11-27 (2-core EPYC, 2 threads, a training job
beside it), a 30-s stereo song with the bound against without it: full model fp32 36.6 vs 27.1 s
(6.5 M vs 1.9 M faults), full model bf16 21.0 vs 14.5 s, the built-in model fp32 (60-s song)
8.0-9.6 vs 4.5-5.1 s. Without the bound the peak stayed at 0.9-1.1 GB for the full model in
bf16 (3 and 60 min) and at 0.5 GB for the built-in model (60 min): only the full-size model in
fp32 has the 2.9-GB mode. So the bound is applied only where it is needed
(:func:`needs_bound`): fp32 on the CPU with at least :data:`BOUND_MIN_PARAMETERS` parameters.

Elsewhere (macOS, Windows, musl) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

__all__ = ["BOUND_MIN_PARAMETERS", "MMAP_THRESHOLD", "bound_heap", "needs_bound"]

#: allocations from this size up get their own mapping (bytes).
MMAP_THRESHOLD = 4 << 20
#: models at least this large (parameters) run in fp32 with the bound: the full-size Meta-TasNet
#: (45.5 M) and HTDemucs (42 M per model) do, the built-in model (2.0 M) does not.
BOUND_MIN_PARAMETERS = 10_000_000
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


def needs_bound(parameters: int, precision: str) -> bool:
    """Whether a separation on the CPU should fix the mmap threshold (:func:`bound_heap`).

    Args:
        parameters: the model's parameter count.
        precision: the precision the separation runs in (``"fp32"``, ``"bf16"``, ...).
    """
    return precision == "fp32" and parameters >= BOUND_MIN_PARAMETERS


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

