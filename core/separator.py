"""The separation engine: load a model once, separate arrays or whole files of any length.

:class:`Separator` wraps a network of any family (:mod:`core.families`: Meta-TasNet, HTDemucs)
with everything around it:
device and precision choice, level normalisation by the mixture's standard deviation, resampling
to the stage rates and back, fixed-length windows with crossfaded overlap-add
(:func:`core.apply.run_segments`), progress with ETA, cooperative cancel, progressive delivery of
finished audio, and the two optional post-processing steps (stems that sum exactly to the mix; the
paper's per-channel least-squares stem gains). ``separate_file`` streams: memory does not grow with
the song's length, and nothing appears under the final file names unless every stem was written.

Channel policy: a mono family (Meta-TasNet) separates every input channel as its own mono signal,
batched two at a time (left and right together); mono is separated once. A stereo family
(HTDemucs) takes channels in pairs; a mono song is fed as two equal channels and the two outputs
averaged. More than two channels (e.g. 5.1) are all separated, so the output keeps the input's
channel count; this costs ``channels / 2`` times a stereo song, and a warning is logged.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.apply import Progress, run_segments
from core.audio import StemWriter, check_bits, format_bytes, open_source, output_format
from core.device import pick_device
from core.errors import AudioWriteError, DiskFullError, SeparationCancelled, SeparationError
from core.families import SeparationModel, load, wrap
from core.memory import bound_heap, needs_bound
from core.model import MetaTasNet
from core.options import (
    DEFAULT_OVERLAP,
    DEFAULT_SEGMENT_S,
    PRECISIONS,
    check_overlap,
    check_precision,
    check_segment,
)
from core.precision import PrecisionChoice
from core.resample import METHODS
from core.wiener import wiener_refine

log = logging.getLogger(__name__)

__all__ = ["PRECISIONS", "Progress", "Separator", "lsq_stem_gains", "sum_to_mix"]

#: a mixture quieter than this (std of float samples) is treated as digital silence.
SILENCE_STD = 1e-9
#: frames per block when scanning or post-processing files.
BLOCK_FRAMES = 1 << 18


def sum_to_mix(stems: np.ndarray, mix: np.ndarray) -> np.ndarray:
    """Spread the residual ``mix - sum(stems)`` equally over the stems so they sum to the mix.

    Args:
        stems: ``(stems, channels, n)``.
        mix: ``(channels, n)``.

    Returns:
        float32 stems whose sum equals ``mix`` to float32 rounding.
    """
    s = stems.astype(np.float64)
    residual = mix.astype(np.float64) - s.sum(axis=0)
    return (s + residual[None] / s.shape[0]).astype(np.float32)


_sum_to_mix = sum_to_mix  # the methods' keyword argument of the same name shadows it


def lsq_stem_gains(gram: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """Per-channel least-squares gains from accumulated statistics.

    Solves ``min_g || mix_c - sum_j g_j stem_jc ||^2`` for every channel ``c`` (the paper's
    evaluation post-processing).

    Args:
        gram: ``(channels, stems, stems)`` sums of ``stem_i * stem_j``.
        cross: ``(channels, stems)`` sums of ``stem_i * mix``.

    Returns:
        ``(channels, stems)`` gains (1 where a channel's system is degenerate, e.g. silence).
    """
    ch, n, _ = gram.shape
    gains = np.ones((ch, n))
    for c in range(ch):
        g = gram[c]
        if not np.isfinite(g).all() or np.trace(g) <= 0:
            continue
        ridge = 1e-9 * np.trace(g) / n
        try:
            gains[c] = np.linalg.solve(g + ridge * np.eye(n), cross[c])
        except np.linalg.LinAlgError:
            continue
    return gains


class _LsqAccumulator:
    """Running Gram matrix / cross terms for :func:`lsq_stem_gains`."""

    def __init__(self, stems: int, channels: int) -> None:
        self.gram = np.zeros((channels, stems, stems))
        self.cross = np.zeros((channels, stems))

    def add(self, stems: np.ndarray, mix: np.ndarray) -> None:
        s = stems.astype(np.float64).transpose(1, 0, 2)  # (channels, stems, n)
        self.gram += np.einsum("csn,ctn->cst", s, s)
        self.cross += np.einsum("csn,cn->cs", s, mix.astype(np.float64))

    def gains(self) -> np.ndarray:
        return lsq_stem_gains(self.gram, self.cross)


class Separator:
    """Separate songs into the loaded model's stems (:attr:`stems`, in its output order, e.g.
    drums, bass, other, vocals, or six with guitar and piano).

    Args:
        model: a :class:`MetaTasNet` (moved to the device and baked; its train/eval mode and
            float64-magnitude setting are restored after every call), a loaded model of any
            family (:class:`core.families.SeparationModel`) or the path of a weights file
            (native, authors' Meta-TasNet).
        device: ``"auto"`` (CUDA -> MPS -> CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.
        segment_s: model window length in seconds (default: the family's preferred length,
            :data:`core.options.DEFAULT_SEGMENT_S` for Meta-TasNet, the training length for
            HTDemucs; never longer than the family accepts).
        overlap: fraction of a window shared with each neighbour (default: the family's,
            :data:`core.options.DEFAULT_OVERLAP` for Meta-TasNet, 0.25 for HTDemucs).
        threads: CPU threads for torch (process-wide setting); ``None`` leaves it alone.
        precision: ``"auto"`` (the fastest precision that keeps the output within 35 dB SDR of
            fp32, measured once per model and machine and cached: :mod:`core.precision`),
            ``"fp32"``, ``"bf16"``, ``"fp16"`` (fp16 only on a GPU).
        resampler: ``"soxr"`` (default) or ``"resampy"``.
        wiener: run the multichannel Wiener post-filter on every window (:mod:`core.wiener`);
            ``None``: the family's default (on for Meta-TasNet, off for HTDemucs).

    Raises:
        DeviceError: the device is not available.
        ModelLoadError: the weights cannot be loaded.
        ValueError: bad option values (the CLI validates them first).
    """

    def __init__(self, model: MetaTasNet | SeparationModel | str | os.PathLike[str],
                 device: str = "auto", *,
                 segment_s: float | None = None, overlap: float | None = None,
                 threads: int | None = None, precision: str = "auto",
                 resampler: str = "soxr", wiener: bool | None = None) -> None:
        self.device: torch.device = pick_device(device)
        if threads is not None:
            if threads < 1:
                raise ValueError("threads must be >= 1")
            torch.set_num_threads(int(threads))
        if isinstance(model, (str, os.PathLike)):
            #: the network with its family's description (:class:`core.families.base.
            #: SeparationModel`); Meta-TasNet's float64 spectrogram power and train/eval mode
            #: are set only while separating and restored after.
            self.family: SeparationModel = load(model, self.device)
        else:
            self.family = wrap(model).to(self.device)
        #: the torch module (a :class:`MetaTasNet`, an HTDemucs or a bag of them).
        self.model = self.family.module
        fam = self.family
        if segment_s is None:
            segment_s = fam.segment_s if fam.family != "metatasnet" else DEFAULT_SEGMENT_S
        self.segment_s = check_segment(segment_s)
        if fam.max_segment_s is not None and self.segment_s > fam.max_segment_s:
            log.info("window %.2f s is longer than %s accepts; using %.2f s", self.segment_s,
                     fam.family, fam.max_segment_s)
            self.segment_s = fam.max_segment_s
        if overlap is None:
            overlap = fam.overlap if fam.family != "metatasnet" else DEFAULT_OVERLAP
        self.overlap = check_overlap(overlap)
        if resampler not in METHODS:
            raise ValueError(f"unknown resampler {resampler!r}; use {' or '.join(METHODS)}")
        self.resampler = resampler
        check_precision(precision)
        if precision == "fp16" and self.device.type == "cpu":
            raise ValueError("fp16 is only supported on a GPU; use bf16 or fp32 on the CPU")
        if precision not in ("auto", "fp32", *fam.precisions):
            raise ValueError(f"{fam.family} models run in "
                             f"{', '.join(('fp32', *fam.precisions))} only, not {precision}")
        #: the precision asked for; ``"auto"`` is resolved by measurement on the first separation
        #: (:meth:`resolve_precision`), never in the constructor (which may run on a GUI thread).
        self.requested_precision = precision
        #: the precision in use: ``None`` until ``"auto"`` has been resolved.
        self.precision: str | None = None if precision == "auto" else precision
        #: the probe's result when ``"auto"`` was resolved (figures for logs and the GUI).
        self.precision_choice: PrecisionChoice | None = None
        self.stems: tuple[str, ...] = tuple(fam.stems)
        #: whether every window goes through the Wiener post-filter (:mod:`core.wiener`).
        self.wiener: bool = bool(fam.wiener if wiener is None else wiener)
        #: the model's parameter count (whether the CPU heap is bounded: :mod:`core.memory`).
        self.parameters = sum(p.numel() for p in self.model.parameters())
        #: channels per forward call of a mono family. On a GPU left and right go together; on
        #: the CPU one at a time measured as fast (10.1 vs 10.6 s for 12 s of stereo, full
        #: model, 2 threads) with 40 % less peak memory (1.7 vs 2.8 GB), so it is the CPU
        #: default (docs/engine.md). A stereo family always takes a pair per call.
        self.batch_channels = 1 if self.device.type == "cpu" else 2

    # ------------------------------------------------------------------ network call
    def resolve_precision(self) -> str:
        """The precision separations run in; for ``"auto"`` the first call measures (or reads
        the cached measurement: :func:`core.precision.choose_precision`). Slow the first time
        on a new model or machine (seconds): call it from a worker thread."""
        if self.precision is None:
            self.precision_choice = self.family.choose_precision(self.device)
            self.precision = self.precision_choice.precision
        return self.precision

    def _forward(self, mixes: list[torch.Tensor]) -> torch.Tensor:
        return self.family.forward(mixes, self.resolve_precision())

    def _run(self, read: Callable[[int, int], np.ndarray], frames: int, channels: int,
             sample_rate: int, scale: float, emit: Callable[[int, np.ndarray], None],
             progress: Callable[[Progress], None] | None,
             cancel: Callable[[], bool] | None) -> None:
        fam = self.family
        if channels > 2:
            log.warning("%d-channel input: every channel is separated on its own (about %.1fx "
                        "the time of a stereo song); the output keeps %d channels",
                        channels, channels / 2, channels)
        precision = self.resolve_precision()
        if self.device.type == "cpu" and needs_bound(self.parameters, precision):
            bound_heap()  # steady 1.1 GB peak for the full model in fp32, not 1.2-2.9 (core.memory)
        with fam.inference_state():
            run_segments(
                read, frames, channels, sample_rate, forward=self._forward,
                stage_rates=fam.sample_rates, output_rate=fam.output_rate, hop=fam.hop,
                scale=scale, emit=emit, segment_s=self.segment_s, overlap=self.overlap,
                resampler=self.resampler, device=self.device,
                batch_channels=self.batch_channels, stems=len(self.stems),
                audio_channels=fam.audio_channels, even=fam.even_windows,
                max_segment_s=fam.max_segment_s, progress=progress, cancel=cancel,
                refine=self._refine(sample_rate),
            )

    def _refine(self, sample_rate: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        """The post-filter for a song at ``sample_rate`` (``None`` when off): the network's
        stems cover ``output_rate / 2`` of the song's band (:func:`core.wiener.wiener_refine`)."""
        if not self.wiener:
            return None
        return functools.partial(wiener_refine,
                                 band=min(1.0, self.family.output_rate / int(sample_rate)))

    # ------------------------------------------------------------------ arrays
    def separate(self, audio: np.ndarray, sample_rate: int, *,
                 progress: Callable[[Progress], None] | None = None,
                 cancel: Callable[[], bool] | None = None,
                 on_segment: Callable[[int, np.ndarray], None] | None = None,
                 sum_to_mix: bool = False, lsq_gains: bool = False,
                 out: np.ndarray | None = None) -> np.ndarray:
        """Separate an in-memory song.

        Args:
            audio: float ``(channels, frames)`` (1-D is taken as mono) at ``sample_rate``.
            sample_rate: rate in Hz (any).
            progress: called after every window with a :class:`Progress`.
            cancel: polled between windows; returning True raises ``SeparationCancelled``.
            on_segment: ``on_segment(start_frame, block)`` with ``block`` ``(stems, channels, n)``
                (one row per name in :attr:`stems`),
                called in time order with contiguous blocks covering the output exactly once.
                With ``lsq_gains`` the blocks are provisional (before the gains, which need the
                whole song); the returned array is final.
            sum_to_mix: make the stems sum to the input exactly (float32 rounding); the
                residual is spread equally over the stems (applied after ``lsq_gains``).
            lsq_gains: scale each stem per channel by the least-squares fit of the stems to
                the mixture (the paper's evaluation post-processing).
            out: a float32 ``(stems, channels, frames)`` array to fill and return instead of a
                new one (a caller that keeps the stems anyway, like the GUI's mixer, then holds
                them once).

        Returns:
            float32 ``(stems, channels, frames)`` at ``sample_rate``, rows in :attr:`stems` order
            (``out`` when given).

        Raises:
            SeparationError: empty, non-finite or malformed input.
            SeparationCancelled: cancelled.
        """
        x = np.asarray(audio)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2:
            raise SeparationError(f"audio must be (channels, frames), got shape {x.shape}")
        x = x.astype(np.float32, copy=False)
        channels, frames = x.shape
        if channels < 1 or frames < 1:
            raise SeparationError("the input holds no audio (0 frames)")
        if int(sample_rate) < 1:
            raise SeparationError(f"invalid sample rate {sample_rate}")
        if not np.isfinite(x).all():
            raise SeparationError("the input contains NaN or infinite samples")
        shape = (len(self.stems), channels, frames)
        if out is None:
            out = np.zeros(shape, dtype=np.float32)
        elif out.shape != shape or out.dtype != np.float32:
            raise ValueError(f"out must be float32 {shape}, not {out.dtype} {out.shape}")
        std = float(x.astype(np.float64).std())
        if std < SILENCE_STD:
            log.warning("the input is digital silence; every stem is silent")
            out[...] = 0.0
            if sum_to_mix:
                out[...] = _sum_to_mix(out, x)  # a constant (DC) input is shared by the stems
            if on_segment is not None:
                on_segment(0, out.copy())
            if progress is not None:
                progress(Progress(1.0, 0.0, 0.0))
            return out

        def read(a: int, b: int) -> np.ndarray:
            blk = np.zeros((channels, b - a), dtype=np.float32)
            lo, hi = max(a, 0), min(b, frames)
            if hi > lo:
                blk[:, lo - a:hi - a] = x[:, lo:hi]
            return blk

        def emit(start: int, block: np.ndarray) -> None:
            n = block.shape[-1]
            if sum_to_mix and not lsq_gains:
                block = _sum_to_mix(block, x[:, start:start + n])
            out[..., start:start + n] = block
            if on_segment is not None:
                on_segment(start, block)

        self._run(read, frames, channels, int(sample_rate), std, emit, progress, cancel)
        if lsq_gains:
            acc = _LsqAccumulator(len(self.stems), channels)
            acc.add(out, x)
            out *= acc.gains().T[:, :, None].astype(np.float32)
            if sum_to_mix:
                out[...] = _sum_to_mix(out, x)
        return out

    # ------------------------------------------------------------------ files
    def separate_file(self, input_path: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                      *, stems: list[str] | tuple[str, ...] | None = None, format: str = "wav",
                      bits: str = "24", progress: Callable[[Progress], None] | None = None,
                      cancel: Callable[[], bool] | None = None, sum_to_mix: bool = False,
                      lsq_gains: bool = False) -> dict[str, Path]:
        """Separate a file into ``output_dir/<stem>.<format>`` files, streaming.

        The input is read in blocks (one pass to check it and measure its level, one to
        separate), stems are written incrementally to hidden temporary files beside their final
        names and all are renamed only when every stem is complete; on any error or cancel every
        temporary file is removed, so no partial stem ever appears. Memory does not depend on
        the song's length. ``output_dir`` is created if needed.

        Args:
            input_path: any file :func:`core.audio.load_audio` reads.
            output_dir: folder for the stems (the CLI passes ``OUTDIR/<input stem>``).
            stems: subset of :attr:`stems` to write (default all of them).
            format: ``"wav"`` or ``"flac"``.
            bits: ``"16"``, ``"24"`` or ``"32f"``.
            progress: called after every window (the level scan is not counted).
            cancel: polled between windows and blocks.
            sum_to_mix: see :meth:`separate`.
            lsq_gains: see :meth:`separate` (adds a second pass over temporary float stems).

        Returns:
            stem name -> written path.

        Raises:
            AudioLoadError: the input cannot be read.
            AudioWriteError: the output cannot be written.
            SeparationError: the input holds NaN/inf samples.
            SeparationCancelled: cancelled (nothing written).
        """
        want = list(self.stems if stems is None else stems)
        unknown = [s for s in want if s not in self.stems]
        if unknown or not want:
            raise SeparationError(f"unknown stem(s) {', '.join(unknown) or '(none)'}; "
                                  f"choose from {', '.join(self.stems)}")
        fmt = output_format(f"x.{format}", format)
        check_bits(fmt, bits)
        out_dir = Path(output_dir)
        with open_source(input_path) as src:
            std = self._scan(src, cancel)
            created = not out_dir.exists()
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise AudioWriteError(f"{out_dir}: cannot create the output folder "
                                      f"({exc.strerror or exc})") from exc
            try:
                return self._separate_source(src, out_dir, want, fmt, bits, std, progress,
                                             cancel, sum_to_mix, lsq_gains)
            except BaseException:
                if created:
                    with contextlib.suppress(OSError):
                        out_dir.rmdir()  # only succeeds when empty
                raise

    def _scan(self, src, cancel: Callable[[], bool] | None) -> float:  # noqa: ANN001
        """Check every sample is finite and return the mixture's std (one streaming pass)."""
        total = total_sq = 0.0
        for a in range(0, src.frames, BLOCK_FRAMES):
            if cancel is not None and cancel():
                raise SeparationCancelled("Separation cancelled")
            blk = src.read(a, min(a + BLOCK_FRAMES, src.frames)).astype(np.float64)
            if not np.isfinite(blk).all():
                raise SeparationError(f"{src.name}: the audio contains NaN or infinite samples")
            total += blk.sum()
            total_sq += np.square(blk).sum()
        n = src.frames * src.channels
        mean = total / n
        return float(np.sqrt(max(total_sq / n - mean * mean, 0.0)))

    def _separate_source(self, src, out_dir: Path, want: list[str], fmt: str,  # noqa: ANN001
                         bits: str, std: float, progress, cancel, do_sum: bool,  # noqa: ANN001
                         do_lsq: bool) -> dict[str, Path]:
        rate, channels, frames = src.sample_rate, src.channels, src.frames
        idx = [self.stems.index(s) for s in want]
        writers: list[StemWriter] = []
        raw: list[StemWriter] = []
        try:
            for s in want:
                writers.append(StemWriter(out_dir / f"{s}.{fmt}", rate, channels,
                                          format=fmt, bits=bits))
            if std < SILENCE_STD:
                log.warning("%s is digital silence; every stem is silent", src.name)
                zeros = np.zeros((channels, min(BLOCK_FRAMES, frames)), np.float32)
                for a in range(0, frames, BLOCK_FRAMES):
                    n = min(BLOCK_FRAMES, frames - a)
                    block = np.broadcast_to(zeros[None, :, :n], (len(self.stems), channels, n))
                    if do_sum:
                        block = sum_to_mix(block, src.read(a, a + n))
                    for w, i in zip(writers, idx):
                        w.write(block[i])
                if progress is not None:
                    progress(Progress(1.0, 0.0, 0.0))
            elif not do_lsq:
                def emit(start: int, block: np.ndarray) -> None:
                    if do_sum:
                        block = sum_to_mix(block, src.read(start, start + block.shape[-1]))
                    for w, i in zip(writers, idx):
                        w.write(block[i])

                self._run(src.read, frames, channels, rate, std, emit, progress, cancel)
            else:
                # pass 1: raw float stems to temporary files, accumulating the LSQ statistics
                acc = _LsqAccumulator(len(self.stems), channels)
                for s in self.stems:
                    raw.append(StemWriter(out_dir / f".{s}.raw.wav", rate, channels,
                                          format="wav", bits="32f", rf64=True))

                def emit_raw(start: int, block: np.ndarray) -> None:
                    acc.add(block, src.read(start, start + block.shape[-1]))
                    for w, i in zip(raw, range(len(self.stems))):
                        w.write(block[i])

                self._run(src.read, frames, channels, rate, std, emit_raw, progress, cancel)
                gains = acc.gains().T[:, :, None].astype(np.float32)  # (stems, channels, 1)
                log.info("least-squares stem gains per channel: %s", gains[..., 0].tolist())
                for w in raw:
                    w.close()
                self._apply_gains(raw, writers, idx, gains, src, do_sum, cancel)
            # All stems are complete under temporary names; publish them together. An error or
            # Ctrl-C while renaming withdraws the ones already published (discard), so a song
            # never keeps some of its stems.
            for w in writers:
                w.close()
            return {s: w.publish() for s, w in zip(want, writers)}
        except DiskFullError as exc:
            for w in writers:
                w.discard()
            width = {"16": 2, "24": 3, "32f": 4}.get(bits, 4)
            need = frames * channels * (width * len(want) + (4 * len(self.stems) if do_lsq else 0))
            raise DiskFullError(f"{exc}; the {len(want)} stem(s) of this song need about "
                                f"{format_bytes(need)}" + (" (less as FLAC)" if fmt == "flac"
                                                           else "")) from exc
        except BaseException:
            for w in writers:
                w.discard()
            raise
        finally:
            for w in raw:
                w.discard()

    def _apply_gains(self, raw: list[StemWriter], writers: list[StemWriter], idx: list[int],
                     gains: np.ndarray, src, do_sum: bool,  # noqa: ANN001
                     cancel: Callable[[], bool] | None) -> None:
        import soundfile as sf

        files = [sf.SoundFile(str(w.tmp), "r") for w in raw]
        try:
            for a in range(0, src.frames, BLOCK_FRAMES):
                if cancel is not None and cancel():
                        raise SeparationCancelled("Separation cancelled")
                n = min(BLOCK_FRAMES, src.frames - a)
                block = np.stack([f.read(n, dtype="float32", always_2d=True).T for f in files])
                block *= gains
                if do_sum:
                    block = sum_to_mix(block, src.read(a, a + n))
                for w, i in zip(writers, idx):
                    w.write(block[i])
        finally:
            for f in files:
                f.close()
