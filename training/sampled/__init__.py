"""A second song source beside :mod:`training.synth`: the same compositions rendered with
sampled instruments (General MIDI SoundFonts through FluidSynth), sung by several kinds of voice,
and produced the way records are (per-instrument effects, a mix bus, stereo placement).

Each stem is rendered on its own, so its truth is exact, and a song is a pure function of
``(seed, split, index)``. SoundFonts are assigned to splits by *family*
(:mod:`training.sampled.fonts`): the FluidR3 family never reaches training or validation and is
the whole test split, so the test measures separation of timbres the model has never heard.
Datasets: ``training.synth.generate_dataset(..., source="sampled")``.
"""

from training.sampled.fonts import SoundFont, available_fonts, fonts_for_split
from training.sampled.song import SampledSong, render_sampled_song

__all__ = ["SampledSong", "SoundFont", "available_fonts", "fonts_for_split",
           "render_sampled_song"]
