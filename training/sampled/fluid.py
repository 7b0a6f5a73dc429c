"""Offline rendering of note lists through FluidSynth (pyfluidsynth's binding of libfluidsynth).

FluidSynth's own reverb and chorus are switched off (production adds effects per stem), output
is read as float (``fluid_synth_write_float``) so silence stays exactly zero, and one synthesiser
per render is made (cheap with dynamic sample loading: only the preset played is read), so no
state of one render reaches another.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import DataError

log = logging.getLogger(__name__)

#: General MIDI percussion keys for the composer's drum names (first choice, alternatives).
DRUM_KEYS: dict[str, tuple[int, ...]] = {
    "kick": (36, 35), "snare": (38, 40), "hat_closed": (42, 44), "hat_open": (46,),
    "ride": (51, 59), "crash": (49, 57), "tom_hi": (50, 48), "tom_mid": (47, 45),
    "tom_lo": (43, 41),
}
PITCH_BEND_RANGE = 12  #: semitones, set with RPN 0 on every channel used


@dataclass(frozen=True)
class Event:
    """A note to play: onset and duration (s), MIDI pitch (float: rounded, the rest bent),
    velocity 0..1, and an optional glide from a previous pitch over ``glide_s``."""

    start: float
    duration: float
    pitch: float
    velocity: float
    glide_from: float | None = None
    glide_s: float = 0.06


def _load_library():  # noqa: ANN202 - the ctypes module object
    try:
        import fluidsynth  # pyfluidsynth
    except (ImportError, OSError) as exc:  # the wheel imports libfluidsynth at import time
        raise DataError("the sampled song source needs FluidSynth: install the 'fluidsynth' "
                        "Debian package and pyfluidsynth (bash scripts/setup_training.sh)"
                        ) from exc
    write = fluidsynth._fl.fluid_synth_write_float
    write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                      ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    write.restype = ctypes.c_int
    set_gen = fluidsynth._fl.fluid_synth_set_gen
    set_gen.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_float]
    set_gen.restype = ctypes.c_int
    return fluidsynth, write, set_gen


class FontSynth:
    """One FluidSynth instance with one SoundFont loaded, rendering offline at ``rate``, once:
    a synthesiser that has played sounds different afterwards (a preset's first-use set-up,
    release tails), so every render gets a new one (:func:`render_events`)."""

    def __init__(self, path: Path, rate: int) -> None:
        fluidsynth, self._write, self._set_gen = _load_library()
        self.rate = int(rate)
        self.path = Path(path)
        self._synth = fluidsynth.Synth(gain=0.4, samplerate=float(rate), channels=16)
        # dynamic sample loading: only the presets played are read (an SF3 bank otherwise
        # decompresses every sample on load, ~20 s for MuseScore's)
        for key, value in (("synth.reverb.active", 0), ("synth.chorus.active", 0),
                           ("synth.polyphony", 256), ("synth.dynamic-sample-loading", 1)):
            self._synth.setting(key, value)
        self._used = False
        self._sfid = self._synth.sfload(str(path))
        if self._sfid < 0:
            raise DataError(f"FluidSynth could not load {path}")

    def presets(self, bank: int) -> list[int]:
        """Preset numbers that exist in ``bank``."""
        return [p for p in range(128) if self._synth.sfpreset_name(self._sfid, bank, p)]

    def render(self, events: list[Event], frames: int, bank: int, preset: int,
               pan: float = 0.0, modulation: int = 0,
               generators: dict[int, float] | None = None) -> np.ndarray:
        """Play ``events`` on one channel with ``(bank, preset)``; stereo ``(2, frames)``.

        Args:
            events: the notes.
            frames: output length (notes past it are not started).
            bank: 0 for melodic presets, 128 for GM drum kits (or a drums-only font's bank).
            preset: program number.
            pan: -1 (left) .. 1 (right).
            modulation: MIDI CC1 (the font's vibrato depth), 0..127.
            generators: SoundFont generator offsets for the channel, ``{number: offset}``
                (:mod:`training.sampled.timbre`), added to every voice the preset starts.

        Raises:
            RuntimeError: on a second call (make a new synthesiser).
            DataError: FluidSynth refused a generator.
        """
        s = self._synth
        if self._used:
            raise RuntimeError("a FontSynth renders once")
        self._used = True
        chan = 0
        s.program_select(chan, self._sfid, bank, preset)
        s.cc(chan, 10, int(np.clip(64 + pan * 63, 0, 127)))
        s.cc(chan, 7, 100)
        s.cc(chan, 1, int(np.clip(modulation, 0, 127)))
        for cc, val in ((101, 0), (100, 0), (6, PITCH_BEND_RANGE), (38, 0)):
            s.cc(chan, cc, val)
        for number, offset in (generators or {}).items():
            if self._set_gen(s.synth, chan, int(number), float(offset)) != 0:
                raise DataError(f"FluidSynth refused generator {number} = {offset}")
        # (frame, order, kind, key, value): note-offs before note-ons at the same frame
        timeline: list[tuple[int, int, str, int, int]] = []
        sr = self.rate
        for ev in events:
            a = int(round(ev.start * sr))
            if a >= frames or ev.duration <= 0:
                continue
            key = int(round(ev.pitch))
            if not 0 <= key <= 127:
                continue
            b = max(a + 1, int(round((ev.start + ev.duration) * sr)))
            vel = int(np.clip(round(15 + 112 * ev.velocity), 1, 127))
            fine = ev.pitch - key
            if ev.glide_from is not None and bank != 128:
                start_bend = ev.glide_from - key
                steps = 8
                for k in range(steps + 1):
                    t = a + int(k / steps * ev.glide_s * sr)
                    bend = start_bend + (fine - start_bend) * k / steps
                    timeline.append((t, 1, "bend", 0, self._bend_value(bend)))
            elif bank != 128:
                timeline.append((a, 1, "bend", 0, self._bend_value(fine)))
            timeline.append((a, 2, "on", key, vel))
            timeline.append((b, 0, "off", key, 0))
        timeline.sort(key=lambda e: (e[0], e[1]))
        out = np.zeros((2, frames), dtype=np.float32)
        pos = 0
        for frame, _, kind, key, value in timeline:
            frame = min(frame, frames)
            if frame > pos:
                self._run(out, pos, frame)
                pos = frame
            if kind == "on":
                s.noteon(chan, key, value)
            elif kind == "off":
                s.noteoff(chan, key)
            else:
                s.pitch_bend(chan, value)
        if pos < frames:
            self._run(out, pos, frames)
        return out

    @staticmethod
    def _bend_value(semitones: float) -> int:
        """pyfluidsynth's pitch_bend takes -8192..8191 around 0."""
        return int(np.clip(round(semitones / PITCH_BEND_RANGE * 8192), -8192, 8191))

    def _run(self, out: np.ndarray, a: int, b: int) -> None:
        """Synthesise frames ``a:b`` straight into the rows of ``out`` (C-contiguous float32)."""
        self._write(self._synth.synth, b - a, out[0, a:b].ctypes.data, 0, 1,
                    out[1, a:b].ctypes.data, 0, 1)

    def close(self) -> None:
        """Free the synthesiser."""
        self._synth.delete()


def render_events(path: Path, rate: int, events: list[Event], frames: int, bank: int,
                  preset: int, pan: float = 0.0, modulation: int = 0,
                  generators: dict[int, float] | None = None) -> np.ndarray:
    """Render on a new synthesiser (see :meth:`FontSynth.render`): the output depends on the
    arguments only."""
    synth = FontSynth(path, rate)
    try:
        return synth.render(events, frames, bank, preset, pan, modulation, generators)
    finally:
        synth.close()


def presets(path: Path, rate: int, bank: int) -> list[int]:
    """Preset numbers of ``bank`` in the font at ``path``."""
    synth = FontSynth(path, rate)
    try:
        return synth.presets(bank)
    finally:
        synth.close()
