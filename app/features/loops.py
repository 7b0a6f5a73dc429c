"""Named loops per song: save the current loop region under a name, pick one from the
toolbar's "Loops" list (the region is set and the playhead jumps to its start), step through
them with [ and ], delete one. They are remembered with the song (app/features/memory.py).

A mixin of :class:`app.main_window.MainWindow`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QInputDialog

#: the list's first entry (no loop chosen).
PLACEHOLDER = "Loops…"


class LoopsMixin:
    """Named loops of the main window."""

    def _build_loop_widgets(self) -> QComboBox:
        self.saved_loops: list[dict] = []
        self.loop_combo = QComboBox()
        self.loop_combo.setObjectName("loopCombo")
        self.loop_combo.setMinimumWidth(150)
        self.loop_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.loop_combo.setToolTip("Saved loops of this song ([ and ] step through them)")
        self.loop_combo.activated.connect(self._loop_chosen)
        self._refresh_loop_combo()
        return self.loop_combo

    def default_loop_name(self) -> str:
        """A name for the current region: its bars when the grid is known, else its times."""
        a, b = self.loop_s
        grid = self.grid.analysis
        if grid is not None and grid.downbeats:
            bar_a, beat_a, _ = grid.bar_beat(a + 1e-3)
            bar_b, beat_b, _ = grid.bar_beat(b - 1e-3)
            if beat_a == 1:
                return f"Bars {bar_a}-{bar_b}" if bar_b > bar_a else f"Bar {bar_a}"
            return f"{bar_a}.{beat_a}-{bar_b}.{beat_b}"
        return f"Loop {len(self.saved_loops) + 1}"

    def save_loop(self, name: str | None = None) -> dict | None:
        """Save the current loop region as ``name`` (replacing a loop of that name)."""
        a, b = self.loop_s
        if b <= a:
            self.statusBar().showMessage("Drag on the time ruler to choose a loop region first.")
            return None
        name = (name or self.default_loop_name()).strip() or self.default_loop_name()
        self.saved_loops = [d for d in self.saved_loops if d["name"] != name]
        entry = {"name": name, "start": float(a), "end": float(b)}
        self.saved_loops.append(entry)
        self.saved_loops.sort(key=lambda d: d["start"])
        self._refresh_loop_combo(select=name)
        self.remember_song()
        return entry

    def save_loop_dialog(self) -> None:
        """Ask for a name, then save the current loop region."""
        if self.loop_s[1] <= self.loop_s[0]:
            self.save_loop()  # says how
            return
        name, ok = QInputDialog.getText(self, "Save loop", "Name of this loop:",
                                        text=self.default_loop_name())
        if ok:
            self.save_loop(name)

    def delete_loop(self, name: str) -> bool:
        """Forget the saved loop ``name``."""
        before = len(self.saved_loops)
        self.saved_loops = [d for d in self.saved_loops if d["name"] != name]
        self._refresh_loop_combo()
        self.remember_song()
        return len(self.saved_loops) < before

    def delete_current_loop(self) -> None:
        """Forget the loop chosen in the list."""
        index = self.loop_combo.currentIndex() - 1
        if 0 <= index < len(self.saved_loops):
            self.delete_loop(self.saved_loops[index]["name"])

    def go_to_loop(self, index: int) -> None:
        """Loop the saved loop ``index`` and move the playhead to its start."""
        if not 0 <= index < len(self.saved_loops):
            return
        d = self.saved_loops[index]
        self.set_loop(d["start"], d["end"])
        self.set_loop_enabled(True)
        self.seek(d["start"])
        self._refresh_loop_combo(select=d["name"])

    def step_loop(self, delta: int) -> None:
        """The next (delta 1) or previous (-1) saved loop."""
        if not self.saved_loops:
            return
        current = self.loop_combo.currentIndex() - 1
        if current < 0:
            current = -1 if delta > 0 else len(self.saved_loops)
        self.go_to_loop(min(len(self.saved_loops) - 1, max(0, current + delta)))

    def set_saved_loops(self, loops: list[dict]) -> None:
        """Replace the saved loops (a song was opened)."""
        self.saved_loops = sorted(
            ({"name": str(d["name"]), "start": float(d["start"]), "end": float(d["end"])}
             for d in loops if float(d["end"]) > float(d["start"])), key=lambda d: d["start"])
        self._refresh_loop_combo()

    def _loop_chosen(self, index: int) -> None:
        if index > 0:
            self.go_to_loop(index - 1)

    def _refresh_loop_combo(self, select: str | None = None) -> None:
        combo = self.loop_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(PLACEHOLDER if self.saved_loops else "No saved loops")
        for d in self.saved_loops:
            combo.addItem(d["name"])
        names = [d["name"] for d in self.saved_loops]
        combo.setCurrentIndex(names.index(select) + 1 if select in names else 0)
        combo.setEnabled(bool(self.saved_loops))
        combo.blockSignals(False)
