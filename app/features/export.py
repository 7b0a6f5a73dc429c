"""Export: the dialog, the export worker (files written atomically) and its outcome.

Loop exports are named after the bars they cover when the song's grid is known ("bars 9-12"),
else after their times ("0m18.0s-0m24.0s"). Files that already exist are replaced only after
asking. A running export has a Cancel button in the status bar; a finished one a "Show in
folder" button.

A mixin of :class:`app.main_window.MainWindow` (it uses the window's widgets and state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QProgressBar, QPushButton

from app.widgets.export_dialog import ExportDialog, ExportOptions
from app.workers import ExportJob, ExportWorker, describe_error


def _clock(seconds: float) -> str:
    """``0m18.0s`` (file-name friendly: no colons)."""
    m = int(seconds // 60)
    return f"{m}m{seconds - 60 * m:04.1f}s"


class ExportMixin:
    """Export feature of the main window."""

    def _build_export_widgets(self) -> None:
        """Status-bar progress, Cancel and "Show in folder" (called while building)."""
        self.export_progress = QProgressBar()
        self.export_progress.setRange(0, 1000)
        self.export_progress.setMaximumWidth(200)
        self.export_progress.setVisible(False)
        self.export_cancel_button = QPushButton("Cancel export")
        self.export_cancel_button.setVisible(False)
        self.export_cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.export_cancel_button.clicked.connect(self.cancel_export)
        self.show_folder_button = QPushButton("Show in folder")
        self.show_folder_button.setVisible(False)
        self.show_folder_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.show_folder_button.clicked.connect(self.show_export_folder)
        self.last_export_folder: Path | None = None
        bar = self.statusBar()
        for w in (self.export_progress, self.export_cancel_button, self.show_folder_button):
            bar.addPermanentWidget(w)

    def export_dialog(self) -> None:
        """Ask what to export, then export it."""
        s = self.session
        if not s.is_open:
            return
        tempo = self.stretcher.tempo if self.stretcher is not None else 1.0
        semitones = self.stretcher.semitones if self.stretcher is not None else 0.0
        dlg = ExportDialog(self, folder=self.settings.export_dir,
                           have_stems=s.stems_complete, have_loop=self.loop_s[1] > self.loop_s[0],
                           fmt=self.settings.export_format, bits=self.settings.export_bits,
                           tempo=tempo, semitones=semitones, stems=s.stem_names)
        if dlg.exec():
            self.export(dlg.options())

    def _loop_suffix(self) -> str:
        a, b = self.loop_s
        grid = self.grid.analysis
        if grid is not None and grid.downbeats:
            bar_a, beat_a, _ = grid.bar_beat(a + 1e-3)
            bar_b, beat_b, _ = grid.bar_beat(b - 1e-3)
            bar_s = 60.0 / grid.tempo_bpm * grid.beats_per_bar
            lines = (*grid.downbeats, grid.downbeats[-1] + bar_s, grid.duration)
            on_bars = all(min(abs(t - x) for x in lines) < 0.02 for t in (a, b))
            if on_bars:
                return f" (bars {bar_a}-{bar_b})" if bar_b > bar_a else f" (bar {bar_a})"
            return f" (bar {bar_a}.{beat_a}-{bar_b}.{beat_b})"
        return f" ({_clock(a)}-{_clock(b)})"

    def export_jobs(self, options: ExportOptions) -> list[ExportJob]:
        """The files ``options`` would write (paths and sources)."""
        s = self.session
        suffix = ""
        if options.loop_only and self.loop_s[1] > self.loop_s[0]:
            suffix = self._loop_suffix()
        jobs = []
        for src in options.sources:
            name = "mix" if src == "mix" else s.stem_names[int(src)]
            jobs.append(ExportJob(options.folder / f"{s.path.stem} - {name}{suffix}.{options.fmt}",
                                  name))
        return jobs

    def export(self, options: ExportOptions, *, replace: bool = False) -> ExportWorker | None:
        """Write the chosen files in the background (each atomically).

        Files that exist already are replaced only with ``replace``; otherwise this asks first
        (a window-modal box whose "Replace" starts the export) and returns ``None``.
        """
        s = self.session
        if not s.is_open or self.export_worker is not None or s.mixer is None or s.path is None:
            return None
        if any(src != "mix" for src in options.sources) and not s.stems_complete:
            self.show_error("Separate the song before exporting stems.", "Export")
            return None
        try:
            options.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.show_error(f"Cannot create the folder {options.folder}: {exc.strerror}",
                            "Export")
            return None
        jobs = self.export_jobs(options)
        existing = [j.path for j in jobs if j.path.exists()]
        if existing and not replace:
            self._confirm_replace(options, existing)
            return None
        sr = s.sample_rate
        a, b = 0, s.frames
        if options.loop_only and self.loop_s[1] > self.loop_s[0]:
            a, b = int(self.loop_s[0] * sr), int(self.loop_s[1] * sr)
        self.settings.export_format = options.fmt
        self.settings.export_bits = options.bits
        tempo = self.stretcher.tempo if self.stretcher is not None else 1.0
        semitones = self.stretcher.semitones if self.stretcher is not None else 0.0
        worker = ExportWorker(jobs, s.mixer, a, b, fmt=options.fmt, bits=options.bits,
                              tempo=tempo, semitones=semitones,
                              stems_as_heard=options.stems_as_heard,
                              master_gain=self.master_gain,
                              limit=self.limit_action.isChecked())
        self.export_worker = worker
        self.export_progress.setValue(0)
        self.export_progress.setVisible(True)
        self.export_cancel_button.setVisible(True)
        self.show_folder_button.setVisible(False)
        self.statusBar().showMessage(f"Exporting {len(jobs)} file(s)…")
        self.pool.start(worker, {"progressed": self._export_progress,
                                 "returned": self._export_finished,
                                 "errored": self._export_failed,
                                 "aborted": self._export_cancelled})
        return worker

    def _confirm_replace(self, options: ExportOptions, existing: list[Path]) -> QMessageBox:
        names = "\n".join(p.name for p in existing[:6]) + ("\n…" if len(existing) > 6 else "")
        box = QMessageBox(QMessageBox.Icon.Question, "Replace files?",
                          f"{len(existing)} file(s) exist already in {existing[0].parent}:\n\n"
                          f"{names}\n\nReplace them?", QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("confirmReplace")
        replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(
            lambda b: self.export(options, replace=True) if b is replace else None)
        box.open()
        return box

    def cancel_export(self) -> None:
        """Stop the running export (files not finished are not written)."""
        if self.export_worker is not None:
            self.export_worker.cancel()
            self.export_cancel_button.setEnabled(False)

    def show_export_folder(self) -> bool:
        """Open the last export's folder in the file manager."""
        if self.last_export_folder is None:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_export_folder)))

    def _export_progress(self, fraction: float, _eta: float) -> None:
        self.export_progress.setValue(int(fraction * 1000))

    def _export_finished(self, paths: object) -> None:
        self._export_done("finished", paths)

    def _export_failed(self, error: BaseException) -> None:
        self._export_done("failed", describe_error(error))

    def _export_cancelled(self, _cancel: BaseException) -> None:
        self._export_done("cancelled", None)

    def _export_done(self, outcome: str, payload: Any) -> None:
        self.export_worker = None
        self.export_progress.setVisible(False)
        self.export_cancel_button.setVisible(False)
        self.export_cancel_button.setEnabled(True)
        if outcome == "finished":
            folder = Path(payload[0]).parent if payload else None
            self.last_export_folder = folder
            self.show_folder_button.setVisible(folder is not None)
            self.show_folder_button.setToolTip(str(folder or ""))
            self.statusBar().showMessage(f"Exported {len(payload)} file(s) to {folder}")
        elif outcome == "failed":
            self.statusBar().showMessage("Export failed.")
            self.show_error(str(payload), "Export failed")
        else:
            self.statusBar().showMessage("Export cancelled.")
        self.export_ended.emit(outcome)
