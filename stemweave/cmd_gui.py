"""``stemweave gui [FILE]``: the desktop app (also what plain ``stemweave`` runs).

``--screenshot OUT.png`` renders the window with FILE separated (from the stem cache, or
separated now with the configured or given model) to a PNG without user interaction; it works
headless (``QT_QPA_PLATFORM=offscreen``) and under Xvfb.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``gui`` subcommand."""
    p = sub.add_parser("gui", help="open the desktop app (default)",
                       description="Open the desktop app, optionally with a song.")
    p.add_argument("file", nargs="?", help="song to open (--screenshot: the demo song by "
                   "default)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="render the window with FILE separated to a PNG and exit")
    p.add_argument("--model", help="model name or checkpoint file (screenshot; default: the "
                   "model chosen in Settings)")
    p.add_argument("--size", default="1400x860", help="window size for --screenshot (WxH)")
    p.add_argument("--settings", metavar="INI", help="use this settings file instead of the "
                   "user's (portable use, tests)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Start the GUI, or take a screenshot."""
    from core.errors import StemweaveError

    if args.screenshot:
        if not args.file:
            from core.resources import demo_song_path

            if not demo_song_path().is_file():
                raise StemweaveError("--screenshot needs a song FILE to show")
            args.file = str(demo_song_path())
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError as exc:
            raise StemweaveError(f"--size must look like 1400x860, not {args.size!r}") from exc
        from app.main import take_screenshot

        out = take_screenshot(args.file, args.screenshot, model=args.model,
                              settings_path=args.settings, size=(w, h))
        print(f"wrote {out}")
        return 0
    if (sys.platform.startswith("linux") and not os.environ.get("DISPLAY")
            and not os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("QT_QPA_PLATFORM")):
        raise StemweaveError(
            "no display found (DISPLAY is not set): run the app on a desktop, or use "
            "`stemweave gui --screenshot OUT.png FILE` / the command-line subcommands")
    from app.main import run_gui

    return run_gui(args.file, settings_path=args.settings)
