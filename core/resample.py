"""Sample-rate conversion: the one function every part of Stemweave resamples through.

Two back ends: python-soxr (``"soxr"``, the VHQ preset; fast) and resampy (``"resampy"``,
``kaiser_best``; the filter the authors' evaluation used). Arrays are resampled along the last
axis and keep their dtype (float32 in, float32 out).
"""

from __future__ import annotations

import logging
from math import gcd

import numpy as np

from core.errors import StemweaveError

log = logging.getLogger(__name__)

METHODS = ("soxr", "resampy")
DEFAULT_METHOD = "soxr"


def resampled_length(frames: int, sr_in: int, sr_out: int) -> int:
    """Number of output frames for ``frames`` input frames (ceil of the exact ratio)."""
    g = gcd(sr_in, sr_out)
    return -(-frames * (sr_out // g) // (sr_in // g))


def resample(x: np.ndarray, sr_in: int, sr_out: int, method: str = DEFAULT_METHOD) -> np.ndarray:
    """Resample along the last axis.

    Args:
        x: ``(..., frames)`` float array.
        sr_in: input rate in Hz.
        sr_out: output rate in Hz.
        method: ``"soxr"`` or ``"resampy"``.

    Returns:
        ``(..., resampled_length(frames))`` array of the same dtype.
    """
    if method not in METHODS:
        raise ValueError(f"unknown resampler {method!r}; choose one of {', '.join(METHODS)}")
    x = np.asarray(x)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
    if sr_in == sr_out:
        return x.astype(dtype, copy=False)
    n_out = resampled_length(x.shape[-1], sr_in, sr_out)
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1]).astype(dtype, copy=False)
    if method == "soxr":
        import soxr

        # soxr takes (frames, channels).
        y = soxr.resample(np.ascontiguousarray(flat.T), sr_in, sr_out, quality="VHQ").T
    else:
        try:
            import resampy
        except ImportError as exc:  # e.g. the desktop bundle, which ships soxr only
            raise StemweaveError(
                "the resampy resampler is not installed here; use the default (soxr)"
            ) from exc

        y = resampy.resample(flat, sr_in, sr_out, filter="kaiser_best", axis=-1)
    y = np.asarray(y, dtype=dtype)
    if y.shape[-1] < n_out:
        y = np.pad(y, ((0, 0), (0, n_out - y.shape[-1])))
    return np.ascontiguousarray(y[:, :n_out]).reshape(*lead, n_out)
