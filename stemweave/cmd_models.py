"""``stemweave models``: list, download, import, remove and describe separation models."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    """Register ``models`` and its actions on the top-level subparsers."""
    p = sub.add_parser(
        "models", help="list, download, import or remove models",
        description="Manage the models used for separation (stored in the per-user data folder, "
                    "or $STEMWEAVE_MODELS_DIR).")
    p.add_argument("--dir", dest="models_dir", default=None,
                   help="models folder to use instead of the default")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    actions.add_parser("list", help="list every model (family, stems, size) and whether it is "
                       "installed")
    d = actions.add_parser("download", help="download a catalogue model (resumes if interrupted)")
    d.add_argument("name", help="catalogue name (see 'stemweave models list')")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--force", action="store_true", help="download again even if installed")
    i = actions.add_parser("import", help="validate and store a checkpoint (.pt, .th or "
                           ".safetensors), e.g. a catalogue model downloaded elsewhere")
    i.add_argument("path", nargs="+", help="weights file: a native .safetensors model, the "
                   "authors' Meta-TasNet .pt checkpoint or a demucs .th release file (read "
                   "safely, only weights are accepted); a bag such as htdemucs_ft takes all its "
                   "files with --name htdemucs_ft")
    i.add_argument("--name", default=None, help="name to store it under (default: file name)")
    i.add_argument("--description", default=None, help="one line shown in lists")
    r = actions.add_parser("remove", help="delete an installed model")
    r.add_argument("name", help="installed model's name")
    n = actions.add_parser("info", help="show a model's details")
    n.add_argument("name", help="model name ('stemweave models list' shows them) or a weights "
                                  "file (a training run's checkpoint)")
    p.set_defaults(run=run)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _size_of(info: Any) -> str:
    if info.size_bytes is None:
        return ""
    return ("~" if info.size_estimated else "") + _size(info.size_bytes)


def _status(info: Any) -> str:
    if info.kind == "file":  # a file outside the store: usable by path, not installed
        return "usable (not in the store; `stemweave models import` adds it)"
    if info.installed:
        return "installed"
    if info.partial_bytes:
        return f"partial ({_size(info.partial_bytes)})"
    return "not installed"


def run(args: argparse.Namespace) -> int:
    """Carry out ``stemweave models ACTION``; returns the exit status."""
    from pathlib import Path

    from core.model_store import ModelStore, file_info

    store = ModelStore(Path(args.models_dir) if args.models_dir else None)
    if args.action == "list":
        rows = [(m.name, m.family, m.kind, _status(m), _size_of(m),
                 ", ".join(m.stems) or "?", m.description) for m in store.list()]
        head = ("NAME", "FAMILY", "KIND", "STATUS", "SIZE", "STEMS", "DESCRIPTION")
        n = len(head) - 1
        widths = [max(len(r[c]) for r in [head, *rows]) for c in range(n)]
        for r in [head, *rows]:
            print("  ".join(v.ljust(w) for v, w in zip(r[:n], widths)) + "  " + r[n])
        print(f"\nModels folder: {store.root}")
        print("Sizes with ~ are estimates (not published); download sizes are checked against "
              "the server's.")
        return 0
    if args.action == "info":
        m = file_info(args.name) if Path(args.name).is_file() else store.info(args.name)
        print(f"name:        {m.name}")
        print(f"family:      {m.family}")
        print(f"stems:       {', '.join(m.stems) or '?'}")
        print(f"kind:        {m.kind}")
        print(f"status:      {_status(m)}")
        print(f"path:        {m.path or '-'}")
        print(f"size:        {_size_of(m) or '?'}")
        print(f"description: {m.description}")
        if m.source:
            print(f"source:      {m.source}")
        if m.config is not None and m.family == "metatasnet":
            c = m.config
            label = "config:     " if m.installed else "expected:   "
            print(f"{label} N={c.N} L={c.L} W={c.W} B={c.B} H={c.H} layers={c.layers} "
                  f"stack={c.stack} stages={c.stages_num} rates={list(c.sample_rates)} Hz")
            print(f"hears:       {c.receptive_field_s:.2f} s around each output frame "
                  "(the masking network's receptive field)")
        if m.window_s is not None:
            print(f"window:      the network runs on {m.window_s:g}-s sub-windows")
        return 0
    if args.action == "import":
        paths = args.path if len(args.path) > 1 else args.path[0]
        m = store.import_(paths, name=args.name, description=args.description)
        print(f"imported '{m.name}' ({_size(m.size_bytes)}) -> {m.path}")
        return 0
    if args.action == "remove":
        store.remove(args.name)
        print(f"removed '{args.name}'")
        return 0
    if args.action == "download":
        if not args.force and store.info(args.name).installed:
            print(f"'{args.name}' is already installed -> {store.model_path(args.name)} "
                  "(use --force to download it again)")
            return 0
        return _download(store, args.name, quiet=args.quiet, force=args.force)
    raise AssertionError(args.action)  # argparse only allows the actions above


def _download(store: Any, name: str, quiet: bool, force: bool) -> int:
    from tqdm import tqdm

    bar: Any = None

    show = not quiet and sys.stderr.isatty()  # no bar in a log file (as the other commands)

    def progress(done: int, total: int | None) -> None:
        nonlocal bar
        if not show:
            return
        if bar is None:
            bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                       file=sys.stderr, initial=done)
        if total is not None and bar.total != total:
            bar.total = total
        if done >= bar.n:
            bar.update(done - bar.n)
        else:  # the server ignored a resume range: the transfer started over
            bar.reset(total=total)
            bar.update(done)

    try:
        path = store.download(name, progress=progress, force=force)
    except KeyboardInterrupt:
        print(f"stemweave: download of '{name}' interrupted; run the same command again to "
              "resume it", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    print(f"installed '{name}' -> {path}")
    return 0
