"""Tempo, beats, downbeats and the time signature.

Beats come from librosa's dynamic-programming beat tracker on an onset-strength envelope; the
grid is extended at the tracked tempo over quiet starts and ends so every bar has a number.
Downbeats: for each candidate metre (4 or 3 beats a bar) and phase, how much the beats of that
phase stand out in low-frequency onsets (kick drums, bass notes) and in harmonic change (chords
change on bar lines). The best phase of the best metre wins; 3/4 must beat 4/4 clearly.
"""

from __future__ import annotations

import numpy as np

#: analysis hop (samples at :data:`core.analysis.ANALYSIS_RATE`).
HOP = 512


def mel_db(y: np.ndarray, sr: int) -> np.ndarray:
    """``(64, hops)`` log-mel power in dB (absolute: 0 dB is power 1) of mono ``y``."""
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=sr, hop_length=HOP, n_mels=64, fmax=8000)
    return librosa.power_to_db(mel, ref=1.0, top_db=None).astype(np.float32)


def onsets_from_mel_db(db: np.ndarray, sr: int, ref_db: float, top_db: float = 80.0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Full-band and low-band (< ~200 Hz) onset strength, one value per hop, from
    :func:`mel_db` floored ``top_db`` below ``ref_db`` (the song's loudest value).

    Returns:
        ``(full, low)``, each float32 ``(hops,)``.
    """
    import librosa

    logmel = np.maximum(db, np.float32(ref_db - top_db))
    full = librosa.onset.onset_strength(S=logmel, sr=sr, hop_length=HOP)
    low = librosa.onset.onset_strength(S=logmel[:8], sr=sr, hop_length=HOP)
    return full.astype(np.float32), low.astype(np.float32)


def onset_envelopes(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-band and low-band (< ~200 Hz) onset strength of a whole mono signal ``y``.

    (:mod:`core.analysis.features` does the same block by block.)
    """
    db = mel_db(y, sr)
    return onsets_from_mel_db(db, sr, float(db.max()))


#: the tempo prior: log-normal, centred here (BPM), ``TEMPO_STD`` octaves wide. Picked on the
#: synthesiser's validation songs (docs/analysis.md): librosa's default (110 BPM, one octave)
#: halved most songs faster than ~140 BPM and doubled some slow ones.
TEMPO_CENTRE = 120.0
TEMPO_STD = 0.8
#: seconds of onset envelope each tempogram column autocorrelates (librosa's default).
AC_SIZE_S = 8.0
#: tempogram columns computed at once (bounds the memory of a long song's tempo estimate).
TEMPO_BLOCK = 2048


def mean_tempogram(onset: np.ndarray, sr: int) -> np.ndarray:
    """librosa's tempogram of ``onset`` averaged over time, ``(win,)``, computed
    :data:`TEMPO_BLOCK` columns at a time (the whole tempogram of a ten-minute song would take
    hundreds of MB)."""
    import librosa

    win = int(librosa.time_to_frames(AC_SIZE_S, sr=sr, hop_length=HOP))
    n = len(onset)
    padded = np.pad(onset.astype(np.float64), (win // 2, win // 2), mode="linear_ramp",
                    end_values=(0, 0))
    total = np.zeros(win)
    for c0 in range(0, n, TEMPO_BLOCK):
        c1 = min(n, c0 + TEMPO_BLOCK)
        tg = librosa.feature.tempogram(onset_envelope=padded[c0:c1 + win - 1], sr=sr,
                                       hop_length=HOP, win_length=win, center=False)
        total += tg[:, :c1 - c0].sum(axis=1)
    return total / max(1, n)


def track_beats(onset: np.ndarray, sr: int, duration: float) -> tuple[float, np.ndarray]:
    """Tempo (BPM) and beat times (seconds) from an onset envelope.

    The tempo is the peak of the mean tempogram weighted by a log-normal prior
    (:data:`TEMPO_CENTRE`, :data:`TEMPO_STD`); librosa's dynamic-programming tracker then
    places the beats at that tempo.

    The tracked beats are extended backwards to the start and forwards to the end at the median
    beat period where the tracker left the song's edges without beats.
    """
    import librosa

    if not np.any(onset > 0):
        return 0.0, np.zeros(0)
    tempo = librosa.feature.tempo(tg=mean_tempogram(onset, sr)[:, None], sr=sr,
                                  hop_length=HOP, start_bpm=TEMPO_CENTRE, std_bpm=TEMPO_STD,
                                  aggregate=None)
    tempo, frames = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=HOP,
                                            bpm=float(np.atleast_1d(tempo)[0]), tightness=100,
                                            trim=False)
    beats = librosa.frames_to_time(frames, sr=sr, hop_length=HOP)
    if len(beats) < 2:
        bpm = float(np.atleast_1d(tempo)[0])
        return bpm, beats
    # the tempo is the slope of beat time over beat number (finer than one hop per beat)
    period = float(np.polyfit(np.arange(len(beats)), beats, 1)[0])
    if not 0.5 * np.median(np.diff(beats)) < period < 2.0 * np.median(np.diff(beats)):
        period = float(np.median(np.diff(beats)))
    head = []
    t = beats[0] - period
    while t >= -0.05 * period:
        head.append(max(t, 0.0))
        t -= period
    tail = []
    t = beats[-1] + period
    while t < duration - 0.25 * period:
        tail.append(t)
        t += period
    beats = np.concatenate([np.array(head[::-1]), beats, np.array(tail)])
    return 60.0 / period, beats


def _at_beats(env: np.ndarray, beats: np.ndarray, sr: int, width: int = 2) -> np.ndarray:
    """Max of ``env`` within ``width`` hops of each beat."""
    frames = np.round(beats * sr / HOP).astype(int)
    out = np.zeros(len(beats), dtype=np.float64)
    for i, f in enumerate(frames):
        a, b = max(0, f - width), min(len(env), f + width + 1)
        out[i] = env[a:b].max() if b > a else 0.0
    return out


def _zscore(x: np.ndarray) -> np.ndarray:
    """Standard scores clipped to +-2.5 (one loud first hit must not decide the metre)."""
    sd = x.std()
    return np.clip((x - x.mean()) / sd, -2.5, 2.5) if sd > 1e-9 else np.zeros_like(x)


def find_downbeats(beats: np.ndarray, low_onset: np.ndarray, beat_chroma: np.ndarray, sr: int
                   ) -> tuple[int, int]:
    """``(beats_per_bar, phase)``: beat ``i`` is a downbeat when ``i % beats_per_bar == phase``.

    Args:
        beats: beat times (seconds).
        low_onset: low-band onset envelope (see :func:`onset_envelopes`).
        beat_chroma: ``(12, len(beats))`` chroma per beat (harmonic change marks bar lines).
        sr: analysis rate.
    """
    n = len(beats)
    if n < 8:
        return 4, 0
    kick = _zscore(_at_beats(low_onset, beats, sr))
    c = beat_chroma / (np.linalg.norm(beat_chroma, axis=0, keepdims=True) + 1e-9)
    change = np.zeros(n)
    change[1:] = 1.0 - np.sum(c[:, 1:] * c[:, :-1], axis=0)
    change = _zscore(change)
    feature = 0.5 * kick + 1.0 * change
    best: dict[int, tuple[float, int]] = {}
    for meter in (4, 3):
        scores = []
        for phase in range(meter):
            on = feature[phase::meter]
            scores.append(float(on.mean() - feature.mean()))
        p = int(np.argmax(scores))
        best[meter] = (scores[p], p)
    if best[3][0] > 1.25 * best[4][0] + 0.1 and best[3][0] > 0.3:
        return 3, best[3][1]
    return 4, best[4][1]
