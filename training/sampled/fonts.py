"""The SoundFonts the sampled song source may use, and which split each may reach.

SoundFonts come from Debian packages (installed by ``scripts/setup_training.sh``). Fonts are
grouped into *families*: files derived from the same sample set (FluidR3's GM, GS and mono
variants) form one family, and a family belongs to exactly one split, so no timbre heard in
training or validation is ever scored in the test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import DataError

#: directories searched for SoundFont files (Debian's locations first).
SEARCH_DIRS: tuple[str, ...] = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3",
                                "/usr/share/soundfonts", "/usr/lib/lv2/avldrums.lv2")
#: environment variable with extra directories (``os.pathsep``-separated).
ENV_DIRS = "STEMWEAVE_SOUNDFONT_PATH"


@dataclass(frozen=True)
class SoundFont:
    """One SoundFont file the generator knows about.

    Attributes:
        name: short identifier (recorded in each song's metadata).
        family: sample-set family; a family is confined to one split.
        file: file name, searched in :data:`SEARCH_DIRS` and :data:`ENV_DIRS`.
        package: the Debian package that ships it.
        kind: ``"gm"`` (a General MIDI bank with melodic presets and drum kits) or ``"drums"``
            (drum kits only, GM key map).
        licence: the licence of the sample set.
    """

    name: str
    family: str
    file: str
    package: str
    kind: str
    licence: str

    def path(self) -> Path | None:
        """The installed file, or ``None`` if it is not installed."""
        dirs = [d for d in os.environ.get(ENV_DIRS, "").split(os.pathsep) if d]
        for d in (*dirs, *SEARCH_DIRS):
            p = Path(d) / self.file
            if p.is_file():
                return p
        return None


FONTS: tuple[SoundFont, ...] = (
    SoundFont("timgm6mb", "timgm6mb", "TimGM6mb.sf2", "timgm6mb-soundfont", "gm", "GPL-2"),
    SoundFont("musescore-lite", "musescore", "MuseScore_General_Lite.sf3",
              "musescore-general-soundfont-small", "gm", "MIT"),
    SoundFont("avl-black-pearl", "avldrums", "Black_Pearl_4_LV2.sf2", "avldrums.lv2-soundfont",
              "drums", "GPL-2+"),
    SoundFont("avl-red-zeppelin", "avldrums", "Red_Zeppelin_4_LV2.sf2",
              "avldrums.lv2-soundfont", "drums", "GPL-2+"),
    SoundFont("csound-gmbank", "csound", "sf_GMbank.sf2", "csound-soundfont", "gm",
              "LGPL-2.1+"),
    SoundFont("opl3-fm", "opl3", "OPL-3_FM_128M.sf2", "opl3-soundfont", "gm", "CC-BY-SA-4.0"),
    SoundFont("fluidr3-gm", "fluidr3", "FluidR3_GM.sf2", "fluid-soundfont-gm", "gm", "MIT"),
    SoundFont("fluidr3-gs", "fluidr3", "FluidR3_GS.sf2", "fluid-soundfont-gs", "gm", "MIT"),
    SoundFont("fluidr3-mono", "fluidr3", "FluidR3Mono_GM.sf3", "fluidr3mono-gm-soundfont", "gm",
              "MIT"),
)

#: which families each split draws from. FluidR3 is held out for the test; the csound bank for
#: validation (so the best checkpoint is chosen on unheard timbres too).
SPLIT_FAMILIES: dict[str, frozenset[str]] = {
    "train": frozenset({"timgm6mb", "musescore", "avldrums"}),
    "valid": frozenset({"csound"}),
    "test": frozenset({"fluidr3"}),
}
#: the test split uses this one font only (the issue's "rendered with FluidR3_GM only").
TEST_FONTS: frozenset[str] = frozenset({"fluidr3-gm"})
#: families the training split adds only on request (``stemweave synth --extra-fonts``), so that
#: the songs of a seed stay what the default families render: OPL3 FM synthesis (General MIDI
#: patches of an FM chip, a timbre family unlike any sample set).
EXTRA_TRAIN_FAMILIES: frozenset[str] = frozenset({"opl3"})


def fonts_for_split(split: str, fonts: tuple[SoundFont, ...] = FONTS,
                    extra: tuple[str, ...] = ()) -> tuple[SoundFont, ...]:
    """The fonts a split may use (installed or not), by family; the test split FluidR3_GM only.

    Args:
        split: ``train``, ``valid`` or ``test``.
        fonts: the registry.
        extra: families of :data:`EXTRA_TRAIN_FAMILIES` to add (training split only).

    Raises:
        DataError: for an unknown split, or an extra family that is unknown or asked for
            outside the training split.
    """
    if split not in SPLIT_FAMILIES:
        raise DataError(f"unknown split {split!r}")
    unknown = sorted(set(extra) - EXTRA_TRAIN_FAMILIES)
    if unknown:
        raise DataError(f"unknown extra font family {', '.join(unknown)} (choose from "
                        f"{', '.join(sorted(EXTRA_TRAIN_FAMILIES))})")
    if extra and split != "train":
        raise DataError(f"extra font families are for the training split only, not {split}")
    families = SPLIT_FAMILIES[split] | set(extra)
    chosen = tuple(f for f in fonts if f.family in families)
    if split == "test":
        chosen = tuple(f for f in chosen if f.name in TEST_FONTS)
    return chosen


def available_fonts(split: str, extra: tuple[str, ...] = ()) -> tuple[SoundFont, ...]:
    """The installed fonts of a split (with ``extra`` families: see :func:`fonts_for_split`);
    at least one General MIDI bank is required, and every extra family must be installed.

    Raises:
        DataError: naming the Debian packages to install when the split has no GM bank or an
            extra family is missing.
    """
    allowed = fonts_for_split(split, extra=extra)
    found = tuple(f for f in allowed if f.path() is not None)
    for family in extra:
        if not any(f.family == family for f in found):
            wanted = sorted({f.package for f in allowed if f.family == family})
            raise DataError(f"the {family} SoundFont is not installed: install "
                            f"{' or '.join(wanted)} (bash scripts/setup_training.sh)")
    if not any(f.kind == "gm" for f in found):
        wanted = sorted({f.package for f in allowed if f.kind == "gm"})
        raise DataError(f"no SoundFont for the {split} split is installed: install "
                        f"{' or '.join(wanted)} (bash scripts/setup_training.sh)")
    return found
