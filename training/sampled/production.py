"""Production the way records sound, with Spotify's pedalboard: per-instrument effect chains
(EQ, compression, amp-like distortion for guitars, chorus, delay, reverb) and a mix bus.

Everything applied to one stem stays in that stem (a reverb tail belongs to the instrument that
caused it). The bus is linear per stem so the stems still sum to the mixture exactly: the bus
compressor runs on the mixture, its gain curve (output envelope over input envelope) is applied
to every stem, and the bus EQ is applied to each stem.
"""

from __future__ import annotations

import numpy as np

#: the instrument roles a chain is drawn for.
ROLES = ("drums", "bass", "guitar", "keys", "sustained", "vocals")


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _eq(rng: np.random.Generator, low_cut: float):  # noqa: ANN202 - list of plugins
    import pedalboard as pb

    return [pb.HighpassFilter(cutoff_frequency_hz=_u(rng, 0.6, 1.4) * low_cut),
            pb.PeakFilter(cutoff_frequency_hz=_u(rng, 200, 5000), gain_db=_u(rng, -5, 5),
                          q=_u(rng, 0.5, 2.0)),
            pb.HighShelfFilter(cutoff_frequency_hz=_u(rng, 4000, 10000), gain_db=_u(rng, -6, 4))]


def stem_chain(role: str, rng: np.random.Generator):  # noqa: ANN201 - pedalboard.Pedalboard
    """A random effect chain for one instrument role (see :data:`ROLES`)."""
    import pedalboard as pb

    chain = []
    if role == "drums":
        chain += _eq(rng, 30)
        if rng.random() < 0.3:
            chain.append(pb.Distortion(drive_db=_u(rng, 2, 10)))
        chain.append(pb.Compressor(threshold_db=_u(rng, -24, -8), ratio=_u(rng, 2, 6),
                                   attack_ms=_u(rng, 1, 20), release_ms=_u(rng, 50, 200)))
        room = (0.0, 0.35)
    elif role == "bass":
        chain += [pb.HighpassFilter(cutoff_frequency_hz=_u(rng, 25, 45)),
                  pb.LowpassFilter(cutoff_frequency_hz=_u(rng, 1500, 8000))]
        if rng.random() < 0.3:
            chain.append(pb.Distortion(drive_db=_u(rng, 3, 15)))
        chain.append(pb.Compressor(threshold_db=_u(rng, -24, -10), ratio=_u(rng, 3, 8),
                                   attack_ms=_u(rng, 5, 30), release_ms=_u(rng, 80, 250)))
        room = (0.0, 0.1)
    elif role == "guitar":
        chain += _eq(rng, 80)
        if rng.random() < 0.5:  # an amp: drive then a cabinet-like band limit
            chain += [pb.Distortion(drive_db=_u(rng, 8, 30)),
                      pb.LowpassFilter(cutoff_frequency_hz=_u(rng, 3000, 6500)),
                      pb.Gain(gain_db=-12)]
        if rng.random() < 0.4:
            chain.append(pb.Chorus(rate_hz=_u(rng, 0.3, 2), depth=_u(rng, 0.1, 0.4), mix=0.4))
        if rng.random() < 0.4:
            chain.append(pb.Delay(delay_seconds=_u(rng, 0.12, 0.45), feedback=_u(rng, 0.1, 0.4),
                                  mix=_u(rng, 0.1, 0.3)))
        room = (0.05, 0.5)
    elif role == "vocals":
        chain += [pb.HighpassFilter(cutoff_frequency_hz=_u(rng, 80, 150)),
                  pb.PeakFilter(cutoff_frequency_hz=_u(rng, 2500, 5000), gain_db=_u(rng, 0, 5),
                                q=1.0),
                  pb.Compressor(threshold_db=_u(rng, -24, -12), ratio=_u(rng, 2, 5),
                                attack_ms=_u(rng, 2, 15), release_ms=_u(rng, 60, 200))]
        if rng.random() < 0.5:
            chain.append(pb.Delay(delay_seconds=_u(rng, 0.2, 0.5), feedback=_u(rng, 0.1, 0.35),
                                  mix=_u(rng, 0.05, 0.25)))
        room = (0.15, 0.6)
    else:  # keys and sustained (strings, pads, organ, brass)
        chain += _eq(rng, 60)
        if rng.random() < 0.3:
            chain.append(pb.Chorus(rate_hz=_u(rng, 0.2, 1.5), depth=_u(rng, 0.1, 0.3), mix=0.3))
        chain.append(pb.Compressor(threshold_db=_u(rng, -20, -8), ratio=_u(rng, 1.5, 3)))
        room = (0.1, 0.5) if role == "keys" else (0.2, 0.7)
    wet = _u(rng, *room)
    if wet > 0.02:
        chain.append(pb.Reverb(room_size=_u(rng, 0.2, 0.9), damping=_u(rng, 0.2, 0.8),
                               wet_level=wet, dry_level=1.0, width=_u(rng, 0.5, 1.0)))
    return pb.Pedalboard(chain)


def apply_chain(chain, x: np.ndarray, sr: int) -> np.ndarray:  # noqa: ANN001 - Pedalboard
    """Run ``x (2, frames)`` through ``chain``; same shape, float64."""
    if not np.any(x):
        return np.asarray(x, dtype=np.float64)
    y = chain(np.ascontiguousarray(x, dtype=np.float32), sr, reset=True)
    return np.asarray(y[:, :x.shape[-1]], dtype=np.float64)


def _envelope(x: np.ndarray, sr: int) -> np.ndarray:
    """A smooth level envelope of mono ``x`` (10-ms moving RMS)."""
    n = max(1, int(0.01 * sr))
    p = np.convolve(x * x, np.ones(n) / n, mode="same")
    return np.sqrt(np.maximum(p, 0.0))


def bus_process(stems: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """The mix bus applied per stem (so the stems still sum to the mixture).

    Args:
        stems: ``(stems, 2, frames)``.
        sr: sample rate.
        rng: the song's generator.

    Returns:
        the processed stems, same shape, float64.
    """
    import pedalboard as pb

    out = np.asarray(stems, dtype=np.float64).copy()
    eq = pb.Pedalboard([pb.LowShelfFilter(cutoff_frequency_hz=_u(rng, 80, 200),
                                          gain_db=_u(rng, -2, 3)),
                        pb.HighShelfFilter(cutoff_frequency_hz=_u(rng, 6000, 12000),
                                           gain_db=_u(rng, -2, 3))])
    for i in range(out.shape[0]):
        out[i] = apply_chain(eq, out[i], sr)
    mix = out.sum(axis=0)
    if not np.any(mix):
        return out
    comp = pb.Pedalboard([pb.Compressor(threshold_db=_u(rng, -18, -6), ratio=_u(rng, 1.5, 4),
                                        attack_ms=_u(rng, 5, 30), release_ms=_u(rng, 80, 300))])
    peak = np.abs(mix).max()
    scaled = mix / peak * 0.5  # compress at a fixed level so the threshold means the same
    squashed = apply_chain(comp, scaled, sr)
    env_in = _envelope(scaled.mean(axis=0), sr)
    env_out = _envelope(squashed.mean(axis=0), sr)
    gain = np.where(env_in > 1e-5, env_out / np.maximum(env_in, 1e-5), 1.0)
    gain = np.clip(gain, 0.05, 1.5)
    return out * gain[None, None, :]
