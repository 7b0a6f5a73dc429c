"""First start: the window offers the demo song and one click opens it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from app.features.demo_offer import DemoOffer, offer_demo
from core.resources import demo_song_path
from tests.app.conftest import write_song


def test_first_start_offers_the_demo_and_one_click_opens_it(make_window, qtbot,
                                                            tmp_path: Path) -> None:
    demo = write_song(tmp_path / "demo_song.wav", seconds=1.0)
    window = make_window()
    offer = offer_demo(window, demo)
    assert isinstance(offer, DemoOffer) and offer.isVisible()
    assert offer in window.statusBar().findChildren(DemoOffer)
    with qtbot.waitSignal(window.song_loaded, timeout=20_000):
        qtbot.mouseClick(offer.button, Qt.MouseButton.LeftButton)
    assert window.session.is_open and window.session.path == demo
    qtbot.waitUntil(lambda: not window.statusBar().findChildren(DemoOffer), timeout=5000)
    # now there is a recent song: no offer on the next start
    assert window.settings.recent_files and offer_demo(window, demo) is None


def test_no_offer_with_recent_songs_or_without_a_demo(make_window, tmp_path: Path) -> None:
    window = make_window()
    assert offer_demo(window, tmp_path / "missing.flac") is None
    demo = write_song(tmp_path / "demo.wav", seconds=0.5)
    window.settings.add_recent_file(demo)
    assert offer_demo(window, demo) is None


def test_offer_can_be_closed(make_window, qtbot, tmp_path: Path) -> None:
    window = make_window()
    offer = offer_demo(window, write_song(tmp_path / "demo.wav", seconds=0.5))
    assert offer is not None
    qtbot.mouseClick(offer.close_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.statusBar().findChildren(DemoOffer), timeout=5000)
    assert not window.session.is_open


def test_the_shipped_demo_song_exists() -> None:
    """The README promises the demo: the repository ships it."""
    assert demo_song_path().is_file()
