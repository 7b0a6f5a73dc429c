"""The model-family protocol: what the engine needs to know about a separation network.

The engine (:func:`core.apply.run_segments`, :class:`core.separator.Separator`) cuts a song into
overlapping windows, resamples each to the model's rate(s), calls the network once per window,
resamples back and crossfades. Everything that differs between families of networks is behind
:class:`SeparationModel`:

* its rates (``sample_rates``: the input rates of one call, lowest first — Meta-TasNet takes the
  same window at 8, 16 and 32 kHz, HTDemucs one 44.1 kHz signal) and ``output_rate``;
* the sample grid of a window (``hop`` samples at the lowest rate);
* how many audio channels one call item holds (``audio_channels``: 1 = every channel separated
  on its own, 2 = a stereo pair);
* its stem names, in output order;
* its preferred window length and overlap, the longest window it accepts, and whether the
  engine may shorten windows to share a song evenly;
* how to run one window (``forward``) in a given precision, and the module state to run it in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch

from core.precision import PrecisionChoice


@runtime_checkable
class SeparationModel(Protocol):
    """One loaded network of some family, ready for the engine.

    Attributes:
        family: the family's name (``"metatasnet"``, ``"htdemucs"``).
        module: the torch module (moved with :meth:`to`).
        stems: stem names in output order.
        sample_rates: input rates of one call, lowest first.
        output_rate: the rate of the call's output.
        hop: window lengths are multiples of this many samples at ``sample_rates[0]``.
        audio_channels: channels per call item (1: mono items; 2: stereo pairs).
        segment_s: preferred window length (seconds).
        max_segment_s: the longest window the network accepts (``None``: no limit).
        overlap: preferred fraction of a window shared with each neighbour.
        even_windows: whether the engine may shorten windows so that a song is shared evenly
            (a network trained on one fixed length wants full-length windows, placed the way
            its library places them: :func:`core.apply.plan_windows` with ``even=False``).
        precisions: the precisions ``forward`` supports besides ``"fp32"``.
        wiener: whether separations run the Wiener post-filter (:mod:`core.wiener`) unless told
            otherwise (measured for Meta-TasNet; HTDemucs has its own output stage).
    """

    family: str
    module: torch.nn.Module
    stems: tuple[str, ...]
    sample_rates: tuple[int, ...]
    output_rate: int
    hop: int
    audio_channels: int
    segment_s: float
    max_segment_s: float | None
    overlap: float
    even_windows: bool
    precisions: tuple[str, ...]
    wiener: bool

    def to(self, device: torch.device) -> SeparationModel:
        """Move the network to ``device``; returns ``self``."""
        ...

    def inference_state(self) -> contextlib.AbstractContextManager[None]:
        """Context in which ``forward`` runs (eval mode, numeric settings), restored after."""
        ...

    def choose_precision(self, device: torch.device) -> PrecisionChoice:
        """What ``precision="auto"`` means for this network on ``device`` (may measure)."""
        ...

    def forward(self, mixes: list[torch.Tensor], precision: str) -> torch.Tensor:
        """Run one window.

        Args:
            mixes: the window at every rate of :attr:`sample_rates`, each
                ``(batch, audio_channels, T_r)``.
            precision: ``"fp32"`` or one of :attr:`precisions`.

        Returns:
            ``(batch, len(stems), audio_channels, T_out)`` at :attr:`output_rate`.
        """
        ...


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """``module.eval()`` for the block, its train/eval mode restored afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


__all__ = ["SeparationModel", "eval_mode"]
