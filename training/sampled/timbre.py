"""Random timbre variants of SoundFont presets (``stemweave synth --timbre``).

A General MIDI font plays each program with one set of samples and one set of envelopes, so a
network trained on a few fonts learns those fonts' electric piano or string pad, not the
instrument. Here every part of a training song may be played by a *variant* of its preset: the
SoundFont generators that shape a voice (low-pass cutoff and resonance, the volume envelope,
vibrato, tremolo, a filter wobble) are offset on the MIDI channel before the first note
(FluidSynth's ``fluid_synth_set_gen``, which adds to every voice the preset starts). The samples
stay the font's, so a part is still the instrument it was chosen as; the stem's truth stays
exact because every part is rendered on its own.

Offsets are in the SoundFont 2.04 units: cents (cutoff, pitch depths), centibels (resonance,
sustain, tremolo depth), timecents (envelope times: +1200 is twice as long).
"""

from __future__ import annotations

import numpy as np

from core.errors import DataError

__all__ = ["GEN", "KINDS", "check_amount", "random_timbre"]

#: SoundFont 2.04 generator numbers used here (§8.1.2).
GEN: dict[str, int] = {
    "vib_lfo_to_pitch": 6,
    "filter_fc": 8,
    "filter_q": 9,
    "mod_lfo_to_filter_fc": 10,
    "mod_lfo_to_volume": 13,
    "attack_vol_env": 34,
    "decay_vol_env": 36,
    "sustain_vol_env": 37,
    "release_vol_env": 38,
}

#: what each kind of part may have changed, as ``name: (probability, low, high)`` at amount 1:
#: melodic parts (keys, guitars, strings, pads, leads) get every change; bass keeps its
#: envelope's attack (a slow bass attack is not a bass); sung patches get colour and vibrato.
KINDS: dict[str, dict[str, tuple[float, float, float]]] = {
    "melodic": {
        "filter_fc": (0.7, -4200.0, 0.0),
        "filter_q": (0.5, 0.0, 150.0),
        "attack_vol_env": (0.25, 0.0, 7000.0),
        "decay_vol_env": (0.5, -1200.0, 1200.0),
        "sustain_vol_env": (0.4, 0.0, 300.0),
        "release_vol_env": (0.5, -1200.0, 1800.0),
        "vib_lfo_to_pitch": (0.3, 0.0, 25.0),
        "mod_lfo_to_volume": (0.15, 0.0, 60.0),
        "mod_lfo_to_filter_fc": (0.15, 0.0, 1200.0),
    },
    "bass": {
        "filter_fc": (0.6, -3600.0, 0.0),
        "filter_q": (0.4, 0.0, 120.0),
        "decay_vol_env": (0.4, -1200.0, 1200.0),
        "sustain_vol_env": (0.3, 0.0, 200.0),
        "release_vol_env": (0.4, -1200.0, 1200.0),
    },
    "voice": {
        "filter_fc": (0.5, -2400.0, 0.0),
        "filter_q": (0.3, 0.0, 80.0),
        "vib_lfo_to_pitch": (0.5, 0.0, 30.0),
    },
}


def check_amount(amount: float) -> float:
    """``amount`` if it is a timbre amount (0 .. 1).

    Raises:
        DataError: it is not, in one line for the command line.
    """
    if not 0.0 <= amount <= 1.0:
        raise DataError(f"timbre amount {amount:g} must be between 0 and 1")
    return float(amount)


def random_timbre(rng: np.random.Generator, amount: float, kind: str = "melodic"
                  ) -> dict[int, float]:
    """Generator offsets for one part: ``{generator number: offset}``.

    Every change of ``KINDS[kind]`` is drawn (so the stream of ``rng`` does not depend on which
    are taken) and kept with its probability; the offset is uniform in its range scaled by
    ``amount``.

    Args:
        rng: the song's timbre generator.
        amount: 0 (the preset as the font has it: an empty dict) .. 1 (the full ranges).
        kind: ``melodic``, ``bass`` or ``voice``.

    Raises:
        DataError: ``amount`` outside [0, 1] (:func:`check_amount`).
        ValueError: an unknown kind.
    """
    check_amount(amount)
    if kind not in KINDS:
        raise ValueError(f"unknown part kind {kind!r} (choose from {', '.join(KINDS)})")
    out: dict[int, float] = {}
    for name, (prob, low, high) in KINDS[kind].items():
        take, u = rng.random(), rng.random()
        if amount > 0 and take < prob:
            out[GEN[name]] = float((low + (high - low) * u) * amount)
    return out
