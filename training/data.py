"""Training examples from a prepared dataset: random aligned crops with the paper's augmentation.

Every example is a pure function of ``(seed, index)``: a fresh ``numpy`` generator seeded with
both numbers draws the song(s), the crop offset(s), the channel and the gain of each stem. The
training loop asks for example ``step * batch + position`` so the data stream is identical
whether a run is interrupted and resumed, split over DDP ranks or spread over loader workers.

Augmentation (paper, Sec. 4):

* a crop of ``crop_s`` seconds at 8 kHz and the same span at 16 and 32 kHz (aligned: the
  prepared format stores exactly ``frames_8k * rate // 8000`` frames per rate);
* each stem takes the left or the right channel at random (the same channel at every rate);
* each stem is scaled by a random gain in ``[gain_min, gain_max]`` (the same gain at every rate);
* with ``eq_db > 0`` (ours, not the paper's), each stem also goes through a random equaliser: a
  smooth zero-phase gain curve through ``EQ_ANCHORS_HZ`` with a gain drawn in
  ``[-eq_db, eq_db]`` dB at each anchor (linear in log-frequency between them), the same curve in
  Hz at every rate. It varies the spectral envelope of an instrument as a different sample set,
  microphone or mix would, so the model leans less on the exact timbre of its training sounds;
* in a portion ``remix_p`` of each batch (the first positions) every stem comes from a
  different random song and offset (cross-song remixing);
* the mixture is the sum of the stems; everything is divided by the 8 kHz mixture's standard
  deviation;
* a stem whose RMS is below ``silence_rms`` (after normalisation) is marked absent and left out
  of the SI-SNR and latent-similarity terms (the mask is 1 for present stems).

The authors drew the channel and gain independently per rate (a quirk of their loader); here
they are shared so that the three stages see the same example, as the paper describes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from core.errors import DataError
from training.prepared import RATES, PreparedSong


@dataclass(frozen=True)
class AugmentConfig:
    """Crop and augmentation settings (defaults: the paper's)."""

    crop_s: float = 8.0  #: crop length in seconds
    gain_min: float = 0.75
    gain_max: float = 1.25
    remix_p: float = 0.5  #: portion of each batch whose stems come from different songs
    silence_rms: float = 1e-3  #: stems quieter than this (after normalisation) are masked out
    hop: int = 20  #: the 8 kHz crop length is rounded down to a multiple of this (model W)
    eq_db: float = 0.0  #: random per-stem equaliser range in dB (0: off, the paper's setting)

    def crop_frames(self, base_rate: int = RATES[0]) -> int:
        """Crop length at the base rate (a positive multiple of ``hop``)."""
        n = int(round(self.crop_s * base_rate)) // self.hop * self.hop
        if n <= 0:
            raise DataError(f"crop of {self.crop_s} s is shorter than one model frame")
        return n


#: Frequencies (Hz) at which the random equaliser draws its gains (``AugmentConfig.eq_db``).
EQ_ANCHORS_HZ: tuple[float, ...] = (60.0, 150.0, 400.0, 1000.0, 2500.0, 6000.0, 14000.0)


class CropPlan(NamedTuple):
    """Random choices of one example, per stem: song index, 8 kHz offset, channel, gain, and
    the equaliser's dB at ``EQ_ANCHORS_HZ`` (empty tuples when the equaliser is off)."""

    songs: tuple[int, ...]
    offsets: tuple[int, ...]
    channels: tuple[int, ...]
    gains: tuple[float, ...]
    eq: tuple[tuple[float, ...], ...] = ()


def eq_curve(gains_db: Sequence[float], frames: int, rate: int) -> np.ndarray:
    """Linear gain per ``rfft`` bin of a ``frames``-long signal at ``rate`` Hz.

    The curve passes through ``gains_db`` at ``EQ_ANCHORS_HZ`` (linear in dB against
    log-frequency) and stays flat below the first and above the last anchor.
    """
    freqs = np.fft.rfftfreq(frames, 1.0 / rate)
    logf = np.log(np.maximum(freqs, 1.0))
    db = np.interp(logf, np.log(EQ_ANCHORS_HZ), np.asarray(gains_db, dtype=np.float64))
    return (10.0 ** (db / 20.0)).astype(np.float32)


class CropDataset(Dataset):
    """Example ``index`` -> one augmented crop at every stage rate.

    Items are dicts ``{"mix_<rate>": (1, T_r), "sources_<rate>": (4, 1, T_r),
    "masks": (4, 1)}`` as float32 tensors, with ``T_r = crop_frames * rate // base``.

    Args:
        songs: training songs (memory-mapped on first use, per worker).
        seed: run seed.
        batch_size: global batch size (positions ``< remix_p * batch_size`` are remixed).
        rates: stage rates (a prefix of the prepared rates for fewer stages).
        augment: crop/augmentation settings.
    """

    def __init__(
        self, songs: Sequence[PreparedSong], seed: int, batch_size: int,
        rates: Sequence[int] = RATES, augment: AugmentConfig | None = None,
    ) -> None:
        if not songs:
            raise DataError("no training songs: run `stemweave prepare` first")
        self.songs = list(songs)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.rates = tuple(rates)
        self.augment = augment or AugmentConfig()
        self.crop = self.augment.crop_frames(self.rates[0])
        self.remix_count = int(round(self.augment.remix_p * self.batch_size))
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def __getstate__(self) -> dict[str, object]:
        # Loader workers started by "spawn" get the dataset pickled: never ship the memory maps
        # (pickling one copies the whole array); each worker opens its own.
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def __len__(self) -> int:
        return 2**62  # an endless stream; indices come from StepBatchSampler

    def _audio(self, song: int, rate: int) -> np.ndarray:
        key = (song, rate)
        if key not in self._cache:
            self._cache[key] = self.songs[song].audio(rate, mmap=True)
        return self._cache[key]

    def _offset(self, rng: np.random.Generator, song: int) -> int:
        return int(rng.integers(0, max(self.songs[song].frames_8k - self.crop, 0) + 1))

    def plan(self, index: int) -> CropPlan:
        """The random choices of example ``index`` (a pure function of seed and index)."""
        aug = self.augment
        rng = np.random.default_rng([self.seed, int(index)])
        stems = 4
        if index % self.batch_size < self.remix_count:
            picks = [int(rng.integers(len(self.songs))) for _ in range(stems)]
            offsets = [self._offset(rng, s) for s in picks]
        else:
            song = int(rng.integers(len(self.songs)))
            picks = [song] * stems
            offsets = [self._offset(rng, song)] * stems
        channels = [int(c) for c in rng.integers(0, 2, size=stems)]
        gains = [float(g) for g in rng.uniform(aug.gain_min, aug.gain_max, size=stems)]
        eq: tuple[tuple[float, ...], ...] = ()
        if aug.eq_db > 0:  # drawn last, so the other choices do not depend on it
            draw = rng.uniform(-aug.eq_db, aug.eq_db, size=(stems, len(EQ_ANCHORS_HZ)))
            eq = tuple(tuple(float(v) for v in row) for row in draw)
        return CropPlan(tuple(picks), tuple(offsets), tuple(channels), tuple(gains), eq)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        aug = self.augment
        picks, offsets, channels, gain_list, eq = self.plan(index)
        gains = np.asarray(gain_list, dtype=np.float32)
        stems = len(picks)
        base = self.rates[0]
        out: dict[str, torch.Tensor] = {}
        scale = 1.0
        masks = None
        for rate in self.rates:
            m = rate // base
            length = self.crop * m
            src = np.zeros((stems, 1, length), dtype=np.float32)
            for k in range(stems):
                audio = self._audio(picks[k], rate)
                start = offsets[k] * m
                piece = np.asarray(audio[k, channels[k], start : start + length], np.float32)
                src[k, 0, : piece.shape[-1]] = piece * gains[k]
                if eq and np.any(src[k, 0]):
                    spectrum = np.fft.rfft(src[k, 0]) * eq_curve(eq[k], length, rate)
                    src[k, 0] = np.fft.irfft(spectrum, n=length).astype(np.float32)
            mix = src.sum(0)
            if rate == base:
                std = float(mix.std())
                scale = 1.0 / std if std > 1e-8 else 1.0
                rms = np.sqrt(((src.astype(np.float64) * scale) ** 2).mean(axis=(1, 2)))
                masks = (rms > aug.silence_rms).astype(np.float32)[:, None]
            out[f"mix_{rate}"] = torch.from_numpy(mix * scale)
            out[f"sources_{rate}"] = torch.from_numpy(src * scale)
        assert masks is not None
        out["masks"] = torch.from_numpy(masks)
        return out


class StepBatchSampler(Sampler[list[int]]):
    """Yields the example indices of each (micro-)batch of a rank, from ``start_step`` on.

    Step ``s``, micro-batch ``a`` of ``accum``, rank ``r`` of ``world`` gets the indices
    ``s*B + a*(B/accum) + r*(B/(accum*world)) + i``, so the union over ranks and micro-batches
    of one optimiser step is always ``[s*B, (s+1)*B)``.

    Args:
        batch_size: global batch per optimiser step ``B``.
        accum: micro-batches per step.
        rank: this process's rank.
        world: number of processes.
        start_step: first step to produce (resume).
        steps: number of steps to produce (``None``: endless).
    """

    def __init__(self, batch_size: int, accum: int = 1, rank: int = 0, world: int = 1,
                 start_step: int = 0, steps: int | None = None) -> None:
        if batch_size % (accum * world):
            raise DataError(f"batch size {batch_size} is not divisible by gradient accumulation "
                            f"({accum}) x processes ({world})")
        self.B, self.accum, self.rank, self.world = batch_size, accum, rank, world
        self.local = batch_size // (accum * world)
        self.start_step, self.steps = start_step, steps

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while self.steps is None or step < self.start_step + self.steps:
            for a in range(self.accum):
                first = step * self.B + a * (self.B // self.accum) + self.rank * self.local
                yield list(range(first, first + self.local))
            step += 1

    def __len__(self) -> int:
        return (self.steps if self.steps is not None else 2**31) * self.accum


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack examples on a new batch axis."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def batch_to_lists(
    batch: dict[str, torch.Tensor], rates: Sequence[int], device: torch.device | str = "cpu"
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Split a collated batch into per-stage ``mixes``, ``sources`` and ``masks`` lists."""
    mixes = [batch[f"mix_{r}"].to(device, non_blocking=True) for r in rates]
    sources = [batch[f"sources_{r}"].to(device, non_blocking=True) for r in rates]
    masks = [batch["masks"].to(device, non_blocking=True)] * len(rates)
    return mixes, sources, masks


@torch.no_grad()
def compute_spectrogram_stats(
    model: torch.nn.Module, dataset: CropDataset, crops: int, batch: int = 8,
    first_index: int = 2**50, progress: Callable[[int, int], None] | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-bin mean and unbiased std of the log-power spectrogram of training mixtures.

    Uses each stage's own ``LogSpectrogram.log_power`` on ``crops`` training crops (indices
    ``first_index ...``, far beyond any index the training stream reaches), averaging
    over crops and STFT frames, and writes the results into ``stages[i].encoder.spectrogram``.

    Args:
        model: the model (modified in place).
        dataset: the training crops.
        crops: how many crops to use (the paper used about 5000).
        batch: crops per STFT batch.
        first_index: the first example index to draw.
        progress: called with ``(crops done, crops)`` after every batch.

    Returns:
        per stage ``(mean, std)`` each ``(1, bins, 1)``.
    """
    stages = list(model.stages)
    rates = dataset.rates[: len(stages)]
    sums = [None] * len(stages)
    sq = [None] * len(stages)
    count = [0] * len(stages)
    done = 0
    while done < crops:
        n = min(batch, crops - done)
        items = collate([dataset[first_index + done + i] for i in range(n)])
        for s, (stage, rate) in enumerate(zip(stages, rates)):
            spec = stage.encoder.spectrogram
            x = items[f"mix_{rate}"].to(spec.window.device).squeeze(1)
            lp = spec.log_power(x).double()  # (n, bins, frames)
            a = lp.sum(dim=(0, 2))
            b = lp.pow(2).sum(dim=(0, 2))
            sums[s] = a if sums[s] is None else sums[s] + a
            sq[s] = b if sq[s] is None else sq[s] + b
            count[s] += lp.shape[0] * lp.shape[2]
        done += n
        if progress is not None:
            progress(done, crops)
    result = []
    for s, stage in enumerate(stages):
        spec = stage.encoder.spectrogram
        n = count[s]
        mean = sums[s] / n
        var = (sq[s] - n * mean.pow(2)) / max(n - 1, 1)
        std = var.clamp(min=1e-12).sqrt()
        mean_t = mean.to(spec.mean.dtype).view_as(spec.mean)
        std_t = std.to(spec.std.dtype).view_as(spec.std)
        spec.mean.data.copy_(mean_t)
        spec.std.data.copy_(std_t)
        result.append((mean_t.clone(), std_t.clone()))
    if not math.isfinite(float(sum(m.sum() for m, _ in result))):
        raise DataError("spectrogram statistics are not finite: is the training data silent?")
    return result
