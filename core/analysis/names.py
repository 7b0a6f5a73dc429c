"""Pitch-class names, chord qualities and labels (``"Am"``, ``"F#7"``, ``"N"``) and key names.

Chords are ``(root pitch class, quality)`` pairs; a quality is one of :data:`QUALITIES`. Spelling
follows the key: flat keys (F major, D minor, ...) spell with flats, the others with sharps.
"""

from __future__ import annotations

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")

#: quality -> (intervals above the root, label suffix, mir_eval quality)
QUALITIES: dict[str, tuple[tuple[int, ...], str, str]] = {
    "maj": ((0, 4, 7), "", "maj"),
    "min": ((0, 3, 7), "m", "min"),
    "dim": ((0, 3, 6), "dim", "dim"),
    "7": ((0, 4, 7, 10), "7", "7"),
    "maj7": ((0, 4, 7, 11), "maj7", "maj7"),
    "min7": ((0, 3, 7, 10), "m7", "min7"),
    "hdim7": ((0, 3, 6, 10), "m7b5", "hdim7"),
}

#: label used for "no chord" (silence, drums only).
NO_CHORD = "N"

#: tonic pitch classes whose major / minor keys are written with flats.
_FLAT_MAJOR = {5, 10, 3, 8, 1}  # F Bb Eb Ab Db
_FLAT_MINOR = {2, 7, 0, 5, 10}  # D G C F Bb
_NAME_TO_PC = {n: i for names in (SHARP_NAMES, FLAT_NAMES) for i, n in enumerate(names)}


def uses_flats(tonic: int, mode: str) -> bool:
    """Whether the key of ``tonic`` (pitch class) in ``mode`` ("major"/"minor") uses flats."""
    return tonic % 12 in (_FLAT_MAJOR if mode == "major" else _FLAT_MINOR)


def pitch_name(pc: int, flats: bool = False) -> str:
    """Name of a pitch class: ``pitch_name(1) == "C#"``, ``pitch_name(1, True) == "Db"``."""
    return (FLAT_NAMES if flats else SHARP_NAMES)[pc % 12]


def key_name(tonic: int, mode: str) -> str:
    """``key_name(4, "major") == "E major"``; ``key_name(1, "minor") == "C# minor"``."""
    return f"{pitch_name(tonic, uses_flats(tonic, mode))} {mode}"


def parse_key(name: str) -> tuple[int, str]:
    """Inverse of :func:`key_name`: ``"C# minor" -> (1, "minor")``.

    Raises:
        ValueError: not a key name.
    """
    parts = name.split()
    if len(parts) != 2 or parts[0] not in _NAME_TO_PC or parts[1] not in ("major", "minor"):
        raise ValueError(f"not a key name: {name!r}")
    return _NAME_TO_PC[parts[0]], parts[1]


def chord_label(root: int, quality: str, flats: bool = False) -> str:
    """``chord_label(9, "min") == "Am"``; ``chord_label(6, "7") == "F#7"``."""
    return pitch_name(root, flats) + QUALITIES[quality][1]


def parse_chord(label: str) -> tuple[int, str] | None:
    """Inverse of :func:`chord_label`; ``None`` for ``"N"``.

    Raises:
        ValueError: not a chord label of our vocabulary.
    """
    if label == NO_CHORD:
        return None
    root = label[:2] if len(label) > 1 and label[1] in "#b" else label[:1]
    suffix = label[len(root):]
    for quality, (_, sfx, _) in QUALITIES.items():
        if sfx == suffix and root in _NAME_TO_PC:
            return _NAME_TO_PC[root], quality
    raise ValueError(f"not a chord label: {label!r}")


def to_mirex(label: str) -> str:
    """Our label in the MIREX/Harte syntax that ``mir_eval`` reads: ``"Am7" -> "A:min7"``."""
    parsed = parse_chord(label)
    if parsed is None:
        return "N"
    root, quality = parsed
    return f"{SHARP_NAMES[root]}:{QUALITIES[quality][2]}"


def quality_of(pitch_classes: tuple[int, ...] | list[int], root: int) -> str | None:
    """The quality whose intervals are exactly ``pitch_classes`` above ``root`` (or ``None``)."""
    rel = tuple(sorted({(p - root) % 12 for p in pitch_classes}))
    for quality, (intervals, _, _) in QUALITIES.items():
        if tuple(sorted(intervals)) == rel:
            return quality
    return None
