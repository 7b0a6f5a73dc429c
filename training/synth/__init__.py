"""``stemweave synth``: a procedural multitrack song generator for training data and demos.

Songs are composed (:mod:`.compose`: tempo, key, progressions, sections, grooves, bass lines,
melodies with syllables), rendered per stem (:mod:`.instruments`, :mod:`.vocals`) with numpy and
scipy only, and written straight into the prepared-dataset format (:mod:`training.prepared`).
Everything is reproducible from a seed.
"""

from training.synth.compose import SongPlan, plan_song
from training.synth.song import (
    DEMO_RATE,
    TRAIN_RATE,
    generate_dataset,
    render_demo,
    render_song,
    song_rng,
)

__all__ = ["DEMO_RATE", "TRAIN_RATE", "SongPlan", "generate_dataset", "plan_song", "render_demo",
           "render_song", "song_rng"]
