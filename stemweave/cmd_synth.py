"""``stemweave synth``: generate multitrack training songs or a demo song.

Examples::

    stemweave synth /work/data/synth --songs 200 --seconds 30 --seed 0 --valid 10 --test 10
    stemweave synth --demo demo.flac --seed 1 --stems-dir demo_stems/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.config import STEMS


def add_parser(sub: Any) -> None:
    """Register the ``synth`` subcommand."""
    p = sub.add_parser(
        "synth", help="generate procedural multitrack songs (training data or a demo song)",
        description="Compose and render songs to drums/bass/other/vocals stems. With OUTDIR the "
                    "songs go straight into a prepared training dataset; with --demo one mixed "
                    "song is written as an audio file. Same seed, same output.",
    )
    p.add_argument("outdir", nargs="?", help="prepared dataset folder to create or extend")
    p.add_argument("--source", choices=["procedural", "sampled"], default="procedural",
                   help="procedural: numpy/scipy instruments (default); sampled: General MIDI "
                        "SoundFonts through FluidSynth, sung vocals and pedalboard production, "
                        "SoundFonts split by family (FluidR3 is the test split only; needs "
                        "bash scripts/setup_training.sh)")
    p.add_argument("--extra-fonts", metavar="FAMILY", default="",
                   help="with --source sampled: SoundFont families the training songs also draw "
                        "from, comma-separated: opl3 (FM synthesis; bash "
                        "scripts/setup_training.sh installs it). Off by default so that a seed "
                        "renders the same songs as before")
    p.add_argument("--timbre", type=float, default=0.0, metavar="AMOUNT",
                   help="with --source sampled: vary the training songs' presets (low-pass, "
                        "resonance, envelope, vibrato, tremolo), 0 (off, default) .. 1 (the "
                        "full ranges); validation and test songs play the fonts as they are")
    p.add_argument("--songs", type=int, default=100, help="training songs (default 100)")
    p.add_argument("--valid", type=int, default=0, help="validation songs")
    p.add_argument("--test", type=int, default=0, help="test songs")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each song")
    p.add_argument("--seed", type=int, default=0, help="master seed")
    p.add_argument("--workers", type=int, default=1, help="parallel processes")
    p.add_argument("--sample-rate", type=int, default=None,
                   help="render rate (default 32000 for datasets, 44100 for --demo)")
    p.add_argument("--demo", metavar="FILE", help="write one mixed song to FILE (.flac/.wav)")
    p.add_argument("--stems-dir", metavar="DIR", help="with --demo: also write the four stems")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _write_audio(path: Path, audio: Any, rate: int) -> None:
    import soundfile as sf

    from core.errors import AudioWriteError
    from core.fileio import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            sf.write(str(tmp), audio.T, rate, subtype="PCM_16",
                     format="FLAC" if path.suffix.lower() == ".flac" else None)
    except (OSError, RuntimeError, TypeError) as exc:
        raise AudioWriteError(f"could not write {path}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Generate a dataset or a demo song."""
    from core.errors import DataError
    from training.synth import DEMO_RATE, TRAIN_RATE, generate_dataset, render_demo

    if args.seconds <= 0 or args.seconds > 3600:
        raise DataError("--seconds must be between 0 and 3600")
    if args.workers < 1:
        raise DataError("--workers must be at least 1")
    if args.sample_rate is not None and not 8000 <= args.sample_rate <= 192000:
        raise DataError("--sample-rate must be between 8000 and 192000")
    if args.demo:
        rate = args.sample_rate or DEMO_RATE
        mix, stems, plan = render_demo(args.seed, args.seconds, rate)
        _write_audio(Path(args.demo), mix, rate)
        if args.stems_dir:
            for name, stem in zip(STEMS, stems):
                _write_audio(Path(args.stems_dir) / f"{name}.flac", stem, rate)
        print(f"wrote {args.demo}: {args.seconds:g} s at {rate} Hz, tempo {plan.tempo:.0f} BPM, "
              f"{plan.mode}, other: {', '.join(p.instrument for p in plan.other_parts)}")
        return 0
    if not args.outdir:
        raise DataError("give an output folder (OUTDIR) or --demo FILE")
    bar = None
    if not args.no_progress and sys.stderr.isatty():  # never a bar in a log file
        from tqdm import tqdm

        bar = tqdm(total=args.songs + args.valid + args.test, unit="song", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.n = done
            bar.refresh()

    try:
        root = generate_dataset(args.outdir, args.songs, args.seconds, args.seed, args.valid,
                                args.test, args.workers, args.sample_rate or TRAIN_RATE,
                                progress, source=args.source,
                                extra_fonts=tuple(f for f in args.extra_fonts.split(",") if f),
                                timbre=args.timbre)
    finally:
        if bar is not None:
            bar.close()
    print(f"dataset ready: {root}")
    return 0
