"""Render a composed song to four stems and write generated songs to a prepared dataset."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from core.errors import DataError
from training import prepared
from training.synth import dsp
from training.synth.compose import SongPlan, plan_song
from training.synth.instruments import render_bass, render_drums, render_part
from training.synth.vocals import render_vocals

log = logging.getLogger(__name__)

#: rate the training data is rendered at (the model's top stage rate).
TRAIN_RATE = 32000
#: rate of the demo song file.
DEMO_RATE = 44100


def song_rng(seed: int, index: int = 0, split: str = "train") -> np.random.Generator:
    """The generator of one song: independent per (seed, split, index), worker-count free."""
    code = {"train": 0, "valid": 1, "test": 2, "demo": 3}[split]
    return np.random.default_rng(np.random.SeedSequence([int(seed), code, int(index)]))


def _section_mask(plan: SongPlan, stem: str, frames: int, sr: int) -> np.ndarray:
    """1 where the stem's sections play, 0 elsewhere, with short fades at the edges."""
    mask = np.zeros(frames)
    for s in plan.sections:
        if s.active[stem]:
            a, b = int(s.start * sr), min(frames, int(s.end * sr) + int(0.6 * sr))
            mask[a:b] = 1.0
    return mask


def render_song(rng: np.random.Generator, seconds: float, sample_rate: int = TRAIN_RATE
                ) -> tuple[np.ndarray, SongPlan]:
    """Compose and render one song.

    Args:
        rng: the song's random generator (see :func:`song_rng`).
        seconds: length of the output.
        sample_rate: output rate in Hz.

    Returns:
        ``(stems, plan)``: stems ``(4, 2, frames)`` float32 in drums, bass, other, vocals order
        (their sum is the mixture, peak below 1), and the composition they were rendered from.
    """
    if seconds <= 0:
        raise DataError("song length must be positive")
    sr = int(sample_rate)
    frames = int(round(seconds * sr))
    plan = plan_song(rng, seconds)
    tail = frames + int(1.0 * sr)  # render past the end so notes are not cut by the buffer
    drums = render_drums(plan.drums, tail, sr, rng)
    bass = render_bass(plan.bass, tail, sr, rng)
    other = np.zeros((2, tail))
    for part in plan.other_parts:
        other += render_part(part, tail, sr, rng)
    vocals = render_vocals(plan.vocals, tail, sr, rng)
    stems = [drums, bass, other, vocals]
    # per-stem room and level; the reverb tail belongs to the stem that caused it
    levels_db = {"drums": rng.uniform(-4, 2), "bass": rng.uniform(-5, 1),
                 "other": rng.uniform(-6, 0), "vocals": rng.uniform(-3, 3)}
    rt60 = rng.uniform(0.3, 2.0)
    out = np.zeros((4, 2, frames), dtype=np.float64)
    for i, (name, x) in enumerate(zip(("drums", "bass", "other", "vocals"), stems)):
        rms = np.sqrt(np.mean(x**2))
        if rms < 1e-9:
            continue
        x = x / rms * 0.1 * 10 ** (levels_db[name] / 20)
        wet = {"drums": rng.uniform(0.02, 0.15), "bass": rng.uniform(0.0, 0.04),
               "other": rng.uniform(0.05, 0.3), "vocals": rng.uniform(0.08, 0.35)}[name]
        if wet > 0.005:
            ir = dsp.reverb_ir(sr, rng, rt60 * rng.uniform(0.8, 1.2), rng.uniform(0.005, 0.04))
            x = dsp.apply_reverb(x, ir, wet)
        out[i] = x[:, :frames]
    peak = np.abs(out.sum(axis=0)).max()
    if peak > 0:
        out *= 0.89 / peak * 10 ** (rng.uniform(-6, 0) / 20)
    # FFT reverb leaves ~1e-17 noise where a stem is silent; make silence exact (-120 dB gate)
    # so that BSSEval treats those frames as silent, as it does with real multitracks
    out[np.abs(out) < 1e-6] = 0.0
    return out.astype(np.float32), plan


#: song sources ``generate_dataset`` can write, and the prefix of their song folders.
SOURCES: dict[str, str] = {"procedural": "synth", "sampled": "sampled"}


