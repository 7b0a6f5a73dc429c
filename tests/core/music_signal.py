"""A small test song built from sine partials and noise: a known tempo, metre, key and chords.

Used by the analysis tests (core, CLI, GUI): the truth is known by construction.
"""

from __future__ import annotations

import numpy as np

#: MIDI notes (root position triads around C4) of the chords used.
CHORD_TONES = {
    "C": (48, 60, 64, 67), "Am": (45, 57, 60, 64), "F": (41, 57, 60, 65), "G": (43, 55, 59, 62),
    "Dm": (38, 57, 62, 65), "E7": (40, 56, 59, 62), "E": (40, 56, 59, 64),
}


def _tone(midi: float, n: int, sr: int, partials: int = 4) -> np.ndarray:
    f = 440.0 * 2 ** ((midi - 69) / 12)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k in range(1, partials + 1):
        if f * k < sr / 2:
            out += np.sin(2 * np.pi * f * k * t) / k
    return out


def make_song(chords: list[str], bpm: float = 120.0, beats_per_bar: int = 4, sr: int = 22050,
              start_silence: float = 0.0) -> tuple[np.ndarray, dict]:
    """Stereo float32 ``(2, frames)`` song (one chord per bar) and its truth.

    Each bar: a kick on beat 1 (and on beat 3 in 4/4), a softer click on every beat, the chord
    held for the bar with a bass note on its root.

    Returns:
        ``(audio, truth)`` with truth keys ``beats``, ``downbeats``, ``tempo``, ``stems``
        (``drums``, ``bass``, ``other`` arrays of the same shape).
    """
    beat = 60.0 / bpm
    bar = beats_per_bar * beat
    lead = int(start_silence * sr)
    n = lead + int(round(len(chords) * bar * sr)) + sr // 2
    drums = np.zeros(n)
    bass = np.zeros(n)
    other = np.zeros(n)
    rng = np.random.default_rng(0)
    kick_len = int(0.12 * sr)
    tk = np.arange(kick_len) / sr
    kick = np.sin(2 * np.pi * (50 + 60 * np.exp(-tk * 40)) * tk) * np.exp(-tk * 25)
    click_len = int(0.03 * sr)
    click = rng.standard_normal(click_len) * np.exp(-np.arange(click_len) / (0.005 * sr))
    beats, downs = [], []
    for b, name in enumerate(chords):
        t0 = lead + int(round(b * bar * sr))
        seg = int(round(bar * sr))
        tones = CHORD_TONES[name]
        env = np.minimum(1.0, np.arange(seg) / (0.01 * sr)) * np.exp(-np.arange(seg) / sr * 0.8)
        bass[t0:t0 + seg] += 0.5 * _tone(tones[0] - 12 * (tones[0] >= 45), seg, sr, 3) * env
        for m in tones[1:]:
            other[t0:t0 + seg] += 0.18 * _tone(m, seg, sr) * env
        downs.append(t0 / sr)
        for k in range(beats_per_bar):
            tb = t0 + int(round(k * beat * sr))
            beats.append(tb / sr)
            drums[tb:tb + click_len] += 0.25 * click[: max(0, min(click_len, n - tb))]
            if k == 0 or (beats_per_bar == 4 and k == 2):
                drums[tb:tb + kick_len] += 0.9 * kick[: max(0, min(kick_len, n - tb))]
    stems = {name: np.stack([x, x]).astype(np.float32)
             for name, x in (("drums", drums), ("bass", bass), ("other", other))}
    mix = stems["drums"] + stems["bass"] + stems["other"]
    peak = np.abs(mix).max()
    mix = (mix / peak * 0.8).astype(np.float32)
    stems = {k: (v / peak * 0.8).astype(np.float32) for k, v in stems.items()}
    return mix, {"beats": np.array(beats), "downbeats": np.array(downs), "tempo": bpm,
                 "stems": stems}
