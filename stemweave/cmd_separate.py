"""``stemweave separate``: separate audio files into stem files from the command line.

Writes ``OUTDIR/<input file stem>/<stem>.<ext>`` (inputs that share a name without the
extension, such as ``song.flac`` and ``song.mp3``, get ``OUTDIR/song.flac/`` and
``OUTDIR/song.mp3/``; each input's folder is printed). Every stem is written to a hidden temporary
file and renamed only when all stems of that input are complete, so a failure or Ctrl-C never
leaves partial stems. A bad input gets one line on stderr; the remaining inputs are still
processed and the exit status is non-zero at the end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import options


def _stems(value: str) -> list[str]:
    """A comma-separated list of stem names; checked against the model's own names once the
    model is known (:func:`check_stems`), since a model may have 4 or 6 stems."""
    names = [s.strip().lower() for s in value.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no stem names given")
    return list(dict.fromkeys(names))


def check_stems(wanted: list[str] | None, model: Path) -> None:
    """Refuse names the model does not separate into (one clear line)."""
    from core.errors import SeparationError
    from core.model_store import model_stems

    if wanted is None:
        return
    have = model_stems(model)
    bad = [s for s in wanted if s not in have]
    if bad:
        raise SeparationError(f"unknown stem(s) {', '.join(bad)}; this model separates into "
                              f"{','.join(have)}")


def _bounded(kind: type, lo: float, hi: float | None, rule: str) -> Callable[[str], Any]:
    """An argparse type: parse with ``kind`` and require ``lo <= value <= hi``."""

    def parse(value: str) -> Any:
        try:
            v = kind(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a valid number: {value!r}") from exc
        if not (lo <= v and (hi is None or v <= hi)):
            raise argparse.ArgumentTypeError(rule)
        return v

    return parse


def checked(check: Callable[[float], float]) -> Callable[[str], float]:
    """An argparse type: a number accepted by one of :mod:`core.options`' checks (the engine
    applies the same check, so the bounds are written once)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a valid number: {value!r}") from exc
        try:
            return check(number)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


_threads = _bounded(int, 1, None, "must be at least 1")


