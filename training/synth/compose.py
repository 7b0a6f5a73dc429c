"""Procedural composition: tempo, key, chord progression, sections and per-stem note lists.

A :class:`SongPlan` is pure data (times in seconds, pitches as MIDI numbers); the renderers in
:mod:`training.synth.instruments` turn it into audio. All choices come from one
``numpy.random.Generator`` so a plan is reproducible from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.config import STEMS

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
DORIAN = (0, 2, 3, 5, 7, 9, 10)
MIXOLYDIAN = (0, 2, 4, 5, 7, 9, 10)
MODES = {"major": MAJOR, "minor": MINOR, "dorian": DORIAN, "mixolydian": MIXOLYDIAN}

#: progressions as scale degrees (0-based); chosen per mode family.
PROGRESSIONS_MAJOR = (
    (0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 4, 3), (0, 3, 0, 4),
    (3, 4, 2, 5), (0, 2, 3, 4), (0, 4, 3, 3), (5, 4, 3, 4),
)
PROGRESSIONS_MINOR = (
    (0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 0, 5, 6),
    (0, 2, 6, 3), (3, 4, 0, 0),
)

SECTION_KINDS = ("intro", "verse", "prechorus", "chorus", "bridge", "breakdown", "outro")

#: instruments the "other" stem draws from, and their roles.
CHORD_INSTRUMENTS = ("piano", "epiano", "guitar", "strings", "pad", "organ", "brass")
ARP_INSTRUMENTS = ("piano", "epiano", "guitar", "pluck", "organ", "strings")


@dataclass
class Note:
    """One note: onset and duration in seconds, MIDI pitch (float allowed), velocity 0..1."""

    start: float
    duration: float
    pitch: float
    velocity: float = 0.8
    glide_from: float | None = None  #: previous pitch for a slide into this note
    syllable: str = ""  #: vocals only: consonant+vowel, e.g. "la"


@dataclass
class Hit:
    """One drum hit: instrument name, time in seconds, velocity 0..1."""

    name: str
    start: float
    velocity: float


@dataclass
class Section:
    """A song section with the stems (and "other" parts) that play in it."""

    kind: str
    start: float
    end: float
    active: dict[str, bool]
    energy: float
    parts: tuple[int, ...] = ()  #: indices into ``SongPlan.other_parts`` that play


@dataclass
class OtherPart:
    """One instrument of the "other" stem."""

    instrument: str
    role: str  #: "chords", "arp" or "stabs"
    pan: float
    gain: float
    notes: list[Note] = field(default_factory=list)


@dataclass
class SongPlan:
    """Everything needed to render a song."""

    seconds: float
    tempo: float
    key: int  #: tonic pitch class
    mode: str
    swing: float
    #: (start, duration, MIDI chord tones, root pitch class)
    chords: list[tuple[float, float, tuple[int, ...], int]]
    sections: list[Section]
    drums: list[Hit] = field(default_factory=list)
    bass: list[Note] = field(default_factory=list)
    vocals: list[Note] = field(default_factory=list)
    other_parts: list[OtherPart] = field(default_factory=list)
    bass_style: str = ""
    vocal_range: tuple[int, int] = (55, 72)

    @property
    def beat(self) -> float:
        """Seconds per beat."""
        return 60.0 / self.tempo

    @property
    def bar(self) -> float:
        """Seconds per 4/4 bar."""
        return 4.0 * self.beat

    def section_at(self, t: float) -> Section:
        """The section playing at time ``t``."""
        for s in self.sections:
            if s.start <= t < s.end:
                return s
        return self.sections[-1]


def _triad(key: int, scale: tuple[int, ...], degree: int, seventh: bool) -> tuple[int, ...]:
    """Pitch classes (relative to C, may exceed 11) of a diatonic chord on ``degree``."""
    idx = [degree, degree + 2, degree + 4] + ([degree + 6] if seventh else [])
    return tuple(key + scale[i % 7] + 12 * (i // 7) for i in idx)


def _voice(pcs: tuple[int, ...], low: int, rng: np.random.Generator) -> tuple[int, ...]:
    """Place chord pitch classes into a close voicing starting at or above ``low``."""
    root = pcs[0]
    base = low + ((root - low) % 12)
    tones = [base + (p - root) for p in pcs]
    inversion = int(rng.integers(0, len(tones)))
    for i in range(inversion):
        tones[i] += 12
    return tuple(sorted(tones))


def _sections(bars: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Section kinds and lengths in bars covering ``bars``."""
    out: list[tuple[str, int]] = []
    order = ["intro", "verse", "prechorus", "chorus", "verse", "chorus", "bridge", "breakdown",
             "chorus", "outro"]
    if rng.random() < 0.3:
        order = order[1:]  # no intro
    i = 0
    used = 0
    while used < bars:
        kind = order[i % len(order)]
        length = 2 if kind in ("intro", "outro", "breakdown") and rng.random() < 0.5 else 4
        if kind in ("verse", "chorus") and rng.random() < 0.4:
            length = 8
        out.append((kind, length))
        used += length
        i += 1
    return out


