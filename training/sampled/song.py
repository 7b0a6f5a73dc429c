"""Render a composed song with sampled instruments, sung vocals and production."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from core.errors import DataError
from training.sampled import fonts as fontlib
from training.sampled import production, voices
from training.sampled.fluid import DRUM_KEYS, Event, presets, render_events
from training.sampled.timbre import check_amount, random_timbre
from training.synth.compose import Note, SongPlan, plan_song
from training.synth.song import TRAIN_RATE
from training.synth.vocals import render_vocals

log = logging.getLogger(__name__)

#: General MIDI programs per composer instrument, and the production role of each.
PROGRAMS: dict[str, tuple[int, ...]] = {
    "piano": (0, 1, 2, 3, 6, 7),
    "epiano": (4, 5, 11, 16),
    "guitar": (24, 25, 26, 27, 28, 29, 30),
    "strings": (40, 42, 44, 48, 49, 50),
    "pad": (51, 88, 89, 90, 91, 92, 94, 95),
    "organ": (16, 17, 18, 19, 21),
    "brass": (56, 57, 61, 62, 64, 65, 66, 68, 71, 73),
    "pluck": (8, 10, 12, 13, 45, 46, 104, 105, 80, 81),
}
BASS_PROGRAMS = (32, 33, 34, 35, 36, 37, 38, 39)
ROLE_OF = {"piano": "keys", "epiano": "keys", "pluck": "keys", "guitar": "guitar",
           "strings": "sustained", "pad": "sustained", "organ": "sustained",
           "brass": "sustained"}
#: vocal sources per split with their probabilities. The procedural formant singer is a
#: training timbre; validation and test sing with voices training never used.
VOCAL_SOURCES: dict[str, tuple[tuple[str, float], ...]] = {
    "train": (("formant", 0.3), ("speech", 0.4), ("choir", 0.3)),
    "valid": (("speech", 0.5), ("choir", 0.5)),
    "test": (("speech", 0.5), ("choir", 0.5)),
}
#: espeak-ng voices by split (disjoint).
SPEECH_VOICES: dict[str, tuple[str, ...]] = {
    "train": voices.ESPEAK_VOICES,
    "valid": ("en+f1", "es+m1", "de+m3"),
    "test": ("en+f5", "en+m6", "it+m4", "en-us+f3", "pt+m2"),
}


@dataclass
class SampledSong:
    """A rendered song: ``stems (4, 2, frames)`` float32 (drums, bass, other, vocals; their sum
    is the mixture), the composition, and what rendered each stem."""

    stems: np.ndarray
    plan: SongPlan
    info: dict[str, str] = field(default_factory=dict)


def _events(notes: list[Note]) -> list[Event]:
    return [Event(n.start, n.duration, n.pitch, n.velocity, n.glide_from) for n in notes]


def _pick(rng: np.random.Generator, items: tuple) -> object:  # noqa: ANN401
    return items[int(rng.integers(len(items)))]


def _norm(x: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2))
    return x / rms * 0.1 if rms > 1e-9 else x * 0.0


def render_sampled_song(rng: np.random.Generator, seconds: float, split: str = "train",
                        sample_rate: int = TRAIN_RATE,
                        extra_fonts: tuple[str, ...] = (), timbre: float = 0.0) -> SampledSong:
    """Compose and render one song with the SoundFonts of ``split``.

    Args:
        rng: the song's generator (``training.synth.song_rng(seed, index, split)``).
        seconds: output length.
        split: ``train``, ``valid`` or ``test``: decides the fonts and voices
            (:mod:`training.sampled.fonts`).
        sample_rate: output rate in Hz.
        extra_fonts: font families added to the training split's
            (:data:`training.sampled.fonts.EXTRA_TRAIN_FAMILIES`).
        timbre: 0 (every preset as its font has it) .. 1: how far bass, "other" parts and sung
            patches may be varied (:mod:`training.sampled.timbre`); the variants come from a
            generator of their own, so ``timbre`` changes sounds, not the composition.

    Returns:
        the song; silence in a stem is exact digital silence.

    Raises:
        DataError: bad length or timbre amount, or no SoundFont of the split is installed.
    """
    if seconds <= 0:
        raise DataError("song length must be positive")
    check_amount(timbre)
    sr = int(sample_rate)
    frames = int(round(seconds * sr))
    installed = fontlib.available_fonts(split, tuple(extra_fonts))
    gm = tuple(f for f in installed if f.kind == "gm")
    kits = tuple(f for f in installed if f.kind == "drums")
    plan = plan_song(rng, seconds)
    # drawn only when asked for: songs of a seed without --timbre stay what they were
    timbre_rng = np.random.default_rng(rng.integers(2**63)) if timbre > 0 else None

    def varied(kind: str) -> dict[int, float] | None:
        return None if timbre_rng is None else random_timbre(timbre_rng, timbre, kind)

    tail = frames + sr
    info: dict[str, str] = {}

    # drums: a GM kit of one of the split's banks, or a drums-only font
    if kits and rng.random() < 0.4:
        font = _pick(rng, kits)
        kit_bank, kit = 0, 0
    else:
        font = _pick(rng, gm)
        kit_bank = 128
        kit = int(_pick(rng, tuple(presets(font.path(), sr, 128) or [0])))
    variant = {name: int(_pick(rng, keys)) for name, keys in DRUM_KEYS.items()}
    hits = [Event(h.start, 0.25, variant[h.name], h.velocity) for h in plan.drums
            if h.name in variant]
    drums = render_events(font.path(), sr, hits, tail, kit_bank, kit)
    drums = production.apply_chain(production.stem_chain("drums", rng), drums, sr)
    info["drums"] = f"{font.name} bank {kit_bank} kit {kit}"

    # bass
    font = _pick(rng, gm)
    program = int(_pick(rng, BASS_PROGRAMS))
    bass = render_events(font.path(), sr, _events(plan.bass), tail, 0, program,
                         pan=rng.uniform(-0.1, 0.1), generators=varied("bass"))
    bass = production.apply_chain(production.stem_chain("bass", rng), bass, sr)
    info["bass"] = f"{font.name} program {program}"

    # other: each part on its own, with its own effects
    other = np.zeros((2, tail))
    names = []
    for part in plan.other_parts:
        font = _pick(rng, gm)
        program = int(_pick(rng, PROGRAMS[part.instrument]))
        x = render_events(font.path(), sr, _events(part.notes), tail, 0, program, pan=part.pan,
                          modulation=int(rng.integers(0, 40)), generators=varied("melodic"))
        x = production.apply_chain(production.stem_chain(ROLE_OF[part.instrument], rng), x, sr)
        other += _norm(x) * part.gain
        names.append(f"{font.name} program {program}")
    info["other"] = ", ".join(names)

    # vocals
    sources, weights = zip(*VOCAL_SOURCES[split])
    source = str(rng.choice(sources, p=np.array(weights) / sum(weights)))
    if source == "formant":
        vocals = render_vocals(plan.vocals, tail, sr, rng)
        info["vocals"] = "formant singer"
    elif source == "speech":
        voice_rng = np.random.default_rng(rng.integers(2**63))
        vocals = voices.render_speech_singer(plan.vocals, tail, sr, voice_rng,
                                             SPEECH_VOICES[split])
        info["vocals"] = "espeak-ng singer"
    else:
        font = _pick(rng, gm)
        program = int(_pick(rng, voices.VOICE_PROGRAMS))
        vocals = render_events(font.path(), sr, voices.voice_events(plan.vocals), tail, 0,
                               program, modulation=int(rng.integers(20, 90)),
                               generators=varied("voice"))
        info["vocals"] = f"{font.name} program {program}"
    vocals = production.apply_chain(production.stem_chain("vocals", rng), vocals, sr)

    levels_db = (rng.uniform(-4, 2), rng.uniform(-5, 1), rng.uniform(-6, 0), rng.uniform(-3, 3))
    stems = np.stack([_norm(x) * 10 ** (db / 20)
                      for x, db in zip((drums, bass, other, vocals), levels_db)])
    stems = production.bus_process(stems, sr, rng)[..., :frames]
    peak = np.abs(stems.sum(axis=0)).max()
    if peak > 0:
        stems *= 0.89 / peak * 10 ** (rng.uniform(-6, 0) / 20)
    stems[np.abs(stems) < 1e-6] = 0.0  # -120 dB gate: silence is digital silence
    return SampledSong(stems.astype(np.float32), plan, info)