def _write_one(job: tuple[str, str, str, int, int, float, int, str, tuple[str, ...], float]
               ) -> str:
    root, split, name, seed, index, seconds, sr, source, extra_fonts, timbre = job
    if prepared.song_done(root, split, name):
        return name
    rng = song_rng(seed, index, split)
    if source == "sampled":
        from training.sampled import render_sampled_song  # needs FluidSynth and pedalboard

        song = render_sampled_song(rng, seconds, split, sr, extra_fonts, timbre)
        stems, plan = song.stems, song.plan
        extra = "; ".join(f"{k}: {v}" for k, v in song.info.items())
    else:
        stems, plan = render_song(rng, seconds, sr)
        extra = ""
    fonts = f" extra-fonts={','.join(extra_fonts)}" if extra_fonts else ""
    fonts += f" timbre={timbre:g}" if timbre else ""
    text = (f"stemweave synth --source {source} seed={seed} split={split} index={index}{fonts} "
            f"tempo={plan.tempo:.1f} key={plan.key} mode={plan.mode}")
    prepared.write_song(root, split, name, stems, sr, source=f"{text}; {extra}" if extra else text)
    return name


def generate_dataset(
    root: str | os.PathLike[str], songs: int, seconds: float = 30.0, seed: int = 0,
    valid: int = 0, test: int = 0, workers: int = 1, sample_rate: int = TRAIN_RATE,
    progress: Callable[[int, int], None] | None = None, source: str = "procedural",
    extra_fonts: tuple[str, ...] = (), timbre: float = 0.0,
) -> Path:
    """Generate songs straight into a prepared dataset (``training.prepared`` format).

    Songs already complete are skipped, so an interrupted run can be resumed. The output does
    not depend on ``workers``.

    Args:
        root: dataset folder (created).
        songs: number of training songs.
        seconds: length of every song.
        seed: master seed.
        valid: number of validation songs.
        test: number of test songs.
        workers: processes rendering in parallel.
        sample_rate: rendering rate (resampled by ``write_song`` to the stage rates).
        progress: called with ``(done, total)`` after every song.
        source: ``procedural`` (:func:`render_song`) or ``sampled``
            (:func:`training.sampled.render_sampled_song`: SoundFonts by split).
        extra_fonts: with ``sampled``, font families added to the training songs' (e.g.
            ``("opl3",)``; validation and test songs keep theirs).
        timbre: with ``sampled``, how far the training songs' presets are varied, 0..1
            (:mod:`training.sampled.timbre`; validation and test songs play the fonts as
            they are).

    Returns:
        the dataset folder.
    """
    if source not in SOURCES:
        raise DataError(f"unknown song source {source!r} (choose from {', '.join(SOURCES)})")
    if songs < 0 or valid < 0 or test < 0 or songs + valid + test == 0:
        raise DataError("ask for at least one song (--songs/--valid/--test)")
    extra_fonts = tuple(extra_fonts)
    if extra_fonts:
        if source != "sampled":
            raise DataError("extra SoundFont families need --source sampled")
        from training.sampled.fonts import available_fonts

        available_fonts("train", extra_fonts)  # unknown or missing: say so before any work
    if timbre:
        if source != "sampled":
            raise DataError("timbre variants need --source sampled")
        from training.sampled.timbre import check_amount

        check_amount(timbre)  # before any work
    root = prepared.init_dataset(root)
    prefix = SOURCES[source]
    jobs = [(str(root), split, f"{prefix}_{split}_{seed}_{i:05d}", seed, i, float(seconds),
             int(sample_rate), source, extra_fonts if split == "train" else (),
             float(timbre) if split == "train" else 0.0)
            for split, count in (("train", songs), ("valid", valid), ("test", test))
            for i in range(count)]
    total = len(jobs)
    done = 0
    if workers <= 1:
        for job in jobs:
            _write_one(job)
            done += 1
            if progress:
                progress(done, total)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(_write_one, jobs, chunksize=1):
                done += 1
                if progress:
                    progress(done, total)
    log.info("wrote %d songs to %s", total, root)
    return root


def render_demo(seed: int = 0, seconds: float = 30.0, sample_rate: int = DEMO_RATE
                ) -> tuple[np.ndarray, np.ndarray, SongPlan]:
    """A demo song: ``(mix (2, frames), stems (4, 2, frames), plan)`` at ``sample_rate``.

    Demo songs always have all four stems (redrawn until they do).
    """
    attempt = 0
    while True:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 3, attempt]))
        stems, plan = render_song(rng, seconds, sample_rate)
        energy = np.sqrt(np.mean(stems.astype(np.float64) ** 2, axis=(1, 2)))
        if (energy > 1e-3).all() or attempt >= 20:
            return stems.sum(axis=0), stems, plan
        attempt += 1
