"""A sung-like voice: additive glottal source shaped by moving formants, with vibrato, pitch
glides, jitter, breath noise and consonants (fricatives, plosives, nasals) per syllable.

The source is a sum of harmonics of the f0 track; each harmonic's amplitude follows the vocal
tract's spectral envelope (a sum of formant resonances) evaluated at its own frequency, so the
formants stay put while the pitch moves. Envelopes are computed at a control rate and
interpolated.
"""

from __future__ import annotations

import numpy as np

from training.synth import dsp
from training.synth.compose import Note

#: vowel -> formant frequencies (Hz) F1..F5 for an adult voice (scaled per singer).
VOWEL_FORMANTS = {
    "a": (800, 1150, 2900, 3900, 4950), "e": (400, 1600, 2700, 3300, 4950),
    "i": (300, 2200, 2950, 3800, 4950), "o": (450, 800, 2830, 3500, 4950),
    "u": (325, 700, 2530, 3500, 4950), "ae": (660, 1700, 2400, 3600, 4800),
    "uh": (600, 1200, 2550, 3500, 4800),
}
FORMANT_BW = np.array([80.0, 90.0, 120.0, 130.0, 140.0])
NASAL = (270, 1000, 2200, 3300, 4400)

FRICATIVES = {"s": (4500, 11000, 0.09), "sh": (2200, 7000, 0.1), "f": (1500, 9000, 0.07),
              "h": (500, 4000, 0.06), "v": (1500, 7000, 0.05)}
PLOSIVES = {"t": (3000, 9000), "k": (1500, 5000), "p": (500, 3000), "d": (2500, 7000),
            "b": (300, 2000), "g": (1200, 4000)}
VOICED_ONSETS = {"l": (360, 1300, 2700), "n": NASAL[:3], "m": (250, 900, 2100),
                 "y": (280, 2200, 3000), "w": (300, 650, 2300), "r": (420, 1300, 1600)}

CONTROL = 64  #: samples per control frame


def _envelope(freqs: np.ndarray, formants: np.ndarray, scale: float) -> np.ndarray:
    """Vocal-tract gain at ``freqs (K, T)`` for ``formants (5, T)``: a cascade of five
    two-pole resonators (Klatt-style), each normalised to unit gain at 0 Hz."""
    env = np.ones_like(freqs)
    f2 = freqs**2
    for i in range(5):
        fi2 = formants[i][None, :] ** 2
        bw = FORMANT_BW[i] * scale
        env *= fi2 / np.sqrt((fi2 - f2) ** 2 + f2 * bw**2)
    return env


