"""Export dialog: which stems, the mix as heard, loop region only, WAV/FLAC/MP3 and bit depth.

It says what "as heard" includes (the practice tempo and pitch when they are not neutral) and
offers to apply tempo and pitch to the stems too (otherwise they keep the song's own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.config import STEMS


@dataclass(frozen=True)
class ExportOptions:
    """What to export.

    Attributes:
        folder: output folder.
        sources: ``"mix"`` (the mix as heard) and/or stem indices (0-based, in the model's
            stem order).
        fmt: ``"wav"``, ``"flac"`` or ``"mp3"`` (320 kbit/s).
        bits: ``"16"``, ``"24"`` or ``"32f"`` (WAV only); ignored for MP3.
        loop_only: export only the loop region.
        stems_as_heard: apply the practice tempo and pitch to the stems too.
    """

    folder: Path
    sources: tuple[str | int, ...]
    fmt: str
    bits: str
    loop_only: bool
    stems_as_heard: bool = False


class ExportDialog(QDialog):
    """Asks what to export."""

    def __init__(self, parent: QWidget | None, *, folder: str, have_stems: bool,
                 have_loop: bool, fmt: str = "wav", bits: str = "24", tempo: float = 1.0,
                 semitones: float = 0.0, stems: Sequence[str] = STEMS) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        practice = []
        if abs(tempo - 1.0) > 1e-6:
            practice.append(f"tempo {tempo * 100:.0f} %")
        if abs(semitones) > 1e-6:
            practice.append(f"pitch {semitones:+g} st")
        applied = ", ".join(["volume, mute/solo, pan", *practice])
        self.mix_box = QCheckBox(f"Mix as heard ({applied} applied)")
        self.mix_box.setChecked(not have_stems)
        self.stems_as_heard_box = QCheckBox(
            f"Stems with the practice {' and '.join(practice)} too" if practice else
            "Stems with the practice tempo and pitch too")
        self.stems_as_heard_box.setEnabled(bool(practice) and have_stems)
        self.stems_as_heard_box.setToolTip(
            "Off: stems keep the song's own tempo and key (as separated)." if practice else
            "Tempo 100 % and pitch 0: stems are exported as separated.")
        self.stem_boxes = []
        for name in stems:  # one box per stem of the song's model (four, six, ...)
            box = QCheckBox(name.capitalize())
            box.setEnabled(have_stems)
            box.setChecked(have_stems)
            self.stem_boxes.append(box)
        self.loop_box = QCheckBox("Only the loop region")
        self.loop_box.setEnabled(have_loop)
        self.format_combo = QComboBox()
        self.format_combo.addItem("WAV", "wav")
        self.format_combo.addItem("FLAC", "flac")
        self.format_combo.addItem("MP3 (320 kbit/s)", "mp3")
        self.bits_combo = QComboBox()
        self.bits_combo.addItem("16-bit", "16")
        self.bits_combo.addItem("24-bit", "24")
        self.bits_combo.addItem("32-bit float", "32f")
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))
        self.bits_combo.setCurrentIndex(max(0, self.bits_combo.findData(bits)))
        self.folder_edit = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        form = QFormLayout()
        what = QVBoxLayout()
        what.addWidget(self.mix_box)
        for box in self.stem_boxes:
            what.addWidget(box)
        what.addWidget(self.stems_as_heard_box)
        what.addWidget(self.loop_box)
        holder = QWidget()
        holder.setLayout(what)
        form.addRow("Export", holder)
        form.addRow("Format", self.format_combo)
        form.addRow("Sample format", self.bits_combo)
        form.addRow("Folder", folder_row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.bits_combo.currentIndexChanged.connect(self._format_changed)  # 32f with FLAC: no
        for box in (self.mix_box, *self.stem_boxes):
            box.toggled.connect(self._update_ok)
        self._format_changed()
        self._update_ok()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _format_changed(self) -> None:
        self.bits_combo.setEnabled(self.format_combo.currentData() != "mp3")
        flac = self.format_combo.currentData() == "flac"
        item = self.bits_combo.model().item(2)  # FLAC cannot hold 32-bit float
        item.setEnabled(not flac)
        if flac and self.bits_combo.currentData() == "32f":
            self.bits_combo.setCurrentIndex(1)

    def _update_ok(self) -> None:
        self.ok_button.setEnabled(bool(self.options().sources))

    def options(self) -> ExportOptions:
        """The choices as they stand."""
        sources: list[str | int] = []
        if self.mix_box.isChecked():
            sources.append("mix")
        sources += [i for i, b in enumerate(self.stem_boxes) if b.isChecked() and b.isEnabled()]
        return ExportOptions(
            folder=Path(self.folder_edit.text()).expanduser(), sources=tuple(sources),
            fmt=str(self.format_combo.currentData()), bits=str(self.bits_combo.currentData()),
            loop_only=self.loop_box.isChecked() and self.loop_box.isEnabled(),
            stems_as_heard=(self.stems_as_heard_box.isChecked()
                            and self.stems_as_heard_box.isEnabled()))
