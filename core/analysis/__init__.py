"""Musical analysis of a song: tempo, beats, downbeats, time signature, key and chords.

``analyze(audio, sample_rate)`` returns an :class:`Analysis`. Given separated stems it listens to
drums + bass for the beat and to the pitched stems (without drums) for key and chords, which is
easier than the full mixture. Built on librosa (an optional extra: ``pip install
'stemweave[analysis]'``); :func:`available` says whether it is installed. No Qt here.

Figures (accuracy against the synthesiser's truth): docs/analysis.md.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Mapping

import numpy as np

from core.analysis import features, harmony, names, rhythm
from core.analysis.result import Analysis, ChordSpan
from core.errors import AnalysisError

log = logging.getLogger(__name__)

#: rate everything is analysed at (Hz).
ANALYSIS_RATE = features.ANALYSIS_RATE

#: the message shown when librosa is missing.
INSTALL_HINT = ("musical analysis needs librosa: install it with "
                "pip install 'stemweave[analysis]' (or pip install librosa)")

__all__ = ["ANALYSIS_RATE", "INSTALL_HINT", "Analysis", "ChordSpan", "analyze", "available"]


def available() -> bool:
    """Whether the analysis libraries are installed."""
    return importlib.util.find_spec("librosa") is not None


def analyze(audio: np.ndarray, sample_rate: int, *,
            stems: Mapping[str, np.ndarray] | None = None,
            progress: Callable[[float], None] | None = None) -> Analysis:
    """Analyse a song.

    Args:
        audio: the mixture, float32 ``(channels, frames)``.
        sample_rate: its rate in Hz.
        stems: optional separated stems by name (``"drums"``, ``"bass"``, ``"other"``,
            ``"vocals"``), each ``(channels, frames)`` at ``sample_rate``.
        progress: called with the fraction done (0..1).

    Returns:
        the song's :class:`Analysis`.

    Raises:
        AnalysisError: librosa is missing, or the audio is empty or too short (< 2 s).
    """
    if not available():
        raise AnalysisError(INSTALL_HINT)
    def report(f: float) -> None:
        if progress is not None:
            progress(float(f))

    sr = ANALYSIS_RATE
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2):
        raise AnalysisError("audio must be (channels, frames)")
    mix = features.Signal([audio], sample_rate)
    duration = mix.frames_in / sample_rate
    if duration < 2.0:
        raise AnalysisError(f"the song is too short to analyse ({duration:.1f} s; 2 s needed)")
    stems = dict(stems or {})
    report(0.05)
    # the beat tracker does better on the whole mix (the pitched stems mark beats too); the kick
    # drum alone marks the bar lines more clearly; bass + other (no drums, no vocals) carry the
    # harmony (all pitched stems when those are silent); the mix's harmonic part otherwise
    drums = features.Signal([stems["drums"]], sample_rate) if "drums" in stems else None
    if drums is not None and drums.silent():
        drums = None
    harm = None
    pitched = [s for s in ("bass", "other", "vocals") if s in stems]
    if pitched and "drums" in stems:
        harm = features.Signal([stems[s] for s in ("bass", "other") if s in stems], sample_rate)
        if harm.silent():
            harm = features.Signal([stems[s] for s in pitched], sample_rate)
    source = "mix" if harm is None else "stems"
    feats = features.extract(mix, low_from=drums, harmony_from=harm,
                             progress=lambda f: report(0.05 + 0.75 * f))
    tempo, beats = rhythm.track_beats(feats.onset, sr, duration)
    low, chroma, bass = feats.low, feats.chroma, feats.bass
    report(0.85)
    n_frames = chroma.shape[1]
    if len(beats) < 4 or tempo <= 0:
        return Analysis(tempo_bpm=float(tempo), beats_per_bar=4, key="C major",
                        beats=tuple(float(b) for b in beats), downbeats=(),
                        chords=(ChordSpan(0.0, duration, names.NO_CHORD),), duration=duration,
                        source=source)
    beat_chroma = harmony.beat_sync(chroma, beats, sr, rhythm.HOP, n_frames)
    beat_bass = harmony.beat_sync(bass, beats, sr, rhythm.HOP, n_frames)
    meter, phase = rhythm.find_downbeats(beats, low, beat_chroma, sr)
    tonic, mode = harmony.estimate_key(chroma.mean(axis=1))
    flats = names.uses_flats(tonic, mode)
    beat_in_bar = (np.arange(len(beats)) - phase) % meter + 1
    scores = harmony.chord_scores(beat_chroma, beat_bass, tonic, mode)
    path = harmony.decode_chords(scores, beat_in_bar, meter)
    report(0.95)
    spans: list[ChordSpan] = []
    edges = [*(float(b) for b in beats), duration]
    for i, state in enumerate(path):
        label = harmony.state_label(int(state), flats)
        start, end = (0.0 if i == 0 else edges[i]), edges[i + 1]
        if spans and spans[-1].label == label:
            spans[-1] = ChordSpan(spans[-1].start, end, label)
        else:
            spans.append(ChordSpan(start, end, label))
    beat_tuple = tuple(round(float(b), 4) for b in beats)
    downbeats = tuple(b for i, b in enumerate(beat_tuple) if i % meter == phase)
    report(1.0)
    return Analysis(tempo_bpm=float(tempo), beats_per_bar=meter, key=names.key_name(tonic, mode),
                    beats=beat_tuple, downbeats=downbeats, chords=tuple(spans),
                    duration=duration, source=source)
