"""``stemweave evaluate``: BSSEval v4 scores (museval) as the paper reports them.

Each song is separated through ``core.separator.Separator`` (segmented inference, the model's
own resampling and normalisation), optionally with the paper's least-squares stem gains, and
scored with ``museval.evaluate`` in 1-second windows (v4 mode). A song's score per stem is the
median over its windows (windows where the reference is silent give NaN and are skipped); the
reported figure is the median over songs.

Data: a prepared dataset's split (songs at the last stage rate, 32 kHz, as references), or a
MUSDB18 / MUSDB18-HQ root (the 50 test songs at 44.1 kHz, read with the ``musdb`` package).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.config import STEMS
from core.errors import DataError
from core.fileio import atomic_path

log = logging.getLogger(__name__)

METRICS = ("SDR", "SIR", "ISR", "SAR")


@dataclass
class EvalResult:
    """Per-track medians and the median over tracks, ``{stem: {metric: dB}}``."""

    tracks: dict[str, dict[str, dict[str, float]]]
    median: dict[str, dict[str, float]]
    model: str
    data: str
    lsq_gains: bool
    #: whether the engine's Wiener post-filter ran (:mod:`core.wiener`).
    wiener: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes ``None``)."""
        def clean(x: Any) -> Any:
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            return None if isinstance(x, float) and not math.isfinite(x) else x

        return clean({"model": self.model, "data": self.data, "lsq_gains": self.lsq_gains,
                      "wiener": self.wiener, "median": self.median, "tracks": self.tracks})


#: BSSEval's distortion-filter length at 44.1 kHz (museval's fixed 512 samples, 11.6 ms).
FILTER_TAPS_44K = 512

#: Ridge added to the diagonal of BSSEval's reference-correlation matrix, relative to its mean
#: diagonal (a noise floor 80 dB below the references).
RIDGE = 1e-8

_patch_lock = threading.Lock()


@contextmanager
def _stable_projection(museval: Any) -> Iterator[None]:
    """Make museval's distortion-filter solve well-conditioned while the block runs.

    BSSEval projects each estimate on 512-sample delays of the references by solving ``G c = d``
    with ``G`` the references' correlation matrix; museval adds only machine epsilon (an absolute
    1e-16) to its diagonal. References without energy in some band -- every dataset resampled
    below 44.1 kHz is empty just under its Nyquist frequency -- and with long silent stretches
    make ``G`` numerically singular, and the filters blow up: SIR around -30 dB and SAR 0 dB for
    every stem while SDR (which only needs a stem's own, smaller matrix) looks right. Adding
    ``RIDGE`` times the mean diagonal keeps the solve stable and changes well-conditioned cases
    by hundredths of a dB (``tests/training/test_evaluate.py``).
    """
    metrics = museval.metrics
    original = metrics._compute_projection_filters

    def ridged(G: np.ndarray, sf: np.ndarray, estimated_source: np.ndarray) -> np.ndarray:
        # G: (nsrc, nsrc, nchan, nchan, L, L) or, for one source, (nchan, nchan, L, L)
        G = G.copy()
        full = G if G.ndim == 6 else G[None, None]
        nsrc, _, nchan, _, taps, _ = full.shape
        i, c, t = np.meshgrid(np.arange(nsrc), np.arange(nchan), np.arange(taps), indexing="ij")
        ridge = RIDGE * float(full[i, i, c, c, t, t].mean())
        full[i, i, c, c, t, t] += ridge
        return original(G, sf, estimated_source)

    with _patch_lock:
        metrics._compute_projection_filters = ridged
        try:
            yield
        finally:
            metrics._compute_projection_filters = original


def score_track(references: np.ndarray, estimates: np.ndarray,
                sample_rate: int) -> dict[str, dict[str, float]]:
    """BSSEval v4 of one track, median over 1-s windows.

    Args:
        references: ``(4, channels, frames)``.
        estimates: ``(4, channels, frames)``.
        sample_rate: rate of both (the window is one second).

    Returns:
        ``{stem: {"SDR": ..., "SIR": ..., "ISR": ..., "SAR": ...}}`` (NaN if never defined).
    """
    try:
        import museval
    except ImportError as exc:
        raise DataError(
            "evaluation needs museval: install the training extras "
            "(pip install 'stemweave[train]')"
        ) from exc

    n = min(references.shape[-1], estimates.shape[-1])
    ref = np.ascontiguousarray(references[..., :n].transpose(0, 2, 1), dtype=np.float64)
    est = np.ascontiguousarray(estimates[..., :n].transpose(0, 2, 1), dtype=np.float64)
    # BSSEval is undefined for a reference that is silent throughout (museval raises): such a
    # stem (e.g. a song without vocals) scores NaN and the others are evaluated together.
    present = [i for i in range(len(STEMS)) if np.any(ref[i])]
    out: dict[str, dict[str, float]] = {
        stem: {m: float("nan") for m in METRICS} for stem in STEMS
    }
    if not present:
        return out
    # museval counts in samples and assumes 44.1 kHz: one-second windows and 512-tap (11.6 ms)
    # distortion filters at 44.1 kHz become the same durations at the song's own rate, so that
    # every rate measures the same thing (v4 mode: filters from the whole song).
    taps = max(1, round(FILTER_TAPS_44K * sample_rate / 44100))
    with _stable_projection(museval):
        sdr, isr, sir, sar, _ = museval.metrics.bss_eval(
            ref[present], est[present], window=sample_rate, hop=sample_rate, filters_len=taps,
            compute_permutation=False, framewise_filters=False, bsseval_sources_version=False)
    values = {"SDR": sdr, "ISR": isr, "SIR": sir, "SAR": sar}
    for j, i in enumerate(present):
        for m in METRICS:
            frames = np.asarray(values[m][j], dtype=np.float64)
            frames = frames[np.isfinite(frames)]
            out[STEMS[i]][m] = float(np.median(frames)) if frames.size else float("nan")
    return out


