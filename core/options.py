"""The separation engine's options, each defined once.

The command line (``stemweave separate``), the GUI (Settings) and the Python API
(:class:`core.separator.Separator`, :func:`core.apply.plan_windows`) read their choices, defaults
and bounds from here, and check values with the functions below, so a bound cannot drift between
them. Light on purpose (no torch): the command line builds its parser from it without loading
the engine.
"""

from __future__ import annotations

#: compute devices: ``auto`` = CUDA, then MPS, then the CPU (``cuda:N`` is accepted as well).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
#: network precisions: ``auto`` = the fastest within tolerance, measured (core.precision).
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")

#: default window length (seconds) and overlap fraction; chosen by measurement (docs/engine.md).
DEFAULT_SEGMENT_S = 12.0
DEFAULT_OVERLAP = 0.1
#: the shortest window (seconds): shorter ones starve the model's group norms of context.
SEGMENT_MIN_S = 1.0
#: the overlap fraction a window shares with each neighbour, inclusive bounds.
OVERLAP_MIN = 0.0
OVERLAP_MAX = 0.5


def check_segment(segment_s: float) -> float:
    """``segment_s`` as a float.

    Raises:
        ValueError: shorter than :data:`SEGMENT_MIN_S`.
    """
    value = float(segment_s)
    if not value >= SEGMENT_MIN_S:
        raise ValueError(f"segment must be at least {SEGMENT_MIN_S:g} second")
    return value


def check_overlap(overlap: float) -> float:
    """``overlap`` as a float.

    Raises:
        ValueError: outside ``[OVERLAP_MIN, OVERLAP_MAX]``.
    """
    value = float(overlap)
    if not OVERLAP_MIN <= value <= OVERLAP_MAX:
        raise ValueError(f"overlap must be between {OVERLAP_MIN:g} and {OVERLAP_MAX:g}")
    return value


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`.

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    return precision


__all__ = [
    "DEFAULT_OVERLAP", "DEFAULT_SEGMENT_S", "DEVICES", "OVERLAP_MAX", "OVERLAP_MIN",
    "PRECISIONS", "SEGMENT_MIN_S", "check_overlap", "check_precision", "check_segment",
]
