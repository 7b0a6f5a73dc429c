"""Practice presets: named per-stem mixer settings ("karaoke", "drummer", "only bass", ...).

A :class:`Preset` is plain data -- per-lane gain (dB), mute, solo and optionally pan, plus an
optional tempo and pitch -- that round-trips through JSON-friendly dicts (:meth:`Preset.to_dict`,
:meth:`Preset.from_dict`), so the app can store user presets wherever it keeps settings.

:func:`apply_preset` sets a mixer's lanes; it works with :class:`core.mixer.Mixer`
(``set_lane(lane, gain_db=, mute=, solo=, pan=)``, lane 0 = the mixture, lanes 1-4 = the stems in
:data:`core.config.STEMS` order) and, duck-typed, with any object offering
``set_gain_db(name, db)``, ``set_mute(name, on)``, ``set_solo(name, on)`` and
``set_pan(name, p)`` keyed by stem name. :func:`capture_preset` reads a mixer back into a preset.

Built-in presets (:func:`builtin_presets`): "full mix", "karaoke" (vocals off), "drummer" (drums
off), "bassist" (bass off), "no guitar" and "no piano" (six-stem models), and "only <stem>" for
every stem. They name every lane, so applying
one undoes any previous preset or solo; they mute rather than solo, so the mixture still plays
where a separation has not reached yet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.config import STEMS
from core.practice.stretch import PracticeError, check_semitones, check_tempo

#: the lane name of the original mixture in presets.
MIXTURE = "mixture"
#: version of the dict format written by :meth:`Preset.to_dict`.
FORMAT_VERSION = 1


class PresetError(PracticeError):
    """Preset data is malformed or does not fit the song's stems."""


@dataclass(frozen=True)
class LaneSetting:
    """The state a preset gives one lane.

    Attributes:
        gain_db: fader level in dB (0 = unity; <= -120 is silence).
        mute: lane muted.
        solo: lane soloed.
        pan: -1 (left) .. +1 (right), or ``None`` to leave the pan as it is.
    """

    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False
    pan: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (``pan`` left out when ``None``)."""
        d: dict[str, Any] = {"gain_db": self.gain_db, "mute": self.mute, "solo": self.solo}
        if self.pan is not None:
            d["pan"] = self.pan
        return d

    @classmethod
    def from_dict(cls, data: Any, where: str = "lane") -> LaneSetting:
        """Parse :meth:`to_dict` output.

        Raises:
            PresetError: wrong types or values.
        """
        if not isinstance(data, Mapping):
            raise PresetError(f"Preset {where}: expected an object, got {type(data).__name__}.")
        unknown = set(data) - {"gain_db", "mute", "solo", "pan"}
        if unknown:
            raise PresetError(f"Preset {where}: unknown keys {sorted(unknown)}.")
        gain = _number(data.get("gain_db", 0.0), f"{where}.gain_db")
        if gain > 24.0:
            raise PresetError(f"Preset {where}: gain {gain:g} dB is above +24 dB.")
        pan = data.get("pan")
        if pan is not None:
            pan = _number(pan, f"{where}.pan")
            if not -1.0 <= pan <= 1.0:
                raise PresetError(f"Preset {where}: pan must be between -1 and 1, got {pan:g}.")
        return cls(gain_db=gain, mute=_flag(data.get("mute", False), f"{where}.mute"),
                   solo=_flag(data.get("solo", False), f"{where}.solo"), pan=pan)


@dataclass(frozen=True)
class Preset:
    """A named mix setting.

    Attributes:
        name: shown on the preset's button.
        lanes: setting per lane name (stem names from :data:`core.config.STEMS` and
            :data:`MIXTURE`); lanes not named are left as they are.
        tempo: tempo ratio to switch to, or ``None`` to leave the tempo alone.
        semitones: pitch shift to switch to, or ``None``.
        builtin: true for the presets made by :func:`builtin_presets` (not deletable).
    """

    name: str
    lanes: Mapping[str, LaneSetting] = field(default_factory=dict)
    tempo: float | None = None
    semitones: float | None = None
    builtin: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (the format :meth:`from_dict` reads)."""
        d: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "name": self.name,
            "lanes": {k: v.to_dict() for k, v in self.lanes.items()},
        }
        if self.tempo is not None:
            d["tempo"] = self.tempo
        if self.semitones is not None:
            d["semitones"] = self.semitones
        return d

    @classmethod
    def from_dict(cls, data: Any) -> Preset:
        """Parse a dict written by :meth:`to_dict` (e.g. loaded from JSON or settings).

        Raises:
            PresetError: the data is not a valid preset.
        """
        if not isinstance(data, Mapping):
            raise PresetError(f"A preset must be an object, got {type(data).__name__}.")
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise PresetError(f"Preset format version {version!r} is not supported "
                              f"(this version reads {FORMAT_VERSION}).")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PresetError("A preset needs a non-empty name.")
        lanes_raw = data.get("lanes", {})
        if not isinstance(lanes_raw, Mapping):
            raise PresetError(f"Preset {name!r}: 'lanes' must be an object.")
        lanes = {}
        for key, value in lanes_raw.items():
            if not isinstance(key, str) or not key:
                raise PresetError(f"Preset {name!r}: lane names must be strings.")
            lanes[key] = LaneSetting.from_dict(value, f"{name!r} lane {key!r}")
        tempo = data.get("tempo")
        semitones = data.get("semitones")
        try:
            tempo = None if tempo is None else check_tempo(_number(tempo, "tempo"))
            semitones = None if semitones is None else check_semitones(
                _number(semitones, "semitones"))
        except PresetError:
            raise
        except PracticeError as exc:
            raise PresetError(f"Preset {name!r}: {exc}") from exc
        return cls(name=name.strip(), lanes=lanes, tempo=tempo, semitones=semitones)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PresetError(f"Preset {where}: expected a number, got {value!r}.")
    v = float(value)
    if not math.isfinite(v):
        raise PresetError(f"Preset {where}: expected a finite number, got {value!r}.")
    return v


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise PresetError(f"Preset {where}: expected true or false, got {value!r}.")
    return value


