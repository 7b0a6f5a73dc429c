"""Key and chords from chroma.

* Chroma: constant-Q chroma (librosa) of the harmonic part of the signal, and a bass chroma from
  the lowest two octaves, C1-B2 (the bass usually plays the chord's root), both averaged per beat.
* Key: the song's mean chroma correlated with major/minor key profiles (Albrecht & Shanahan)
  rotated to all 24 keys; the best correlation wins.
* Chords: every beat gets a score per chord of the vocabulary (:data:`names.QUALITIES` on 12
  roots, plus "no chord"): cosine of the beat's chroma with the chord's template, plus the bass
  chroma at the root, plus a small bonus for chords of the key. A Viterbi pass then picks the
  chord sequence, with changes cheapest on bar lines, dearer on half bars, dearest elsewhere.
"""

from __future__ import annotations

import numpy as np

from core.analysis import names

# Key profiles of C major / C minor: pitch-class distributions of Albrecht & Shanahan (2013).
# They beat the Krumhansl-Kessler probe-tone profiles on our generated songs (0.80 vs 0.60 exact
# keys on 20 songs, bench/bench_analysis.py).
_PROFILE_MAJOR = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080,
                           0.008, 0.081])
_PROFILE_MINOR = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022,
                           0.061, 0.052])

_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

#: (root, quality) per chord state; the last state is "no chord".
CHORDS: tuple[tuple[int, str], ...] = tuple(
    (root, q) for q in names.QUALITIES for root in range(12))


def _templates() -> np.ndarray:
    """``(len(CHORDS), 12)`` unit-norm chord templates (root weighted a little higher)."""
    t = np.zeros((len(CHORDS), 12))
    for i, (root, q) in enumerate(CHORDS):
        intervals = names.QUALITIES[q][0]
        for k, iv in enumerate(intervals):
            t[i, (root + iv) % 12] = 1.2 if k == 0 else 1.0
    return t / np.linalg.norm(t, axis=1, keepdims=True)


_TEMPLATES = _templates()

#: score handicap of four-note chords against triads.
SEVENTH_PENALTY = 0.09


def cqt_db(y: np.ndarray, sr: int, hop: int) -> np.ndarray:
    """``(252, hops)`` constant-Q magnitude in dB (absolute), C1-B7 at 36 bins per octave, of
    mono ``y`` (the harmonic instruments: the caller removes drums where it can)."""
    import librosa

    cqt = np.abs(librosa.cqt(y, sr=sr, hop_length=hop, fmin=librosa.note_to_hz("C1"),
                             n_bins=36 * 7, bins_per_octave=36))
    return librosa.amplitude_to_db(cqt, ref=1.0, top_db=None).astype(np.float32)


