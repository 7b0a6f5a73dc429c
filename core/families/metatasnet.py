"""Meta-TasNet, the native family (and the only trainable one): :class:`core.model.MetaTasNet`
seen through :class:`~core.families.base.SeparationModel`.

Each channel is separated on its own (``audio_channels = 1``); one call takes the window at the
three stage rates (8, 16, 32 kHz by default) and returns the last stage's estimates. While
separating, the spectrogram power is computed in float64 (111 dB vs 54 dB SDR against a float64
model; docs/engine.md) except on MPS, which has no float64.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from core.apply import forward_in_windows
from core.model import MetaTasNet
from core.options import DEFAULT_OVERLAP, DEFAULT_SEGMENT_S
from core.precision import PrecisionChoice, forward_fn
from core.precision import choose_precision as probe_precision

FAMILY = "metatasnet"
#: least overlap between a network window's sub-windows (seconds, at most half a sub-window;
#: see ``window_s``). With the built-in model's 4.2-s window a 12-s engine window takes three
#: sub-windows (1.05x the network time); 1 s of overlap with 4-s windows took four (1.33x) and
#: scored 0.06 dB lower on the validation songs (docs/engine.md).
SUB_OVERLAP_S = 0.3


class MetaTasNetFamily:
    """A loaded :class:`MetaTasNet` for the engine.

    Args:
        model: the network (its train/eval mode and float64 setting are restored after every
            separation, so a model being trained can be validated through the engine).
        window_s: the longest input the network is run on at once: longer engine windows are
            cut into overlapping sub-windows of this length, blended before the post-filter
            (:func:`core.apply.forward_in_windows`); ``None``: one call per engine window. Read
            from the weights file's metadata (:func:`core.checkpoint.save_model`).
    """

    family = FAMILY
    audio_channels = 1
    segment_s = DEFAULT_SEGMENT_S
    max_segment_s: float | None = None
    overlap = DEFAULT_OVERLAP
    even_windows = True
    precisions = ("bf16", "fp16")
    #: the Wiener post-filter by default: +2.3 / +0.4 / +0.1 / +0.4 dB SDR for the built-in
    #: model on held-out SoundFont songs (docs/engine.md § Wiener post-filter)
    wiener = True

    def __init__(self, model: MetaTasNet, window_s: float | None = None) -> None:
        self.module: MetaTasNet = model
        #: the longest input the network is run on at once (``None``: the whole engine window)
        self.window_s: float | None = None if window_s is None else float(window_s)
        cfg = model.config
        self.stems: tuple[str, ...] = tuple(cfg.stems)
        self.sample_rates: tuple[int, ...] = tuple(cfg.sample_rates)
        self.output_rate: int = cfg.output_rate
        self.hop: int = cfg.W
        self._device = torch.device("cpu")

    def to(self, device: torch.device) -> MetaTasNetFamily:
        """Move to ``device`` and bake the generated weights."""
        self.module = self.module.to(device).bake()
        self._device = torch.device(device)
        return self

    @contextlib.contextmanager
    def inference_state(self) -> Iterator[None]:
        """Eval mode and float64 spectrogram power (not on MPS), both restored afterwards."""
        model = self.module
        was_training = model.training
        spectrograms = [st.encoder.spectrogram for st in model.stages]
        was_f64 = [sp.float64_magnitude for sp in spectrograms]
        model.eval()
        model.set_float64_magnitude(self._device.type != "mps")
        try:
            yield
        finally:
            model.train(was_training)
            for sp, flag in zip(spectrograms, was_f64):
                sp.float64_magnitude = flag

    def choose_precision(self, device: torch.device) -> PrecisionChoice:
        """Measured once per model and machine, cached (:func:`core.precision.choose_precision`)."""
        with self.inference_state():
            return probe_precision(self.module, device)

    def forward(self, mixes: list[torch.Tensor], precision: str) -> torch.Tensor:
        """``mixes``: ``(batch, 1, T * 2**s)`` per stage -> ``(batch, stems, 1, T_out)``."""
        forward = forward_fn(self.module, self._device, precision)
        if self.window_s is None:
            return forward(mixes)
        window = int(self.window_s * self.sample_rates[0]) // self.hop * self.hop
        overlap = int(min(SUB_OVERLAP_S, self.window_s / 2) * self.sample_rates[0])
        overlap = overlap // self.hop * self.hop
        return forward_in_windows(forward, mixes, window, overlap, self.hop)


__all__ = ["FAMILY", "MetaTasNetFamily"]
