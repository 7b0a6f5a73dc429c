"""Instrument renderers: drum kit, bass, chord/arpeggio instruments.

Each ``render_*`` function turns notes or hits of a :class:`~training.synth.compose.SongPlan`
into a stereo float64 array ``(2, frames)``. Timbre parameters are drawn once per song from the
generator so that every song has its own kit and sounds.
"""

from __future__ import annotations

import numpy as np

from training.synth import dsp
from training.synth.compose import Hit, Note, OtherPart

# --------------------------------------------------------------------------------- drum kit


def _kick(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(sr * rng.uniform(0.25, 0.6))
    f_end = rng.uniform(42, 62)
    f_start = f_end * rng.uniform(2.5, 5.0)
    t = np.arange(n) / sr
    freq = f_end + (f_start - f_end) * np.exp(-t / rng.uniform(0.015, 0.04))
    body = np.sin(2 * np.pi * dsp.phase_from_freq(freq, sr))
    body *= dsp.exp_decay(n, sr, rng.uniform(0.08, 0.25))
    click = dsp.highpass(rng.standard_normal(n), 1500, sr) * dsp.exp_decay(n, sr, 0.003)
    x = body + click * rng.uniform(0.1, 0.5)
    drive = rng.uniform(1.0, 3.0)
    return dsp.fade_out(np.tanh(drive * x) / np.tanh(drive), sr)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(sr * rng.uniform(0.2, 0.45))
    f0 = rng.uniform(160, 260)
    t = np.arange(n) / sr
    tone = (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(2 * np.pi * f0 * 1.58 * t))
    tone *= dsp.exp_decay(n, sr, rng.uniform(0.03, 0.07))
    noise = dsp.bandpass(rng.standard_normal(n), rng.uniform(1200, 3000),
                         rng.uniform(7000, 12000), sr)
    noise *= dsp.exp_decay(n, sr, rng.uniform(0.06, 0.16))
    mix = rng.uniform(0.3, 0.8)
    return dsp.fade_out(tone * (1 - mix) + noise * mix * 2.0, sr)


def _metal(n: int, sr: int, rng: np.random.Generator, base: float) -> np.ndarray:
    """Inharmonic square-wave cluster (the classic 808-style metallic source)."""
    ratios = np.array([1.0, 1.342, 1.2312, 1.6532, 1.9523, 2.1523]) * rng.uniform(0.9, 1.1, 6)
    t = np.arange(n) / sr
    x = np.zeros(n)
    for r in ratios:
        x += np.sign(np.sin(2 * np.pi * base * r * t + rng.uniform(0, 2 * np.pi)))
    return x / len(ratios)


def _hat(sr: int, rng: np.random.Generator, open_: bool) -> np.ndarray:
    n = int(sr * (rng.uniform(0.3, 0.6) if open_ else rng.uniform(0.05, 0.12)))
    src = 0.6 * _metal(n, sr, rng, rng.uniform(300, 450)) + 0.7 * rng.standard_normal(n)
    x = dsp.highpass(src, rng.uniform(6000, 8500), sr, 2)
    x *= dsp.exp_decay(n, sr, (rng.uniform(0.08, 0.2) if open_ else rng.uniform(0.012, 0.03)))
    return dsp.fade_out(x, sr)


def _cymbal(sr: int, rng: np.random.Generator, ride: bool) -> np.ndarray:
    n = int(sr * (rng.uniform(0.8, 1.5) if ride else rng.uniform(1.5, 2.5)))
    src = 0.7 * _metal(n, sr, rng, rng.uniform(250, 500)) + 0.6 * rng.standard_normal(n)
    x = dsp.highpass(src, rng.uniform(3000, 5000) if ride else rng.uniform(2000, 4000), sr, 2)
    x *= dsp.exp_decay(n, sr, rng.uniform(0.25, 0.5) if ride else rng.uniform(0.5, 0.9))
    if ride:
        t = np.arange(n) / sr
        bell = np.sin(2 * np.pi * rng.uniform(700, 1100) * t) * dsp.exp_decay(n, sr, 0.3)
        x = x + 0.25 * bell
    return dsp.fade_out(dsp.fade_in(x, sr, 0.001), sr, 0.05)


def _tom(sr: int, rng: np.random.Generator, f0: float) -> np.ndarray:
    n = int(sr * rng.uniform(0.3, 0.6))
    t = np.arange(n) / sr
    freq = f0 * (1 + 0.6 * np.exp(-t / 0.03))
    x = np.sin(2 * np.pi * dsp.phase_from_freq(freq, sr)) * dsp.exp_decay(n, sr, rng.uniform(
        0.12, 0.3))
    x += 0.15 * dsp.lowpass(rng.standard_normal(n), 3000, sr) * dsp.exp_decay(n, sr, 0.02)
    return dsp.fade_out(x, sr)


#: kit piece -> stereo position range.
DRUM_PAN = {"kick": 0.0, "snare": 0.05, "hat_closed": 0.35, "hat_open": 0.35, "ride": -0.4,
            "crash": -0.45, "tom_hi": 0.3, "tom_mid": -0.05, "tom_lo": -0.35}
DRUM_LEVEL = {"kick": 1.0, "snare": 0.75, "hat_closed": 0.25, "hat_open": 0.25, "ride": 0.22,
              "crash": 0.35, "tom_hi": 0.6, "tom_mid": 0.6, "tom_lo": 0.65}


def render_drums(hits: list[Hit], frames: int, sr: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """A drum stem from hits; each song gets its own kit (a few variants per piece)."""
    base_tom = rng.uniform(90, 140)
    makers = {
        "kick": lambda: _kick(sr, rng), "snare": lambda: _snare(sr, rng),
        "hat_closed": lambda: _hat(sr, rng, False), "hat_open": lambda: _hat(sr, rng, True),
        "ride": lambda: _cymbal(sr, rng, True), "crash": lambda: _cymbal(sr, rng, False),
        "tom_hi": lambda: _tom(sr, rng, base_tom * 1.5),
        "tom_mid": lambda: _tom(sr, rng, base_tom * 1.2),
        "tom_lo": lambda: _tom(sr, rng, base_tom),
    }
    kit: dict[str, list[np.ndarray]] = {}
    for name, make in makers.items():
        first = make()
        # round-robin variants: the same piece with small random changes in the noise part
        kit[name] = [first] + [first * rng.uniform(0.95, 1.05) + 0.03 * np.abs(first).max()
                               * dsp.lowpass(rng.standard_normal(len(first)), 8000, sr)
                               * np.abs(first) / (np.abs(first).max() + 1e-9)
                               for _ in range(2)]
    spread = rng.uniform(0.5, 1.0)
    out = np.zeros((2, frames))
    for h in hits:
        sound = kit[h.name][int(rng.integers(3))]
        gl, gr = dsp.pan_gains(DRUM_PAN[h.name] * spread)
        amp = DRUM_LEVEL[h.name] * h.velocity ** 1.5
        dsp.add_at(out, int(round(h.start * sr)), np.stack([sound * gl, sound * gr]) * amp)
    return out


# -------------------------------------------------------------------------------------- bass

BASS_TIMBRES = ("finger", "pick", "synth_saw", "synth_square", "sub")


def render_bass(notes: list[Note], frames: int, sr: int, rng: np.random.Generator
                ) -> np.ndarray:
    """A bass stem (mono, slightly widened by nothing: bass stays centred)."""
    timbre = str(rng.choice(BASS_TIMBRES))
    out = np.zeros(frames)
    cutoff = rng.uniform(500, 2500)
    env_amt = rng.uniform(0.3, 1.0)
    decay = rng.uniform(0.15, 0.6)
    drive = rng.uniform(1.0, 2.5)
    for note in notes:
        gate = int(note.duration * sr)
        n = gate + int(0.05 * sr)
        f = float(dsp.midi_to_hz(note.pitch))
        if note.glide_from is not None:
            f_from = float(dsp.midi_to_hz(note.glide_from))
            k = min(n, int(0.06 * sr))
            freq = np.full(n, f)
            freq[:k] = f_from * (f / f_from) ** (np.arange(k) / k)
        else:
            freq = np.full(n, f)
        if timbre in ("finger", "pick"):
            x = dsp.karplus_strong(f, n, sr, rng, brightness=0.35 if timbre == "finger" else 0.8,
                                   decay=0.999, pick_position=rng.uniform(0.1, 0.3))
            x = dsp.lowpass(x, 1200 if timbre == "finger" else 3500, sr)
            env = dsp.adsr(n, sr, 0.003, 1.5, 0.6, 0.04, gate)
            x *= env
        elif timbre == "sub":
            ph = 2 * np.pi * dsp.phase_from_freq(freq, sr)
            x = np.sin(ph) + 0.3 * np.sin(2 * ph) + 0.1 * np.sin(3 * ph)
            x = np.tanh(drive * x) / np.tanh(drive) * dsp.adsr(n, sr, 0.005, 0.3, 0.8, 0.05, gate)
        else:
            osc = (dsp.polyblep_saw(freq, sr) if timbre == "synth_saw"
                   else dsp.polyblep_square(freq, sr, rng.uniform(0.3, 0.5)))
            fenv = env_amt * dsp.exp_decay(n, sr, decay)
            x = dsp.swept_lowpass(osc, fenv, cutoff * 0.4, cutoff * 3, sr)
            x *= dsp.adsr(n, sr, 0.004, 0.4, 0.7, 0.04, gate)
        out[int(note.start * sr): int(note.start * sr) + n] += (
            dsp.fade_out(x, sr) * note.velocity)[: max(0, frames - int(note.start * sr))]
    out = dsp.highpass(out, 30, sr)
    return np.stack([out, out])


# ------------------------------------------------------------------------- other instruments


def _piano(f: float, n: int, gate: int, sr: int, rng: np.random.Generator, p: dict
           ) -> np.ndarray:
    full = n
    tau1 = p["tau"] * (220.0 / max(f, 60.0)) ** 0.3
    n = min(n, int(sr * 4.0 * tau1) + 1)  # the string has died away by then
    t = np.arange(n) / sr
    x = np.zeros(n)
    inharm = p["inharm"]
    for k in range(1, p["partials"] + 1):
        fk = k * f * np.sqrt(1 + inharm * k * k)
        if fk > sr * 0.45:
            break
        amp = (1.0 / k**p["tilt"]) * (1 + 0.3 * rng.standard_normal())
        tau = tau1 / (1 + 0.35 * k)
        m = min(n, int(sr * 5.0 * tau) + 1)
        tk = t[:m]
        if k <= 3:  # two slightly detuned strings beat on the low partials
            det = 1 + p["detune"] * rng.standard_normal()
            osc = 0.5 * (np.sin(2 * np.pi * fk * tk) + np.sin(2 * np.pi * fk * det * tk))
        else:
            osc = np.sin(2 * np.pi * fk * tk)
        x[:m] += amp * np.exp(-tk / tau) * osc
    hammer = dsp.bandpass(rng.standard_normal(min(n, 256)), 500, 4000, sr)
    x[: len(hammer)] += 0.05 * hammer * dsp.exp_decay(len(hammer), sr, 0.004)
    x *= dsp.adsr(n, sr, 0.002, 10.0, 1.0, 0.12, min(gate, n))
    if full > n:
        x = np.concatenate([dsp.fade_out(x, sr), np.zeros(full - n)])
    return x


def _epiano(f: float, n: int, gate: int, sr: int, rng: np.random.Generator, p: dict
            ) -> np.ndarray:
    t = np.arange(n) / sr
    mod = np.sin(2 * np.pi * f * t) * p["index"] * dsp.exp_decay(n, sr, 0.3)
    x = np.sin(2 * np.pi * f * t + mod) * dsp.exp_decay(n, sr, p["tau"])
    tine = np.sin(2 * np.pi * f * p["tine"] * t) * dsp.exp_decay(n, sr, 0.03) * 0.25
    x = (x + tine) * dsp.adsr(n, sr, 0.002, 10.0, 1.0, 0.1, gate)
    trem = 1 + p["trem"] * np.sin(2 * np.pi * p["trem_rate"] * t)
    return x * trem


def _organ(f: float, n: int, gate: int, sr: int, rng: np.random.Generator, p: dict
           ) -> np.ndarray:
    t = np.arange(n) / sr
    x = np.zeros(n)
    for ratio, level in zip((0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0), p["drawbars"]):
        if level > 0 and ratio * f < sr * 0.45:
            x += level * np.sin(2 * np.pi * ratio * f * t)
    x *= dsp.adsr(n, sr, 0.008, 1.0, 1.0, 0.03, gate)
    click = dsp.highpass(rng.standard_normal(min(n, int(0.004 * sr))), 2000, sr) * 0.1
    x[: len(click)] += click
    return x * (1 + p["trem"] * np.sin(2 * np.pi * p["trem_rate"] * t + p["phase"]))


def _vibrato(n: int, sr: int, rate: float, depth_cents: float, delay: float) -> np.ndarray:
    t = np.arange(n) / sr
    ramp = np.clip((t - delay) / 0.3, 0.0, 1.0)
    return 2 ** (depth_cents / 1200 * ramp * np.sin(2 * np.pi * rate * t))


def _strings(f: float, n: int, gate: int, sr: int, rng: np.random.Generator, p: dict
             ) -> np.ndarray:
    vib = _vibrato(n, sr, p["vib_rate"] * rng.uniform(0.9, 1.1), p["vib_depth"], 0.15)
    x = np.zeros(n)
    for d in (-p["spread"], 0.0, p["spread"]):
        x += dsp.polyblep_saw(f * (2 ** (d / 1200)) * vib, sr, rng.random())
    x = dsp.lowpass(x, p["cutoff"], sr, 2)
    x = dsp.highpass(x, 200, sr)
    return x * dsp.adsr(n, sr, p["attack"], 1.0, 0.85, p["release"], gate) / 3


def _pad(f: float, n: int, gate: int, sr: int, rng: np.random.Generator, p: dict
         ) -> np.ndarray:
    x = np.zeros(n)
    freq = np.full(n, f)
    for d in (-p["spread"], p["spread"]):
        osc = (dsp.polyblep_saw(freq * 2 ** (d / 1200), sr, rng.random()) if p["saw"]
               else dsp.polyblep_square(freq * 2 ** (d / 1200), sr, 0.5, rng.random()))
        x += osc
    env = dsp.adsr(n, sr, p["attack"], 1.0, 0.9, p["release"], gate)
    x = dsp.swept_lowpass(x, env, p["cutoff"] * 0.5, p["cutoff"], sr)
    return x * env / 2


def _brass(f: float, n: int, gate: int, sr: int, rng: np.random.Generator, p: dict
           ) -> np.ndarray:
    vib = _vibrato(n, sr, 5.5, p["vib_depth"], 0.2)
    freq = f * vib * (1 - 0.02 * dsp.exp_decay(n, sr, 0.03))
    x = dsp.polyblep_saw(freq, sr, rng.random())
    env = dsp.adsr(n, sr, p["attack"], 0.3, 0.8, 0.08, gate)
    x = dsp.swept_lowpass(x, env, 400, p["cutoff"], sr)
    return x * env


def _guitar(f: float, n: int, gate: int, sr: int, rng: np.random.Generator, p: dict
            ) -> np.ndarray:
    x = dsp.karplus_strong(f, n, sr, rng, brightness=p["bright"], decay=p["decay"],
                           pick_position=rng.uniform(0.08, 0.3))
    x = dsp.lowpass(x, p["tone"], sr, 1)
    if p["drive"] > 1.0:
        x = np.tanh(p["drive"] * x / (np.abs(x).max() + 1e-9))
    return x * dsp.adsr(n, sr, 0.001, 10.0, 1.0, 0.06, gate)


def _pluck(f: float, n: int, gate: int, sr: int, rng: np.random.Generator, p: dict
           ) -> np.ndarray:
    freq = np.full(n, f)
    x = dsp.polyblep_square(freq, sr, p["width"], rng.random())
    env = dsp.exp_decay(n, sr, p["tau"])
    x = dsp.swept_lowpass(x, env, 300, p["cutoff"], sr)
    return x * env * dsp.adsr(n, sr, 0.002, 10.0, 1.0, 0.05, gate)


INSTRUMENTS = {"piano": _piano, "epiano": _epiano, "organ": _organ, "strings": _strings,
               "pad": _pad, "brass": _brass, "guitar": _guitar, "pluck": _pluck}


def _params(name: str, rng: np.random.Generator) -> dict:
    """Per-song timbre parameters of an instrument."""
    u = rng.uniform
    return {
        "piano": lambda: {"inharm": u(0.0001, 0.0006), "partials": int(rng.integers(7, 12)),
                          "tilt": u(0.8, 1.6), "tau": u(0.8, 2.5), "detune": u(0.0003, 0.0015)},
        "epiano": lambda: {"index": u(0.5, 2.5), "tau": u(0.8, 2.0), "tine": u(6.0, 14.0),
                           "trem": u(0.0, 0.3), "trem_rate": u(3.0, 6.0)},
        "organ": lambda: {"drawbars": [float(v) * (v > 0.25) for v in rng.uniform(0, 1, 9)],
                          "trem": u(0.0, 0.25), "trem_rate": u(5.5, 7.0),
                          "phase": u(0, 6.28)},
        "strings": lambda: {"vib_rate": u(4.5, 6.0), "vib_depth": u(6, 20), "spread": u(4, 12),
                            "cutoff": u(2500, 6000), "attack": u(0.08, 0.35),
                            "release": u(0.15, 0.4)},
        "pad": lambda: {"spread": u(5, 15), "saw": bool(rng.random() < 0.6),
                        "cutoff": u(1200, 4000), "attack": u(0.2, 0.6), "release": u(0.3, 0.8)},
        "brass": lambda: {"vib_depth": u(5, 15), "attack": u(0.03, 0.08),
                          "cutoff": u(2500, 5000)},
        "guitar": lambda: {"bright": u(0.4, 0.95), "decay": u(0.992, 0.998),
                           "tone": u(2500, 7000), "drive": float(rng.choice([1.0, 1.0, u(2, 6)]))},
        "pluck": lambda: {"width": u(0.2, 0.5), "tau": u(0.1, 0.4), "cutoff": u(2000, 6000)},
    }[name]()


def release_of(name: str) -> float:
    """Seconds rendered after a note's gate closes."""
    return {"piano": 0.4, "epiano": 0.3, "organ": 0.08, "strings": 0.5, "pad": 0.9,
            "brass": 0.15, "guitar": 0.2, "pluck": 0.15}[name]


def render_part(part: OtherPart, frames: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One instrument of the "other" stem, stereo, panned."""
    render = INSTRUMENTS[part.instrument]
    params = _params(part.instrument, rng)
    out = np.zeros(frames)
    tail = release_of(part.instrument)
    for note in part.notes:
        gate = max(1, int(note.duration * sr))
        n = gate + int(tail * sr)
        start = int(note.start * sr)
        if start >= frames:
            continue
        x = render(float(dsp.midi_to_hz(note.pitch)), n, gate, sr, rng, params)
        dsp.add_at(out, start, dsp.fade_out(x, sr) * note.velocity)
    peak = np.abs(out).max()
    if peak > 0:
        out /= np.sqrt(np.mean(out**2)) + 1e-9
    gl, gr = dsp.pan_gains(part.pan)
    return np.stack([out * gl, out * gr]) * part.gain
