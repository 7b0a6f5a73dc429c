"""Tiny randomly initialised HTDemucs networks built from the demucs library's own classes.

Small enough to run a window in a fraction of a second on one CPU thread: 4 hidden channels,
one transformer layer, a 1024-point STFT; the default depth (4) keeps the transformer's
sequences short. No weights are downloaded: every test builds its network here.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import torch

SIX = ("drums", "bass", "other", "vocals", "guitar", "piano")
FOUR = SIX[:4]


def tiny_htdemucs(sources: tuple[str, ...] = SIX, samplerate: int = 8000, seed: int = 0,
                  segment: Fraction = Fraction(4)) -> torch.nn.Module:
    """A random HTDemucs (the library's class) in eval mode."""
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    return HTDemucs(list(sources), channels=4, nfft=1024, t_layers=1, t_heads=2,
                    t_hidden_scale=1.0, dconv_comp=4, segment=segment,
                    samplerate=samplerate).eval()


def write_release_file(model: torch.nn.Module, folder: Path, stem: str = "tiny") -> Path:
    """Save ``model`` the way demucs publishes its weights (``torch.save`` of the class, its
    arguments and a half-precision state; the name carries the SHA-256's first 8 digits), with
    the library's own functions. Returns the written ``STEM-XXXXXXXX.th``."""
    from demucs.states import get_state, save_with_checksum

    args, kwargs = model._init_args_kwargs
    package = {"klass": model.__class__, "args": args, "kwargs": kwargs,
               "state": get_state(model, None, half=True), "training_args": {"seed": 0}}
    folder.mkdir(parents=True, exist_ok=True)
    save_with_checksum(package, folder / f"{stem}.th")
    (found,) = folder.glob(f"{stem}-*.th")
    return found
