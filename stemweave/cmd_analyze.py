"""``stemweave analyze``: tempo, time signature, key and chords of audio files.

Examples::

    stemweave analyze song.flac
    stemweave analyze *.mp3 --json > grid.jsonl

Per file, the human output is the tempo, time signature, key and the chords bar by bar; with
``--json`` it is one JSON object per line (keys ``file``, ``tempo_bpm``, ``time_signature``,
``key``, ``beats``, ``downbeats``, ``chords`` and also ``duration`` and ``source``). A file that
cannot be read gets one line on stderr; the others are still analysed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    """Register the ``analyze`` subcommand."""
    p = sub.add_parser(
        "analyze", help="tempo, beats, time signature, key and chords of audio files",
        description="Detect tempo, beats and downbeats, time signature, key and a chord per "
                    "beat. Needs librosa (pip install 'stemweave[analysis]').",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files")
    p.add_argument("--json", action="store_true", help="one JSON object per line per file")
    p.set_defaults(run=run)


def _clock(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:04.1f}"


def format_human(path: str, analysis: Any) -> str:
    """The human-readable report of one file."""
    lines = [path,
             f"  tempo {analysis.tempo_bpm:.1f} BPM, {analysis.time_signature}, "
             f"key {analysis.key}, length {_clock(analysis.duration)}"]
    bars = analysis.chords_per_bar()
    if analysis.downbeats and analysis.beats[0] < analysis.downbeats[0]:
        pickup = [c.label for c in analysis.chords if c.start < analysis.downbeats[0] - 0.05]
        lines.append(f"  pickup  0:00-{_clock(analysis.downbeats[0])}: {' '.join(pickup)}")
    for i in range(0, len(bars), 4):
        group = bars[i:i + 4]
        first, last = group[0][0], group[-1][0]
        cells = " | ".join(" ".join(labels) for _, labels in group)
        lines.append(f"  bars {first:3d}-{last:<3d} {cells}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Analyse every file; 1 if any could not be analysed."""
    from core.analysis import INSTALL_HINT, analyze, available
    from core.audio import load_audio
    from core.errors import AnalysisError, StemweaveError

    if not available():
        raise AnalysisError(INSTALL_HINT)
    status = 0
    for path in args.files:
        try:
            audio, rate = load_audio(path)
            result = analyze(audio, rate)
        except StemweaveError as exc:
            print(f"stemweave: error: {exc}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps(result.to_json(file=path)), flush=True)
        else:
            print(format_human(path, result), flush=True)
    return status
