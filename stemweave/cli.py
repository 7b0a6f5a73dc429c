"""The ``stemweave`` console entry point: one command with subcommands.

``stemweave`` alone starts the GUI. Errors a user can cause end in one line on stderr and a
non-zero exit status; tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from stemweave import __version__

#: subcommand -> module (each has ``add_parser(subparsers)`` and ``run(args) -> int``).
COMMANDS: dict[str, str] = {
    "gui": "stemweave.cmd_gui",
    "separate": "stemweave.cmd_separate",
    "models": "stemweave.cmd_models",
    "prepare": "stemweave.cmd_training",
    "train": "stemweave.cmd_training",
    "evaluate": "stemweave.cmd_training",
    "synth": "stemweave.cmd_synth",
    "analyze": "stemweave.cmd_analyze",
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="stemweave", description="Separate songs into drums, bass, other and vocals."
    )
    parser.add_argument("--version", action="version", version=f"stemweave {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen: set[str] = set()
    for module_name in COMMANDS.values():
        if module_name in seen:
            continue
        seen.add(module_name)
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not any(a in COMMANDS for a in argv) and not {"-h", "--help", "--version"} & set(argv):
        argv = [*[a for a in argv if a == "--debug"], "gui",
                *[a for a in argv if a != "--debug"]]
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from core.errors import StemweaveError

    try:
        return int(args.run(args) or 0)
    except StemweaveError as exc:
        if args.debug:
            raise
        print(f"stemweave: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stemweave: interrupted", file=sys.stderr)
        return 130