def render_vocals(notes: list[Note], frames: int, sr: int, rng: np.random.Generator
                  ) -> np.ndarray:
    """The vocal stem ``(2, frames)`` (centred, dry; reverb is added by the mixer)."""
    if not notes:
        return np.zeros((2, frames))
    scale = rng.uniform(0.85, 1.2)  # vocal tract size (formant scale)
    vib_rate = rng.uniform(4.8, 6.5)
    vib_depth = rng.uniform(20, 70)  # cents
    breath = rng.uniform(0.03, 0.12)  # aspiration noise relative to the voiced part
    tilt = rng.uniform(0.8, 1.3)  # glottal source roll-off with lip radiation (1 = -6 dB/oct)
    glide_time = rng.uniform(0.03, 0.09)
    n_ctrl = frames // CONTROL + 2
    tc = np.arange(n_ctrl) * CONTROL / sr
    # control tracks
    f0 = np.zeros(n_ctrl)
    amp = np.zeros(n_ctrl)
    form = np.tile(np.array(VOWEL_FORMANTS["a"], dtype=np.float64)[:, None] * scale, (1, n_ctrl))
    consonant_events: list[tuple[int, str]] = []
    prev_pitch: float | None = None
    prev_end = -1.0
    for note in notes:
        i0 = int(note.start * sr / CONTROL)
        i1 = min(n_ctrl, int((note.start + note.duration) * sr / CONTROL) + 1)
        if i0 >= n_ctrl or i1 <= i0:
            continue
        t = tc[i0:i1] - note.start
        hz = float(dsp.midi_to_hz(note.pitch))
        track = np.full(i1 - i0, hz)
        if prev_pitch is not None and note.start - prev_end < 0.12:
            # legato: slide from the previous note
            hz_prev = float(dsp.midi_to_hz(prev_pitch))
            k = np.clip(t / glide_time, 0.0, 1.0)
            track = hz_prev * (hz / hz_prev) ** (k * k * (3 - 2 * k))
        else:
            track = track * (1 - 0.03 * np.exp(-t / 0.04))  # scoop up into the note
        ramp = np.clip((t - 0.18) / 0.25, 0.0, 1.0)
        vib = 2 ** (vib_depth / 1200 * ramp * np.sin(2 * np.pi * vib_rate * t
                                                     + rng.uniform(0, 6.28)))
        f0[i0:i1] = track * vib
        attack = np.clip(t / 0.03, 0.0, 1.0)
        release = np.clip((note.duration - t) / 0.05, 0.0, 1.0)
        amp[i0:i1] = note.velocity * attack * release * (1 + 0.1 * ramp * np.sin(
            2 * np.pi * vib_rate * t))
        # vowel formants, with a consonant-shaped start
        cons = note.syllable[:-1] if note.syllable[-2:] not in VOWEL_FORMANTS else \
            note.syllable[:-2]
        vowel = note.syllable[len(cons):] or "a"
        target = np.array(VOWEL_FORMANTS.get(vowel, VOWEL_FORMANTS["a"]), dtype=np.float64) * scale
        seg = np.tile(target[:, None], (1, i1 - i0))
        if cons in VOICED_ONSETS:
            onset = np.concatenate([np.array(VOICED_ONSETS[cons], dtype=np.float64) * scale,
                                    target[3:]])
            k = np.clip(t / 0.07, 0.0, 1.0)[None, :]
            seg = onset[:, None] * (1 - k) + seg * k
            if cons in ("m", "n"):
                amp[i0:i1] *= 0.5 + 0.5 * np.clip(t / 0.06, 0.0, 1.0)
        elif cons:
            consonant_events.append((int(note.start * sr), cons))
        form[:, i0:i1] = seg
        prev_pitch, prev_end = note.pitch, note.start + note.duration
    # smooth formant and amplitude tracks (about 20 ms) to avoid zipper noise
    kernel = np.hanning(max(3, int(0.02 * sr / CONTROL)) | 1)
    kernel /= kernel.sum()
    form = np.stack([np.convolve(row, kernel, mode="same") for row in form])
    amp = np.convolve(amp, kernel, mode="same")
    voiced = f0 > 0
    f0 = np.where(voiced, f0, np.interp(np.arange(n_ctrl), np.flatnonzero(voiced),
                                        f0[voiced]) if voiced.any() else 100.0)
    # jitter / drift
    drift = 1 + 0.004 * np.convolve(rng.standard_normal(n_ctrl), kernel, mode="same")
    f0 = f0 * drift
    # audio-rate f0 and phase
    t_audio = np.arange(frames) / CONTROL
    f0_a = np.interp(t_audio, np.arange(n_ctrl), f0)
    phase = 2 * np.pi * np.cumsum(f0_a / sr)
    amp_a = np.interp(t_audio, np.arange(n_ctrl), amp)
    k_max = int(min(40, (sr * 0.45) / max(80.0, float(f0[voiced].min()) if voiced.any()
                                          else 100.0)))
    harmonics = np.arange(1, k_max + 1)[:, None]
    freqs = harmonics * f0[None, :]
    env = _envelope(freqs, form, scale) / harmonics**tilt
    env[freqs > sr * 0.45] = 0.0
    out = np.zeros(frames)
    active = np.flatnonzero(amp_a > 1e-4)
    if active.size:
        a0, a1 = int(active[0]), int(active[-1]) + 1
        ph = phase[a0:a1]
        ti = t_audio[a0:a1]
        for k in range(k_max):
            ek = np.interp(ti, np.arange(n_ctrl), env[k])
            out[a0:a1] += ek * np.sin((k + 1) * ph)
        out[a0:a1] *= amp_a[a0:a1]
    level = np.sqrt(np.mean(out**2)) + 1e-9
    # breath: noise shaped by the F2/F3 region, following the voice amplitude
    br = dsp.bandpass(rng.standard_normal(frames), 1500 * scale, 6000, sr, 3)
    out += br / (np.sqrt(np.mean(br**2)) + 1e-9) * amp_a * breath * level
    # consonants, a little below the vowels
    for start, cons in consonant_events:
        if cons in FRICATIVES:
            lo, hi, dur = FRICATIVES[cons]
            n = int(dur * sr)
            burst = dsp.bandpass(rng.standard_normal(n), lo, hi, sr, 3)
            burst *= np.sin(np.linspace(0, np.pi, n)) ** 0.7 / (np.std(burst) + 1e-9)
            dsp.add_at(out, start - n // 2, burst * level * rng.uniform(0.2, 0.45))
        elif cons in PLOSIVES:
            lo, hi = PLOSIVES[cons]
            n = int(0.025 * sr)
            burst = dsp.bandpass(rng.standard_normal(n), lo, hi, sr)
            burst *= dsp.exp_decay(n, sr, 0.006) / (np.std(burst) + 1e-9)
            dsp.add_at(out, start - n // 3, burst * level * rng.uniform(0.3, 0.7))
    out = dsp.highpass(out, 80, sr)
    rms = np.sqrt(np.mean(out**2)) + 1e-9
    out /= rms
    return np.stack([out, out])
