"""Help menu: the list of keyboard shortcuts (read from the window's own actions, so it is
never out of date) and About (version, licences). Also the confirmation before clearing the
recent files. Dialogs are window-modal but non-blocking (``open()``), like the error boxes.

A mixin of :class:`app.main_window.MainWindow`.
"""

from __future__ import annotations

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

ABOUT_TEXT = (
    "<h3>Stemweave {version}</h3>"
    "<p>Separates songs into drums, bass, other and vocals (Meta-TasNet), plays them with a "
    "mixer, loops, tempo and pitch, and finds tempo, bars, key and chords.</p>"
    "<p>Stemweave's code is MIT-licensed. The desktop bundle includes the Rubber Band Library "
    "(GPL-2.0-or-later), so the bundle as a whole is distributed under the GPL; Qt is used "
    "under the LGPL. The licences of every part are listed in docs/licences.md.</p>")


class HelpMixin:
    """Help menu of the main window."""

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
        box = QMessageBox(QMessageBox.Icon.Information, "About Stemweave",
                          ABOUT_TEXT.format(version=version), QMessageBox.StandardButton.Ok, self)
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
