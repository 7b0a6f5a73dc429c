"""Settings dialog: the separation model (catalogue list with download progress and cancel, or
any checkpoint file), the compute device, the audio output device and the default export
folder.

The dialog edits a copy of the values; :meth:`SettingsDialog.apply` writes them through
:class:`app.settings.Settings` when the user presses OK.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.settings import DEVICES, Settings
from app.workers import DownloadWorker, WorkerPool, describe_error

log = logging.getLogger(__name__)


def _size(n: int | None) -> str:
    if not n:
        return ""
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def precision_text() -> str:
    """What ``precision="auto"`` chose, from the probe's cache (core.precision); reads a small
    file, measures nothing."""
    from core.precision import latest_summary

    chosen = latest_summary()
    if chosen is None:
        return ("automatic: the fastest precision that keeps the stems within 35 dB of fp32, "
                "measured on the first separation (a few seconds) and remembered")
    return f"automatic: {chosen}"


class SettingsDialog(QDialog):
    """Model, compute device, audio output and export folder.

    Args:
        parent: owner window.
        settings: where the values are read from and written to on OK.
        store: a :class:`core.model_store.ModelStore` (``None``: the user's default store).
        outputs: names of the audio output devices to offer (``None``: asked from PortAudio).
    """

    def __init__(self, parent: QWidget | None, settings: Settings, store: Any = None,
                 outputs: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(760, 480)
        self.settings = settings
        if store is None:
            from core.model_store import ModelStore

            store = ModelStore()
        self.store = store
        self.model_value = settings.model
        self.pool = WorkerPool(self)
        self.download: DownloadWorker | None = None
        self.messages: list[str] = []

        # -- model --
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Model", "Family", "Stems", "Kind", "Status", "Size",
                                   "Description"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.use_button = QPushButton("Use selected")
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        self.file_button = QPushButton("Checkpoint file…")
        self.default_button = QPushButton("Use default")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress_label = QLabel()
        buttons_row = QHBoxLayout()
        for b in (self.use_button, self.download_button, self.cancel_button, self.file_button,
                  self.default_button):
            buttons_row.addWidget(b)
        buttons_row.addStretch(1)
        model_box = QGroupBox("Separation model")
        mcol = QVBoxLayout(model_box)
        mcol.addWidget(self.model_label)
        mcol.addWidget(self.tree, 1)
        mcol.addLayout(buttons_row)
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.progress_label)
        mcol.addLayout(prow)

        # -- device / export --
        self.device_combo = QComboBox()
        for d in DEVICES:
            self.device_combo.addItem(d)
        idx = self.device_combo.findText(settings.device)
        self.device_combo.setCurrentIndex(max(0, idx))
        if outputs is None:
            from app.playback import output_devices

            outputs = output_devices()
        self.output_combo = QComboBox()
        self.output_combo.addItem("System default", "")
        for name in outputs:
            self.output_combo.addItem(name, name)
        chosen = settings.audio_output
        if chosen and chosen not in outputs:  # unplugged: keep the choice, say so
            self.output_combo.addItem(f"{chosen} (not connected)", chosen)
        self.output_combo.setCurrentIndex(max(0, self.output_combo.findData(chosen)))
        self.export_edit = QLineEdit(settings.export_dir)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_export)
        export_row = QHBoxLayout()
        export_row.addWidget(self.export_edit, 1)
        export_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Compute device", self.device_combo)
        self.precision_label = QLabel(precision_text())
        self.precision_label.setWordWrap(True)
        form.addRow("Precision", self.precision_label)
        self.wiener_check = QCheckBox("Wiener filter: cleaner stems, drawn from the mix")
        self.wiener_check.setToolTip(
            "A multichannel Wiener filter redraws the network's stems from the mix: less "
            "bleed between stems (about +1 dB on drums and bass, measured). Meta-TasNet models "
            "only; about twice the separation time with the built-in model. Stems made with "
            "and without it are cached apart.")
        self.wiener_check.setChecked(settings.wiener)
        form.addRow("Post-filter", self.wiener_check)
        form.addRow("Audio output", self.output_combo)
        form.addRow("Default export folder", export_row)

        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(model_box, 1)
        layout.addLayout(form)
        layout.addWidget(box)

        self.use_button.clicked.connect(self._use_selected)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.file_button.clicked.connect(self._choose_file)
        self.default_button.clicked.connect(lambda: self.set_model(""))
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemDoubleClicked.connect(lambda *_: self._use_selected())
        self.refresh()
        self._show_model()

    # -- model list ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the model list from the store."""
        self.tree.clear()
        try:
            infos = self.store.list()
        except Exception as exc:  # a broken store must not stop the dialog
            log.warning("could not list models: %s", exc)
            infos = []
        for info in infos:
            if info.installed:
                status = "installed"
            elif info.kind == "remote":
                status = "partial download" if info.partial_bytes else "not downloaded"
            else:
                status = "missing"
            size = _size(info.size_bytes)
            if info.size_bytes is not None and getattr(info, "size_estimated", False):
                size = "~" + size  # an estimate: the exact size is not published
            stems = info.stems or ()
            item = QTreeWidgetItem([info.name, info.family, f"{len(stems)}: {', '.join(stems)}"
                                    if stems else "?", info.kind, status, size,
                                    info.description])
            item.setData(0, Qt.ItemDataRole.UserRole, info)
            item.setToolTip(6, info.description)
            self.tree.addTopLevelItem(item)
            if info.name == self.model_value:
                item.setSelected(True)
        for c in range(6):
            self.tree.resizeColumnToContents(c)
        self._selection_changed()

    def selected_info(self) -> Any:
        """The :class:`core.model_store.ModelInfo` of the selected row, or ``None``."""
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def select(self, name: str) -> None:
        """Select the row of model ``name``."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setSelected(item.text(0) == name)

    def _selection_changed(self) -> None:
        info = self.selected_info()
        busy = self.download is not None
        self.use_button.setEnabled(bool(info and info.installed))
        self.download_button.setEnabled(
            bool(info and info.kind == "remote" and not info.installed) and not busy)

    def set_model(self, value: str) -> None:
        """Choose a model: ``""`` (default), a store name or a file path."""
        self.model_value = value
        self._show_model()

    def _show_model(self) -> None:
        v = self.model_value
        text = v if v else "default (the built-in model, else the first installed download)"
        self.model_label.setText(f"<b>Model used for separation:</b> {text}")

    def _use_selected(self) -> None:
        info = self.selected_info()
        if info is not None and info.installed:
            self.set_model(info.name)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a checkpoint", str(Path.home()),
            "Checkpoints (*.safetensors *.pt *.pth);;All files (*)")
        if path:
            self.set_model(path)

    # -- downloads -------------------------------------------------------------------------------
    def start_download(self) -> DownloadWorker | None:
        """Download the selected catalogue model in the background."""
        info = self.selected_info()
        if info is None or info.kind != "remote" or self.download is not None:
            return None
        worker = DownloadWorker(self.store, info.name)
        self.download = worker
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.progress_label.setText(f"Downloading {info.name}…")
        self.cancel_button.setEnabled(True)
        self._selection_changed()
        self.pool.start(worker, {"progressed": self._download_progress,
                                 "returned": self._download_finished,
                                 "errored": self._download_failed,
                                 "aborted": self._download_cancelled,
                                 "finished": self._download_ended})
        return worker

    def cancel_download(self) -> None:
        """Stop the running download (the partial file is kept for a resume)."""
        if self.download is not None:
            self.download.cancel()

    def _download_progress(self, fraction: float, _eta: float) -> None:
        w = self.download
        if w is None:
            return
        if w.bytes_total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
            self.progress_label.setText(f"{_size(w.bytes_done)} of {_size(w.bytes_total)}")
        else:
            self.progress_label.setText(f"{_size(w.bytes_done)}")

    def _download_finished(self, path: object) -> None:
        name = self.download.name if self.download else ""
        self.progress_label.setText(f"Downloaded {name}.")
        self.refresh()
        self.select(name)
        self.set_model(name)

    def _download_failed(self, error: BaseException) -> None:
        self.progress_label.setText("Download failed.")
        self._message(self.describe_download_error(error))

    def describe_download_error(self, error: BaseException) -> str:
        """The message for a failed download; offline, it points to this dialog's own
        "Checkpoint file…" button (a file fetched with a browser, on this or another computer).
        """
        from core.model_store import DownloadUnreachable

        if not isinstance(error, DownloadUnreachable):
            return describe_error(error)
        button = self.file_button.text()
        entry = getattr(self.store, "catalogue", {}).get(error.model)
        if entry is not None and entry.files:  # a bag of release files: one file is not enough
            return (f"Could not reach {error.host} ({error.reason}). Check your connection, or "
                    f"download its files ({', '.join(entry.files)}) from {error.url} with a "
                    f"browser and import them together with "
                    f"`stemweave models import FILE... --name {error.model}`.")
        return (f"Could not reach {error.host} ({error.reason}). Check your connection, or "
                f"download the model file with a browser from {error.url} (on any computer), "
                f"then press “{button}” below and choose it.")

    def _download_cancelled(self, _cancel: BaseException) -> None:
        self.progress_label.setText("Download cancelled (it resumes next time).")
        self.refresh()

    def _download_ended(self) -> None:
        self.download = None
        self.progress.setVisible(False)
        self.cancel_button.setEnabled(False)
        self._selection_changed()

    def _message(self, text: str) -> None:
        self.messages.append(text)
        box = QMessageBox(QMessageBox.Icon.Warning, "Download", text,
                          QMessageBox.StandardButton.Ok, self)
        box.open()

    # -- export / closing ------------------------------------------------------------------------
    def _browse_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Default export folder",
                                                  self.export_edit.text())
        if folder:
            self.export_edit.setText(folder)

    def apply(self) -> None:
        """Write the dialog's values to the settings."""
        self.settings.model = self.model_value
        self.settings.device = self.device_combo.currentText()
        self.settings.wiener = self.wiener_check.isChecked()
        self.settings.audio_output = str(self.output_combo.currentData() or "")
        self.settings.export_dir = self.export_edit.text().strip()
        self.settings.sync()

    def accept(self) -> None:  # noqa: D102
        self.apply()
        self.pool.shutdown()
        super().accept()

    def reject(self) -> None:  # noqa: D102
        self.pool.shutdown()
        super().reject()
