"""Options defined once (core.options): the command line, the GUI and the engine agree on every
choice and bound, at the bound itself and just past it."""

from __future__ import annotations

import pytest

from core import options
from core.apply import plan_windows
from core.separator import Separator
from stemweave.cli import build_parser


def _parse(*argv: str):  # noqa: ANN202
    return build_parser().parse_args(["separate", "x.wav", "-o", "out", *argv])


def test_cli_and_engine_share_the_bounds(tiny_checkpoint, capsys) -> None:
    top = options.OVERLAP_MAX
    assert _parse("--overlap", str(top)).overlap == top
    Separator(tiny_checkpoint, "cpu", overlap=top)  # the engine takes what the CLI takes
    plan_windows(44100, 44100, 8000, 20, segment_s=2.0, overlap=top)
    past = top + 0.01
    with pytest.raises(SystemExit):
        _parse("--overlap", str(past))
    assert f"between {options.OVERLAP_MIN:g} and {top:g}" in capsys.readouterr().err
    with pytest.raises(ValueError, match=f"between {options.OVERLAP_MIN:g} and {top:g}"):
        Separator(tiny_checkpoint, "cpu", overlap=past)
    with pytest.raises(ValueError, match="overlap"):
        plan_windows(44100, 44100, 8000, 20, segment_s=2.0, overlap=past)

    low = options.SEGMENT_MIN_S
    assert _parse("--segment", str(low)).segment == low
    assert Separator(tiny_checkpoint, "cpu", segment_s=low).segment_s == low
    with pytest.raises(SystemExit):
        _parse("--segment", str(low * 0.9))
    with pytest.raises(ValueError, match="segment"):
        Separator(tiny_checkpoint, "cpu", segment_s=low * 0.9)

    sep = Separator(tiny_checkpoint, "cpu")
    assert (sep.segment_s, sep.overlap) == (options.DEFAULT_SEGMENT_S, options.DEFAULT_OVERLAP)


def test_choices_come_from_one_place(qtbot, tmp_path) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["separate"]
    choices = {a.dest: tuple(a.choices) for a in sub._actions if a.choices}
    assert choices["precision"] == options.PRECISIONS
    assert choices["device"] == options.DEVICES
    with pytest.raises(ValueError, match="unknown precision"):
        options.check_precision("int8")

    from app.settings import Settings
    from app.widgets.settings_dialog import SettingsDialog
    from core.model_store import ModelStore

    dlg = SettingsDialog(None, Settings.from_file(tmp_path / "s.ini"),
                         ModelStore(tmp_path / "models", catalogue={}))
    qtbot.addWidget(dlg)
    shown = tuple(dlg.device_combo.itemText(i) for i in range(dlg.device_combo.count()))
    assert shown == options.DEVICES