def chroma_from_db(db: np.ndarray, ref_db: float, sr: int, hop: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(chroma, bass_chroma)``, each ``(12, hops)``, from :func:`cqt_db` log-compressed to
    0..60 dB below ``ref_db`` (the song's loudest value)."""
    import librosa

    level = np.clip(db - np.float32(ref_db), -60.0, None) + np.float32(60.0)
    chroma = librosa.feature.chroma_cqt(C=level, sr=sr, hop_length=hop, bins_per_octave=36,
                                        n_chroma=12, norm=None)
    bass = librosa.feature.chroma_cqt(C=level[: 36 * 2], sr=sr, hop_length=hop,
                                      bins_per_octave=36, n_chroma=12, norm=None)
    return chroma.astype(np.float32), bass.astype(np.float32)


def chroma_features(y: np.ndarray, sr: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """``(chroma, bass_chroma)`` of a whole mono signal (:mod:`core.analysis.features` does
    the same block by block)."""
    db = cqt_db(y, sr, hop)
    return chroma_from_db(db, float(db.max()), sr, hop)


def beat_sync(feature: np.ndarray, beats: np.ndarray, sr: int, hop: int,
              n_frames: int) -> np.ndarray:
    """Mean of ``feature`` (d, frames) over each beat interval: ``(d, len(beats))``."""
    frames = np.clip(np.round(np.asarray(beats) * sr / hop).astype(int), 0, n_frames)
    edges = np.append(frames, n_frames)
    out = np.zeros((feature.shape[0], len(beats)))
    for i in range(len(beats)):
        a, b = edges[i], max(edges[i + 1], edges[i] + 1)
        seg = feature[:, a:min(b, feature.shape[1])]
        if seg.shape[1]:
            out[:, i] = seg.mean(axis=1)
    return out


def estimate_key(chroma_mean: np.ndarray) -> tuple[int, str]:
    """``(tonic pitch class, "major"|"minor")`` best correlated with the mean chroma."""
    best = (-2.0, 0, "major")
    x = chroma_mean - chroma_mean.mean()
    for mode, prof in (("major", _PROFILE_MAJOR), ("minor", _PROFILE_MINOR)):
        for tonic in range(12):
            p = np.roll(prof, tonic)
            p = p - p.mean()
            r = float(x @ p / (np.linalg.norm(x) * np.linalg.norm(p) + 1e-12))
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def _in_key(root: int, quality: str, tonic: int, mode: str) -> bool:
    scale = _MAJOR_SCALE if mode == "major" else _MINOR_SCALE
    pcs = {(tonic + s) % 12 for s in scale}
    return all((root + iv) % 12 in pcs for iv in names.QUALITIES[quality][0])


def chord_scores(chroma: np.ndarray, bass: np.ndarray, tonic: int, mode: str) -> np.ndarray:
    """``(len(CHORDS) + 1, beats)`` scores (higher is better); the last row is "no chord"."""
    energy = chroma.sum(axis=0)
    c = chroma / (np.linalg.norm(chroma, axis=0, keepdims=True) + 1e-9)
    b = bass / (bass.sum(axis=0, keepdims=True) + 1e-9)
    scores = _TEMPLATES @ c  # cosine
    roots = np.array([r for r, _ in CHORDS])
    scores += 0.35 * b[roots]
    bonus = np.array([0.06 if _in_key(r, q, tonic, mode) else 0.0 for r, q in CHORDS])
    scores += bonus[:, None]
    # triads are the default; sevenths must earn their extra note (0.09: the best of 0.03-0.12
    # for the full-symbol recall on 12 songs of the synthesiser's validation split)
    sevenths = np.array([len(names.QUALITIES[q][0]) == 4 for _, q in CHORDS])
    scores[sevenths] -= SEVENTH_PENALTY
    # "no chord" where the beat is nearly silent
    quiet = energy < 0.05 * (np.percentile(energy, 95) + 1e-9)
    none_row = np.where(quiet, 2.0, 0.3)[None, :]
    return np.vstack([scores, none_row])


def decode_chords(scores: np.ndarray, beat_in_bar: np.ndarray, beats_per_bar: int
                  ) -> np.ndarray:
    """Viterbi path (state index per beat) through ``scores`` with position-dependent change costs.

    Args:
        scores: ``(states, beats)`` from :func:`chord_scores`.
        beat_in_bar: 1-based position of each beat in its bar.
        beats_per_bar: the metre.
    """
    n_states, n = scores.shape
    if n == 0:
        return np.zeros(0, dtype=int)
    half = beats_per_bar // 2 + 1 if beats_per_bar % 2 == 0 else -1
    cost = np.where(beat_in_bar == 1, 0.10, np.where(beat_in_bar == half, 0.25, 0.55))
    delta = scores[:, 0].copy()
    back = np.zeros((n, n_states), dtype=np.int32)
    for t in range(1, n):
        best_prev = int(np.argmax(delta))
        stay = delta
        switch = delta[best_prev] - cost[t]
        choose_switch = switch > stay
        back[t] = np.where(choose_switch, best_prev, np.arange(n_states))
        delta = np.where(choose_switch, switch, stay) + scores[:, t]
    path = np.zeros(n, dtype=int)
    path[-1] = int(np.argmax(delta))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def state_label(state: int, flats: bool) -> str:
    """Chord label of a Viterbi state."""
    if state >= len(CHORDS):
        return names.NO_CHORD
    root, quality = CHORDS[state]
    return names.chord_label(root, quality, flats)