def add_parser(sub: Any) -> None:
    """Register the ``separate`` subcommand."""
    p = sub.add_parser(
        "separate", help="separate audio files into drums, bass, other and vocals",
        description="Separate audio files into OUTDIR/<input name>/<stem>.<format>.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio files (WAV, FLAC, OGG, MP3; M4A/AAC/video need ffmpeg)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--model", metavar="NAME|PATH",
                   help="weights file, 'builtin', or a downloaded or imported model's name "
                        "(default: the built-in model, else the first downloaded one)")
    p.add_argument("--device", default="auto", choices=options.DEVICES,
                   help="compute device (default: auto = CUDA, then MPS, then CPU)")
    p.add_argument("--format", default="wav", choices=["wav", "flac"], help="output format")
    p.add_argument("--bits", default="24", choices=["16", "24", "32f"],
                   help="sample format (32f = 32-bit float, WAV only)")
    p.add_argument("--stems", type=_stems, default=None, metavar="LIST",
                   help="comma-separated subset of the model's stems, e.g. drums,vocals "
                        "(default: all; `stemweave models list` shows each model's stems)")
    p.add_argument("--segment", type=checked(options.check_segment), default=None,
                   metavar="SECONDS",
                   help=f"model window length in seconds, at least {options.SEGMENT_MIN_S:g} "
                        f"(default {options.DEFAULT_SEGMENT_S:g})")
    p.add_argument("--overlap", type=checked(options.check_overlap), default=None,
                   metavar="FRACTION",
                   help=f"overlap between neighbouring windows, {options.OVERLAP_MIN:g}-"
                        f"{options.OVERLAP_MAX:g} (default {options.DEFAULT_OVERLAP:g})")
    p.add_argument("--threads", type=_threads, default=None, metavar="N",
                   help="CPU threads (default: all cores)")
    p.add_argument("--precision", default="auto", choices=options.PRECISIONS,
                   help="network precision (default auto: the fastest one within 35 dB SDR of "
                        "fp32, measured once per model and machine; -v shows the choice)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="say which precision is used and why (measures it now if needed)")
    p.add_argument("--wiener", action=argparse.BooleanOptionalAction, default=None,
                   help="multichannel Wiener post-filter on the stems: cleaner stems drawn from "
                        "the mix (default: on for Meta-TasNet models, off for HTDemucs); "
                        "--no-wiener keeps the network's raw output and is faster")
    p.add_argument("--sum-to-mix", action="store_true",
                   help="make the stems add up exactly to the input")
    p.add_argument("--lsq-gains", action="store_true",
                   help="rescale each stem by the least-squares fit to the mix (as in the paper)")
    p.set_defaults(run=run)


def _progress_bar(label: str) -> tuple[Any, Any]:
    """A tqdm bar on a terminal (None otherwise) and the progress callback feeding it."""
    if not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm

    class Bar(tqdm):
        """tqdm with the engine's own ETA as ``{eta}`` (tqdm puts ", " before ``{postfix}``)."""

        eta = "?"

        @property
        def format_dict(self) -> dict[str, Any]:
            return {**super().format_dict, "eta": self.eta}

    bar = Bar(total=100, desc=label, unit="%", leave=False, file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{eta}")

    def update(p: Any) -> None:
        bar.n = round(100 * p.fraction, 1)
        bar.eta = ("?" if p.eta_s is None
                   else f"{int(p.eta_s // 60):02d}:{int(p.eta_s % 60):02d}")
        bar.refresh()

    return bar, update


def run(args: argparse.Namespace) -> int:
    """Separate every input; returns 0, or 1 if any input failed."""
    import logging

    from core.errors import StemweaveError
    from core.model_store import resolve_model
    from core.separator import Separator

    log = logging.getLogger("stemweave.separate")
    out_root = Path(args.output).expanduser()
    model = resolve_model(args.model)
    log.info("model: %s", model)
    check_stems(args.stems, model)
    sep = Separator(model, args.device, segment_s=args.segment,
                    overlap=args.overlap, threads=args.threads, precision=args.precision,
                    wiener=args.wiener)
    if getattr(args, "verbose", False):
        precision = sep.resolve_precision()
        choice = sep.precision_choice
        if choice is None:
            how = "as asked"
        elif choice.measured:
            how = "chosen by measurement: " + choice.describe()
        else:
            how = "auto, not measured: " + choice.not_measured
        print(f"stemweave: precision {precision} on {sep.device.type} ({how})", file=sys.stderr)
    failures = 0
    folders = output_folders([Path(item).expanduser() for item in args.inputs])
    for item in args.inputs:
        src = Path(item).expanduser()
        dest = out_root / folders[src]
        bar, update = _progress_bar(src.name)
        try:
            written = sep.separate_file(
                src, dest, stems=args.stems, format=args.format, bits=args.bits,
                progress=update, sum_to_mix=args.sum_to_mix, lsq_gains=args.lsq_gains)
        except StemweaveError as exc:
            failures += 1
            if bar is not None:
                bar.close()
            print(f"stemweave: error: {src}: {_strip_prefix(str(exc), str(src))}",
                  file=sys.stderr)
            continue
        finally:
            if bar is not None:
                bar.close()
        log.info("%s -> %s", src, ", ".join(str(p) for p in written.values()))
        print(f"{src} -> {dest}", file=sys.stdout)
    return 1 if failures else 0


def output_folders(inputs: list[Path]) -> dict[Path, str]:
    """Each input's output folder name: its file name without the extension, and where two
    inputs share that (``song.flac``, ``song.mp3``), the extension too (``song.flac``,
    ``song.mp3``), then `` (2)``, `` (3)`` for any clash left. The same file given twice keeps
    one folder."""
    by_stem: dict[str, set[Path]] = {}
    for p in inputs:
        by_stem.setdefault(p.stem, set()).add(p)
    names: dict[Path, str] = {}
    used: set[str] = set()
    for p in inputs:
        if p in names:
            continue
        name = p.stem if len(by_stem[p.stem]) == 1 else p.name
        base, n = name, 2
        while name in used:
            name, n = f"{base} ({n})", n + 1
        used.add(name)
        names[p] = name
    return names


def _strip_prefix(message: str, path: str) -> str:
    """Drop a leading ``<path>: `` from a message that already names the file."""
    for prefix in (f"{path}: ",):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message