def _activity(kind: str, rng: np.random.Generator, stem_present: dict[str, bool]
              ) -> dict[str, bool]:
    """Which stems play in a section of ``kind``."""
    p = {
        "intro": (0.4, 0.4, 0.95, 0.15), "verse": (0.85, 0.9, 0.8, 0.9),
        "prechorus": (0.8, 0.9, 0.9, 0.85), "chorus": (0.97, 0.97, 0.95, 0.95),
        "bridge": (0.6, 0.7, 0.9, 0.7), "breakdown": (0.3, 0.4, 0.8, 0.5),
        "outro": (0.6, 0.6, 0.9, 0.3),
    }[kind]
    act = {n: bool(rng.random() < q) and stem_present[n] for n, q in zip(STEMS, p)}
    if not any(act.values()):
        act["other" if stem_present["other"] else "drums"] = True
    return act


def plan_song(rng: np.random.Generator, seconds: float) -> SongPlan:
    """Compose a song of ``seconds`` (the plan may run a little past the end)."""
    tempo = float(rng.choice([rng.uniform(70, 100), rng.uniform(95, 135), rng.uniform(120, 175)]))
    mode = str(rng.choice(["major", "minor", "dorian", "mixolydian"], p=[0.45, 0.35, 0.1, 0.1]))
    scale = MODES[mode]
    key = int(rng.integers(0, 12))
    swing = float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.15, 0.33)]))
    beat = 60.0 / tempo
    bar = 4 * beat
    bars = int(np.ceil(seconds / bar)) + 1
    # some songs lack a stem altogether (the model must learn silence too)
    present = {n: True for n in STEMS}
    r = rng.random()
    if r < 0.08:
        present["vocals"] = False
    elif r < 0.13:
        present["drums"] = False
    elif r < 0.17:
        present["bass"] = False
    elif r < 0.19:
        present["other"] = False

    family = PROGRESSIONS_MINOR if mode in ("minor", "dorian") else PROGRESSIONS_MAJOR
    progs = [family[int(rng.integers(len(family)))] for _ in range(2)]
    chords_per_bar = int(rng.choice([1, 1, 1, 2]))
    seventh = bool(rng.random() < 0.35)
    # sections
    layout = _sections(bars, rng)
    sections: list[Section] = []
    t = 0.0
    # start somewhere inside the song plan so 30-s excerpts are not always intros
    for kind, length in layout:
        energy = {"intro": 0.4, "verse": 0.6, "prechorus": 0.7, "chorus": 0.9, "bridge": 0.6,
                  "breakdown": 0.35, "outro": 0.5}[kind] + rng.uniform(-0.1, 0.1)
        sections.append(Section(kind, t, t + length * bar, _activity(kind, rng, present),
                                float(np.clip(energy, 0.1, 1.0))))
        t += length * bar
    # chords: progression A in verses, B in choruses
    chords: list[tuple[float, float, tuple[int, ...], int]] = []
    low = 52 + int(rng.integers(-3, 4))
    for s in sections:
        prog = progs[1] if s.kind in ("chorus", "bridge") else progs[0]
        n = int(round((s.end - s.start) / bar)) * chords_per_bar
        dur = bar / chords_per_bar
        for i in range(n):
            degree = prog[(i // chords_per_bar) % len(prog)]
            if chords_per_bar == 2 and i % 2 == 1 and rng.random() < 0.5:
                degree = (degree + int(rng.choice([2, 3, 4, 5]))) % 7
            pcs = _triad(key, scale, degree, seventh and rng.random() < 0.7)
            chords.append((s.start + i * dur, dur, _voice(pcs, low, rng), pcs[0] % 12))
    plan = SongPlan(seconds, tempo, key, mode, swing, chords, sections)
    plan.vocal_range = (int(rng.integers(50, 60)), 0)
    plan.vocal_range = (plan.vocal_range[0], plan.vocal_range[0] + int(rng.integers(12, 17)))
    _other_parts(plan, rng)
    _drum_hits(plan, rng)
    _bass_line(plan, rng)
    _melody(plan, rng, scale)
    return plan


def _chord_at(plan: SongPlan, t: float) -> tuple[int, ...]:
    for start, dur, tones, _ in plan.chords:
        if start <= t < start + dur:
            return tones
    return plan.chords[-1][2]


def _humanise(t: float, rng: np.random.Generator, amount: float = 0.006) -> float:
    return max(0.0, t + float(rng.normal(0.0, amount)))


def _swung(step: int, step_s: float, swing: float) -> float:
    """Time of a 16th step (within a beat grid) with swing on the off-16ths."""
    return step * step_s + (swing * step_s if step % 2 == 1 else 0.0)


# ------------------------------------------------------------------------------------- drums

KICK_PATTERNS = ((0, 8), (0, 10), (0, 6, 8), (0, 7, 10), (0, 4, 8, 12), (0, 3, 8, 11),
                 (0, 8, 10), (0, 6, 10, 14), (0,))
SNARE_PATTERNS = ((4, 12), (4, 12), (4, 12, 15), (8,), (4, 12, 14))


def _drum_hits(plan: SongPlan, rng: np.random.Generator) -> None:
    step = plan.beat / 4
    kick_a = KICK_PATTERNS[int(rng.integers(len(KICK_PATTERNS)))]
    kick_b = KICK_PATTERNS[int(rng.integers(len(KICK_PATTERNS)))]
    snare = SNARE_PATTERNS[int(rng.integers(len(SNARE_PATTERNS)))]
    if kick_a == (0,) and snare != (8,):
        kick_a = (0, 8)
    hat_density = int(rng.choice([2, 2, 4, 1]))  # hats every 2 (8ths), 4 (quarters) or 1 (16ths)
    ghost = float(rng.uniform(0.0, 0.25))
    hits: list[Hit] = []
    for si, s in enumerate(plan.sections):
        if not s.active["drums"]:
            continue
        bars = int(round((s.end - s.start) / plan.bar))
        kick = kick_b if s.kind == "chorus" else kick_a
        ride = s.kind in ("chorus", "bridge") and rng.random() < 0.35
        dens = hat_density if s.energy > 0.45 else max(hat_density, 2)
        if s.kind == "chorus" and dens == 4:
            dens = 2
        if s.energy < 0.4 and rng.random() < 0.5:
            dens = 4
        if si > 0 or s.start > 0:
            hits.append(Hit("crash", _humanise(s.start, rng), float(rng.uniform(0.7, 1.0))))
        for b in range(bars):
            t0 = s.start + b * plan.bar
            fill = b == bars - 1 and si < len(plan.sections) - 1 and rng.random() < 0.75
            fill_from = 16 - int(rng.choice([4, 4, 8, 2])) if fill else 16
            for st in range(16):
                t = t0 + _swung(st, step, plan.swing)
                accent = 1.0 if st % 4 == 0 else 0.85 if st % 2 == 0 else 0.7
                if st >= fill_from:
                    if rng.random() < 0.85:
                        name = str(rng.choice(["tom_hi", "tom_mid", "tom_lo", "snare"],
                                              p=[0.25, 0.25, 0.25, 0.25]))
                        # toms descend through the fill
                        frac = (st - fill_from) / max(1, 16 - fill_from)
                        if name.startswith("tom"):
                            name = ("tom_hi", "tom_mid", "tom_lo")[min(2, int(frac * 3))]
                        hits.append(Hit(name, _humanise(t, rng), float(rng.uniform(0.6, 1.0))))
                    if st % 4 == 0:
                        hits.append(Hit("kick", _humanise(t, rng), 0.8))
                    continue
                if st in kick:
                    hits.append(Hit("kick", _humanise(t, rng, 0.004),
                                    float(np.clip(rng.normal(0.9, 0.07) * accent, 0.3, 1.0))))
                if st in snare:
                    hits.append(Hit("snare", _humanise(t, rng, 0.005),
                                    float(np.clip(rng.normal(0.9, 0.06), 0.4, 1.0))))
                elif st % 2 == 1 and rng.random() < ghost:
                    hits.append(Hit("snare", _humanise(t, rng), float(rng.uniform(0.12, 0.3))))
                if st % dens == 0:
                    name = "ride" if ride else "hat_closed"
                    if not ride and st == 14 and rng.random() < 0.3:
                        name = "hat_open"
                    hits.append(Hit(name, _humanise(t, rng, 0.007),
                                    float(np.clip(rng.normal(0.75, 0.1) * accent, 0.2, 1.0))))
    plan.drums = [h for h in hits if h.start < plan.seconds + 1.0]


# -------------------------------------------------------------------------------------- bass

BASS_STYLES = ("quarters", "eighths", "syncopated", "whole", "octaves", "walking", "pumping")
BASS_RHYTHMS = {
    "quarters": (0, 4, 8, 12), "eighths": (0, 2, 4, 6, 8, 10, 12, 14),
    "syncopated": (0, 3, 6, 8, 11, 14), "whole": (0,), "octaves": (0, 2, 4, 6, 8, 10, 12, 14),
    "walking": (0, 4, 8, 12), "pumping": (2, 6, 10, 14),
}


def _bass_line(plan: SongPlan, rng: np.random.Generator) -> None:
    style = str(rng.choice(BASS_STYLES))
    plan.bass_style = style
    legato = float(rng.uniform(0.45, 0.98))
    step = plan.beat / 4
    low = 28 + int(rng.integers(0, 5))
    notes: list[Note] = []
    prev: float | None = None
    for s in plan.sections:
        if not s.active["bass"]:
            prev = None
            continue
        for start, dur, tones, root_pc in plan.chords:
            if not (s.start <= start < s.end):
                continue
            root = low + ((root_pc - low) % 12)
            rhythm = BASS_RHYTHMS[style]
            steps = [st for st in rhythm if st * step < dur - 1e-6]
            if not steps:
                steps = [0]
            for i, st in enumerate(steps):
                t = start + _swung(st, step, plan.swing)
                nxt = steps[i + 1] * step if i + 1 < len(steps) else dur
                length = (nxt - st * step) * legato
                pitch = float(root)
                if style == "octaves" and i % 2 == 1:
                    pitch += 12
                elif style == "walking":
                    chord_rel = sorted({(p - root_pc) % 12 for p in tones})
                    pitch = root + (chord_rel[i % len(chord_rel)] if i < 3 else
                                    int(rng.choice([-1, 1, 2, -2])))
                elif st > 0 and rng.random() < 0.15:
                    pitch += float(rng.choice([7, 12, -5]))
                glide = prev if (prev is not None and rng.random() < 0.12
                                 and abs(prev - pitch) <= 7) else None
                vel = float(np.clip(rng.normal(0.85 if st % 4 == 0 else 0.72, 0.06), 0.3, 1.0))
                notes.append(Note(_humanise(t, rng, 0.004), max(0.06, length), pitch, vel,
                                  glide_from=glide))
                prev = pitch
    plan.bass = [n for n in notes if n.start < plan.seconds + 1.0]


# ------------------------------------------------------------------------------------- other

CHORD_RHYTHMS = ((0, 8), (0, 6, 12), (0, 3, 6, 10, 12), (0, 4, 8, 12), (0, 10))


def _other_parts(plan: SongPlan, rng: np.random.Generator) -> None:
    n_parts = int(rng.choice([1, 2, 2, 3]))
    parts: list[OtherPart] = []
    chord_inst = str(rng.choice(CHORD_INSTRUMENTS))
    parts.append(OtherPart(chord_inst, "chords", float(rng.uniform(-0.4, 0.4)), 1.0))
    for _ in range(n_parts - 1):
        role = str(rng.choice(["arp", "arp", "stabs", "chords"]))
        inst = str(rng.choice(ARP_INSTRUMENTS if role == "arp" else CHORD_INSTRUMENTS))
        parts.append(OtherPart(inst, role, float(rng.uniform(-0.8, 0.8)),
                               float(rng.uniform(0.4, 0.8))))
    plan.other_parts = parts
    for s in plan.sections:
        if s.active["other"]:
            idx = [i for i in range(len(parts)) if i == 0 or rng.random() < 0.65]
            if rng.random() < 0.25 and len(parts) > 1:
                idx = [int(rng.integers(1, len(parts)))]
            s.parts = tuple(idx)
    step = plan.beat / 4
    for pi, part in enumerate(parts):
        strum = part.instrument == "guitar"
        rhythm = (0,) if rng.random() < 0.4 else CHORD_RHYTHMS[int(rng.integers(
            len(CHORD_RHYTHMS)))]
        arp_step = int(rng.choice([2, 2, 1, 4]))
        octave = int(rng.choice([0, 0, 12, -12])) if part.role != "chords" else 0
        if part.instrument in ("pad", "strings", "organ") and part.role == "chords":
            rhythm = (0,)
        for s in plan.sections:
            if pi not in s.parts:
                continue
            for start, dur, tones, _ in plan.chords:
                if not (s.start <= start < s.end):
                    continue
                if part.role in ("chords", "stabs"):
                    rh = rhythm if part.role == "chords" else (2, 6, 10, 14)
                    onsets = [st for st in rh if st * step < dur - 1e-6] or [0]
                    for i, st in enumerate(onsets):
                        nxt = onsets[i + 1] * step if i + 1 < len(onsets) else dur
                        length = (nxt - st * step) * (0.35 if part.role == "stabs" else 0.95)
                        t = start + _swung(st, step, plan.swing)
                        vel = float(np.clip(rng.normal(0.75, 0.08), 0.3, 1.0))
                        down = rng.random() < 0.5
                        for k, p in enumerate(tones if down else tones[::-1]):
                            off = 0.012 * k if strum else 0.0
                            part.notes.append(Note(_humanise(t + off, rng, 0.003), length - off,
                                                   float(p + octave), vel * (1 - 0.05 * k)))
                else:
                    seq = list(tones) + [tones[0] + 12]
                    shape = str(rng.choice(["up", "down", "updown"]))
                    if shape == "down":
                        seq = seq[::-1]
                    elif shape == "updown":
                        seq = seq + seq[-2:0:-1]
                    n = int(round(dur / (step * arp_step)))
                    for i in range(n):
                        t = start + _swung(i * arp_step, step, plan.swing)
                        vel = float(np.clip(rng.normal(0.7 if i % 2 else 0.8, 0.07), 0.3, 1.0))
                        part.notes.append(Note(_humanise(t, rng, 0.004), step * arp_step * 0.9,
                                               float(seq[i % len(seq)] + 12 + octave), vel))
        part.notes = [n for n in part.notes if n.start < plan.seconds + 1.0]


# ------------------------------------------------------------------------------------ vocals

CONSONANTS = ("", "l", "n", "m", "d", "t", "k", "s", "sh", "h", "b", "y", "w", "r", "f", "p",
              "g", "v")
VOWELS = ("a", "e", "i", "o", "u", "ae", "uh")
MELODY_RHYTHMS = (
    ((0, 2), (2, 2), (4, 4), (8, 2), (10, 2), (12, 4)),
    ((0, 3), (3, 1), (4, 4), (10, 2), (12, 2), (14, 2)),
    ((2, 2), (4, 2), (6, 2), (8, 6)),
    ((0, 4), (4, 4), (8, 8)),
    ((0, 1), (1, 1), (2, 2), (4, 2), (6, 2), (8, 4), (12, 2)),
    ((0, 2), (2, 1), (3, 3), (6, 2), (8, 2), (10, 6)),
)


def _melody(plan: SongPlan, rng: np.random.Generator, scale: tuple[int, ...]) -> None:
    lo, hi = plan.vocal_range
    scale_pitches = [p for p in range(lo, hi + 1) if (p - plan.key) % 12 in scale]
    step = plan.beat / 4
    words = ["".join([str(rng.choice(CONSONANTS)), str(rng.choice(VOWELS))])
             for _ in range(24)]
    motifs = [[int(x) for x in rng.integers(0, len(MELODY_RHYTHMS), 2)] for _ in range(3)]
    notes: list[Note] = []
    current = scale_pitches[len(scale_pitches) // 2]
    for s in plan.sections:
        if not s.active["vocals"]:
            continue
        motif = motifs[{"chorus": 0, "verse": 1}.get(s.kind, 2)]
        bars = int(round((s.end - s.start) / plan.bar))
        for b in range(bars):
            if b % 4 == 3 and rng.random() < 0.5:
                continue  # breath
            rhythm = MELODY_RHYTHMS[motif[b % 2]]
            t0 = s.start + b * plan.bar
            for k, (st, length) in enumerate(rhythm):
                t = t0 + _swung(st, step, plan.swing)
                chord = _chord_at(plan, t)
                strong = st % 4 == 0
                if strong and rng.random() < 0.7:
                    options = [p for p in scale_pitches if (p % 12) in {c % 12 for c in chord}]
                else:
                    options = scale_pitches
                options = [p for p in options if abs(p - current) <= 7] or options
                weights = np.exp(-np.abs(np.array(options) - current) / 2.5)
                current = int(rng.choice(options, p=weights / weights.sum()))
                dur = length * step * float(rng.uniform(0.8, 0.97))
                if k == len(rhythm) - 1 and b % 2 == 1:
                    dur = length * step * 0.75
                syl = words[int(rng.integers(len(words)))]
                notes.append(Note(_humanise(t, rng, 0.01), dur, float(current),
                                  float(np.clip(rng.normal(0.8, 0.08), 0.4, 1.0)), syllable=syl))
    plan.vocals = [n for n in notes if n.start < plan.seconds + 1.0]
