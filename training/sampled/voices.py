"""Vocal stems from more than one kind of voice.

* ``formant``: the procedural formant singer of :mod:`training.synth.vocals`;
* ``speech``: espeak-ng speaks each syllable (many voices and languages), and Rubber Band
  (pedalboard's ``time_stretch``, formants preserved) fits it to the note's length and pitch,
  with vibrato on long notes, legato glides and breaths between phrases;
* ``choir``: General MIDI voice patches (choir "aahs", voice "oohs", synth voice) through
  FluidSynth, with glides as pitch bends and the font's vibrato.

Every function returns a dry, centred stereo stem; reverb and the rest come from production.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess

import numpy as np

from core.errors import DataError
from core.resample import resample
from training.synth import dsp
from training.synth.compose import Note

log = logging.getLogger(__name__)

#: espeak-ng voices (language + variant) the speech singer draws from.
ESPEAK_VOICES = ("en+f2", "en+f3", "en+f4", "en+m2", "en+m3", "en-us+f1", "en-us+m1", "it+f2",
                 "es+f3", "es+m3", "de+f1", "fr+m4", "pt+f5")
#: General MIDI programs that sound like voices.
VOICE_PROGRAMS = (52, 53, 54)
ESPEAK_RATE = 22050


def _espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise DataError("the speech singer needs espeak-ng: install the 'espeak-ng' Debian "
                        "package (bash scripts/setup_training.sh)")
    return path


@functools.lru_cache(maxsize=512)
def speak(text: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, float]:
    """espeak-ng's rendering of ``text``: mono float32 at 22.05 kHz, trimmed of silence, and
    its median fundamental frequency in Hz (0 where nothing voiced was found)."""
    import soundfile as sf

    cmd = [_espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text]
    try:
        wav = subprocess.run(cmd, capture_output=True, check=True, timeout=30).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        raise DataError(f"espeak-ng failed on {text!r}: {exc}") from exc
    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if rate != ESPEAK_RATE:
        x = resample(x[None], rate, ESPEAK_RATE)[0]
    loud = np.flatnonzero(np.abs(x) > 0.01 * (np.abs(x).max() + 1e-12))
    if loud.size == 0:
        return np.zeros(0, np.float32), 0.0
    x = x[loud[0]:loud[-1] + 1]
    return x, _median_f0(x, ESPEAK_RATE)


def _median_f0(x: np.ndarray, rate: int) -> float:
    """Median pitch of the voiced 40-ms frames of ``x`` by normalised autocorrelation."""
    n = int(0.04 * rate)
    lo, hi = int(rate / 500), int(rate / 60)
    pitches = []
    for a in range(0, len(x) - n, n // 2):
        f = x[a:a + n] - x[a:a + n].mean()
        energy = float(f @ f)
        if energy < 1e-6:
            continue
        ac = np.correlate(f, f, "full")[n - 1:] / energy
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            pitches.append(rate / lag)
    return float(np.median(pitches)) if pitches else 0.0


def _breath(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(n)
    noise = dsp.bandpass(noise, rng.uniform(600, 1200), rng.uniform(3000, 6000), sr, 2)
    env = np.sin(np.linspace(0, np.pi, n)) ** 2
    return noise * env


def render_speech_singer(notes: list[Note], frames: int, sr: int, rng: np.random.Generator,
                         voice_names: tuple[str, ...] = ESPEAK_VOICES) -> np.ndarray:
    """Sing ``notes`` with espeak-ng syllables in one of ``voice_names``; a dry stereo stem
    ``(2, frames)``."""
    import pedalboard

    out = np.zeros(frames)
    if not notes:
        return np.stack([out, out])
    voice = str(rng.choice(voice_names))
    speed = int(rng.integers(70, 120))
    pitch = int(rng.integers(20, 80))
    vib_rate, vib_depth = rng.uniform(4.8, 6.2), rng.uniform(0.15, 0.45)  # Hz, semitones
    breath_level = rng.uniform(0.0, 0.08)
    prev_end = -10.0
    for note in notes:
        start = int(note.start * sr)
        if start >= frames or note.duration <= 0:
            continue
        text = note.syllable or "la"
        syl, f0 = speak(text, voice, speed, pitch)
        if syl.size < 64 or f0 <= 0:
            syl, f0 = speak("la", voice, speed, pitch)
            if syl.size < 64 or f0 <= 0:
                continue
        target = float(dsp.midi_to_hz(note.pitch))
        shift = 12 * np.log2(target / f0)
        length = max(0.05, note.duration * rng.uniform(0.9, 1.05))
        stretch = float(np.clip(syl.size / ESPEAK_RATE / length, 0.15, 6.0))
        shift_track: float | np.ndarray = float(shift)
        if note.duration > 0.45 or note.glide_from is not None:
            t = np.arange(syl.size) / ESPEAK_RATE / stretch  # output time of each input sample
            track = np.full(syl.size, shift, dtype=np.float64)
            if note.duration > 0.45:
                depth = vib_depth * np.clip((t - 0.2) / 0.3, 0, 1)
                track += depth * np.sin(2 * np.pi * vib_rate * t)
            if note.glide_from is not None:
                g = np.clip(t / 0.08, 0, 1)
                track += (note.glide_from - note.pitch) * (1 - g)
            shift_track = track
        y = pedalboard.time_stretch(syl[None], ESPEAK_RATE, stretch, shift_track,
                                    preserve_formants=True)[0]
        y = resample(y[None].astype(np.float32), ESPEAK_RATE, sr)[0]
        y = dsp.fade_out(dsp.fade_in(y.astype(np.float64), sr, 0.01), sr, 0.03)
        peak = np.abs(y).max()
        if peak > 0:
            y = y / peak * (0.4 + 0.6 * note.velocity)
        if note.start - prev_end > 0.35 and breath_level > 0.01:
            n = int(rng.uniform(0.15, 0.3) * sr)
            dsp.add_at(out, start - n - int(0.03 * sr), _breath(n, sr, rng) * breath_level)
        dsp.add_at(out, start, y)
        prev_end = note.start + note.duration
    return np.stack([out, out])


def voice_events(notes: list[Note]):  # noqa: ANN201 - list[fluid.Event]
    """FluidSynth events for a vocal line (legato notes glide)."""
    from training.sampled.fluid import Event

    events = []
    prev: Note | None = None
    for n in notes:
        legato = prev is not None and n.start - (prev.start + prev.duration) < 0.1
        events.append(Event(n.start, n.duration, n.pitch, n.velocity,
                            n.glide_from if legato else None, 0.07))
        prev = n
    return events