def _median_over_tracks(
    tracks: dict[str, dict[str, dict[str, float]]],
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for stem in STEMS:
        out[stem] = {}
        for m in METRICS:
            v = np.array([t[stem][m] for t in tracks.values()], dtype=np.float64)
            v = v[np.isfinite(v)]
            out[stem][m] = float(np.median(v)) if v.size else float("nan")
    return out


def _prepared_songs(root: Path, split: str, max_s: float | None
                    ) -> Iterator[tuple[str, np.ndarray, int]]:
    from training.prepared import RATES, list_songs

    songs = list_songs(root, split)
    if not songs:
        raise DataError(f"no prepared songs in {root}/{split}")
    rate = RATES[-1]
    for song in songs:
        n = song.frames_8k * rate // RATES[0]
        if max_s:
            n = min(n, int(max_s * rate))
        yield song.name, np.array(song.audio(rate)[..., :n], np.float32), rate


def _musdb_songs(root: Path, max_s: float | None) -> Iterator[tuple[str, np.ndarray, int]]:
    try:
        import musdb
    except ImportError as exc:
        raise DataError("the musdb package is needed: pip install 'stemweave[train]'") from exc
    is_wav = not any((root / "test").glob("*.stem.mp4"))
    db = musdb.DB(root=str(root), subsets="test", is_wav=is_wav)
    if not db.tracks:
        raise DataError(f"no MUSDB18 test tracks under {root}")
    for track in db.tracks:
        if is_wav:  # MUSDB18-HQ: read the WAV stems directly (no ffmpeg process per stem)
            from training.prepare import load_song_folder

            stems, rate = load_song_folder(Path(track.path).parent)
        else:
            stems = np.stack([track.targets[s].audio.T for s in STEMS]).astype(np.float32)
            rate = int(track.rate)
        if max_s:
            stems = stems[..., : int(max_s * rate)]
        yield track.name, stems, rate


def _songs(data: Path, split: str, max_s: float | None
           ) -> Iterator[tuple[str, np.ndarray, int]]:
    if (data / "dataset.json").is_file():
        return _prepared_songs(data, split, max_s)
    if (data / "test").is_dir():
        return _musdb_songs(data, max_s)
    raise DataError(f"{data} is neither a prepared dataset nor a MUSDB18 root")


def evaluate(
    model: str, data: str | Path, out: str | Path, split: str = "test", lsq_gains: bool = False,
    max_songs: int | None = None, max_s: float | None = None, segment_s: float = 8.0,
    device: str = "auto", progress: bool = False, threads: int | None = None,
    wiener: bool | None = None,
) -> EvalResult:
    """Separate and score every song; write ``scores.json`` and ``scores.csv`` into ``out``.

    Args:
        model: weights file or model name (``builtin``, catalogue, installed; see
            :func:`core.model_store.resolve_model`).
        data: prepared dataset folder or MUSDB18 root.
        out: output folder.
        split: split of a prepared dataset.
        lsq_gains: the paper's least-squares stem gains before scoring.
        wiener: the engine's Wiener post-filter (``None``: the model family's default, on for
            Meta-TasNet).
        max_songs: score at most this many songs.
        max_s: score only the first seconds of each song.
        segment_s: separation window.
        device: compute device.
        progress: show a progress bar on stderr.
        threads: torch CPU threads (``None``: leave the setting alone).

    Returns:
        the scores.
    """
    from core.model_store import resolve_model
    from core.separator import Separator

    path = resolve_model(model)
    separator = Separator(str(path), device=device, segment_s=segment_s, threads=threads,
                          wiener=wiener)
    data = Path(data)
    songs = list(_songs(data, split, max_s))[: max_songs if max_songs else None]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(songs), desc="evaluate", unit="song", file=sys.stderr)
    tracks: dict[str, dict[str, dict[str, float]]] = {}
    for name, stems, rate in songs:
        mix = stems.sum(0)
        est = separator.separate(mix, rate, lsq_gains=lsq_gains)
        tracks[name] = score_track(stems, est, rate)
        log.info("%s: SDR %s", name, {s: round(tracks[name][s]["SDR"], 2) for s in STEMS})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    result = EvalResult(tracks, _median_over_tracks(tracks), str(path), str(data), lsq_gains,
                        separator.wiener)
    write_scores(result, out)
    return result


def write_scores(result: EvalResult, out: str | Path) -> None:
    """``scores.json`` (everything) and ``scores.csv`` (one row per track and stem, plus the
    median rows with track ``median``)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "scores.json") as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=1))
    with atomic_path(folder / "scores.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["track", "stem", *METRICS])
            rows = [*result.tracks.items(), ("median", result.median)]
            for track, scores in rows:
                for stem in STEMS:
                    w.writerow([track, stem, *(f"{scores[stem][m]:.4f}" for m in METRICS)])


def format_table(result: EvalResult) -> str:
    """The paper's table: one row per metric, columns drums, bass, other, vocals (median dB)."""
    head = f"{'':6}" + "".join(f"{s:>9}" for s in STEMS)
    lines = [f"BSSEval v4, median over frames then {len(result.tracks)} track(s)"
             + (" (least-squares stem gains)" if result.lsq_gains else "")
             + (" (Wiener post-filter)" if result.wiener else ""), head]
    for m in METRICS:
        lines.append(f"{m:6}" + "".join(f"{result.median[s][m]:9.2f}" for s in STEMS))
    return "\n".join(lines)
