"""Stemweave's exception hierarchy.

Every error a user can hit is raised as a subclass of :class:`StemweaveError` with a message
written for a person (it is shown as-is in a dialog or on stderr), so callers can catch one type.
"""

from __future__ import annotations


class StemweaveError(Exception):
    """Base class of every error Stemweave raises on purpose."""


class AudioLoadError(StemweaveError):
    """An input file could not be read or decoded as audio."""


class AudioWriteError(StemweaveError):
    """An output file could not be written."""


class DiskFullError(AudioWriteError):
    """Writing stopped because the disk (or the folder's file system) is full."""


class ModelLoadError(StemweaveError):
    """A weights file is missing, malformed, unsafe or does not fit the model."""


class ModelNotFoundError(ModelLoadError):
    """A model name or path does not refer to any known weights."""


class DownloadError(StemweaveError):
    """A model download failed (offline, interrupted beyond repair, or wrong content)."""


class SeparationError(StemweaveError):
    """Separation could not run on the given input."""


class Cancelled(StemweaveError):
    """The caller asked the work to stop (its cancel flag or callback said so).

    The one base of every cancellation (separation, download, export, analysis, rendering): a
    caller that needs to tell "stopped on request" from "failed" catches this type, never a
    class name.
    """


class SeparationCancelled(Cancelled):
    """A separation was cancelled by the caller; nothing was written."""


class DeviceError(StemweaveError):
    """The requested compute device (CUDA, MPS) is not available."""


class DataError(StemweaveError):
    """Training or evaluation data is missing or malformed."""


class AnalysisError(StemweaveError):
    """A song could not be analysed (tempo, beats, key, chords), or librosa is missing."""