def _full(stems: Iterable[str], off: Iterable[str] = ()) -> dict[str, LaneSetting]:
    off = set(off)
    lanes = {MIXTURE: LaneSetting()}
    for s in stems:
        lanes[s] = LaneSetting(mute=s in off)
    return lanes


def builtin_presets(stems: Iterable[str] = STEMS) -> list[Preset]:
    """The built-in presets for a song's stems.

    Returns:
        "full mix", "karaoke" (vocals off), "drummer" (drums off), "bassist" (bass off),
        "no guitar", "no piano" (six-stem models) -- each only when that stem exists -- then
        "only <stem>" for every stem. Every preset names all lanes (mixture included) with
        0 dB, no solo; pans are left alone.
    """
    stems = list(stems)
    out = [Preset("full mix", _full(stems), builtin=True)]
    for name, stem in (("karaoke", "vocals"), ("drummer", "drums"), ("bassist", "bass"),
                       ("no guitar", "guitar"), ("no piano", "piano")):
        if stem in stems:
            out.append(Preset(name, _full(stems, off=[stem]), builtin=True))
    for stem in stems:
        out.append(Preset(f"only {stem}", _full(stems, off=[s for s in stems if s != stem]),
                          builtin=True))
    return out


def builtin_preset(name: str, stems: Iterable[str] = STEMS) -> Preset:
    """One built-in preset by name ("karaoke", "only bass", ...).

    Raises:
        PresetError: no built-in preset has that name.
    """
    for p in builtin_presets(stems):
        if p.name == name:
            return p
    raise PresetError(f"There is no built-in preset called {name!r}.")


def _lane_index(name: str, stems: tuple[str, ...]) -> int | None:
    if name == MIXTURE:
        return 0
    if name in stems:
        return stems.index(name) + 1
    return None


def apply_preset(preset: Preset, mixer: Any, stems: Iterable[str] = STEMS) -> list[str]:
    """Set a mixer's lanes from a preset (tempo and pitch are the caller's business).

    Args:
        preset: the preset.
        mixer: a :class:`core.mixer.Mixer` (``set_lane``) or an object with
            ``set_gain_db/set_mute/set_solo/set_pan(name, value)``.
        stems: stem names in lane order (lane ``i + 1`` is ``stems[i]``).

    Returns:
        the names of the lanes in the preset that the mixer does not have (skipped).

    Raises:
        PresetError: the mixer offers neither interface.
    """
    stems = tuple(stems)
    skipped = []
    by_lane = hasattr(mixer, "set_lane")
    if not by_lane and not all(hasattr(mixer, m) for m in
                               ("set_gain_db", "set_mute", "set_solo")):
        raise PresetError("This mixer cannot take presets (no set_lane or set_gain_db/"
                          "set_mute/set_solo).")
    for name, s in preset.lanes.items():
        if by_lane:
            lane = _lane_index(name, stems)
            if lane is None:
                skipped.append(name)
                continue
            mixer.set_lane(lane, gain_db=s.gain_db, mute=s.mute, solo=s.solo, pan=s.pan)
        else:
            if name != MIXTURE and name not in stems:
                skipped.append(name)
                continue
            mixer.set_gain_db(name, s.gain_db)
            mixer.set_mute(name, s.mute)
            mixer.set_solo(name, s.solo)
            if s.pan is not None and hasattr(mixer, "set_pan"):
                mixer.set_pan(name, s.pan)
    return skipped


def capture_preset(name: str, mixer: Any, stems: Iterable[str] = STEMS, *,
                   tempo: float | None = None, semitones: float | None = None) -> Preset:
    """A user preset holding a mixer's current lane states (pan included).

    Args:
        name: the preset's name.
        mixer: a :class:`core.mixer.Mixer` (its ``lanes``: :class:`core.mixer.LaneState` with
            ``gain_db``, ``mute``, ``solo``, ``pan``; lane 0 = mixture).
        stems: stem names in lane order.
        tempo: tempo to store with the preset, or ``None``.
        semitones: pitch shift to store with the preset, or ``None``.

    Raises:
        PresetError: empty name or a mixer without ``lanes``.
    """
    if not name or not name.strip():
        raise PresetError("A preset needs a non-empty name.")
    lanes_state = getattr(mixer, "lanes", None)
    if lanes_state is None:
        raise PresetError("This mixer does not expose its lanes; cannot save a preset.")
    names = (MIXTURE, *tuple(stems))
    lanes = {}
    for lane_name, st in zip(names, lanes_state):
        lanes[lane_name] = LaneSetting(gain_db=float(st.gain_db), mute=bool(st.mute),
                                       solo=bool(st.solo), pan=float(st.pan))
    return Preset(name=name.strip(), lanes=lanes,
                  tempo=None if tempo is None else check_tempo(tempo),
                  semitones=None if semitones is None else check_semitones(semitones))
