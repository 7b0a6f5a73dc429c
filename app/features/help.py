"""Help menu: the list of keyboard shortcuts (read from the window's own actions, so it is
never out of date) and About (version, licences). Also the confirmation before clearing the
recent files. Dialogs are window-modal but non-blocking (``open()``), like the error boxes.

A mixin of :class:`app.main_window.MainWindow`.
"""

from __future__ import annotations

import html
import importlib.metadata

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from core.errors import StemweaveError

ABOUT_TEXT = (
    "<h3>Stemweave {version}</h3>"
    "<p>Separates songs into stems with Meta-TasNet or Hybrid Transformer Demucs (HTDemucs) "
    "models (drums, bass, other and vocals; guitar and piano too with a six-stem model), plays "
    "them with a mixer, loops, tempo and pitch, and finds tempo, bars, key and chords.</p>"
    "<p>{model}</p>"
    "<p>Stemweave's code is MIT-licensed. The desktop bundle includes the Rubber Band Library "
    "(GPL-2.0-or-later), so the bundle as a whole is distributed under the GPL; Qt is used "
    "under the LGPL. The licences of every part are listed in docs/licences.md.</p>")


class HelpMixin:
    """Help menu of the main window."""

    def model_summary(self) -> str:
        """The chosen model in words: file, family and stems (its header only is read)."""
        from core.families import FAMILIES, read_header

        try:
            path = self.resolve_model()
            header = read_header(path)
        except (StemweaveError, OSError):
            return "No usable model is chosen yet (Edit ▸ Settings…)."
        family = FAMILIES.get(header.family, header.family).split(" (")[0]
        return (f"Current model: {path.name} — {family}, {len(header.stems)} stems: "
                f"{', '.join(header.stems)}.")

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """``(command, keys)`` for every window action that has a shortcut, menu order."""
        rows: list[tuple[str, str]] = []
        seen: set[int] = set()
        for menu_action in self.menuBar().actions():
            menu = menu_action.menu()
            if menu is None:
                continue
            stack = list(menu.actions())
            while stack:
                action = stack.pop(0)
                if action.menu() is not None:
                    stack = list(action.menu().actions()) + stack
                    continue
                keys = [k.toString(QKeySequence.SequenceFormat.NativeText)
                        for k in action.shortcuts() if not k.isEmpty()]
                if keys and id(action) not in seen:
                    seen.add(id(action))
                    rows.append((action.text().replace("&", ""), ", ".join(keys)))
        rows.append(("Snap a seek or loop edge freely", "Shift + click / drag"))
        return rows

    def show_shortcuts(self) -> QDialog:
        """Open the keyboard shortcut list (non-blocking)."""
        rows = self.shortcut_rows()
        dlg = QDialog(self)
        dlg.setWindowTitle("Keyboard shortcuts")
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        table = QTableWidget(len(rows), 2, dlg)
        table.setObjectName("shortcutTable")
        table.setHorizontalHeaderLabels(["Command", "Keys"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (command, keys) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(command))
            table.setItem(r, 1, QTableWidgetItem(keys))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnToContents(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dlg.reject)
        col = QVBoxLayout(dlg)
        col.addWidget(table)
        col.addWidget(buttons)
        dlg.resize(520, 560)
        dlg.open()
        return dlg

    def show_about(self) -> QMessageBox:
        """Open the About box (non-blocking)."""
        try:
            version = importlib.metadata.version("stemweave")
        except importlib.metadata.PackageNotFoundError:
            version = ""
        text = ABOUT_TEXT.format(version=version, model=html.escape(self.model_summary()))
        box = QMessageBox(QMessageBox.Icon.Information, "About Stemweave", text,
                          QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def confirm_clear_recent(self) -> QMessageBox:
        """Ask before forgetting the recent files; clears them on "Clear"."""
        box = QMessageBox(QMessageBox.Icon.Question, "Clear recent files",
                          f"Forget the {len(self.settings.recent_files)} recently opened "
                          "file(s)? The files themselves are not touched.",
                          QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("confirmClearRecent")
        clear = box.addButton("Clear", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda b: self._clear_recent() if b is clear else None)
        box.open()
        return box
