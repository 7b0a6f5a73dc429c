"""Practice tools: live tempo and pitch change, count-in and metronome clicks, mix presets.

* :mod:`core.practice.stretch` -- :class:`TempoPitch` (streaming, for playback) and
  :func:`render_offline` (export), built on the Rubber Band Library (``pylibrb``).
* :mod:`core.practice.click` -- :class:`TapTempo`, click sounds, :func:`count_in`,
  :func:`click_track` and the streaming :class:`Metronome`.
* :mod:`core.practice.presets` -- :class:`Preset` data, built-in presets ("karaoke", "drummer",
  "bassist", "only <stem>"), :func:`apply_preset` and :func:`capture_preset` for a mixer.

Integration notes for the player live in ``docs/practice.md``.
"""

from core.practice.click import (
    BPM_MAX,
    BPM_MIN,
    Metronome,
    TapTempo,
    bars_duration_s,
    check_bpm,
    click_sound,
    click_track,
    count_in,
    estimate_bpm,
)
from core.practice.presets import (
    MIXTURE,
    LaneSetting,
    Preset,
    PresetError,
    apply_preset,
    builtin_preset,
    builtin_presets,
    capture_preset,
)
from core.practice.stretch import (
    SEMITONES_MAX,
    SEMITONES_MIN,
    TEMPO_MAX,
    TEMPO_MIN,
    PracticeCancelled,
    PracticeError,
    TempoPitch,
    check_semitones,
    check_tempo,
    render_offline,
)

__all__ = [
    "BPM_MAX", "BPM_MIN", "MIXTURE", "SEMITONES_MAX", "SEMITONES_MIN", "TEMPO_MAX", "TEMPO_MIN",
    "LaneSetting", "Metronome", "PracticeCancelled", "PracticeError", "Preset", "PresetError",
    "TapTempo", "TempoPitch", "apply_preset", "bars_duration_s", "builtin_preset",
    "builtin_presets", "capture_preset", "check_bpm", "check_semitones", "check_tempo",
    "click_sound", "click_track", "count_in", "estimate_bpm", "render_offline",
]
