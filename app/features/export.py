"""Export: the dialog, the export worker (files written atomically) and its outcome.

A mixin of :class:`app.main_window.MainWindow` (it uses the window's widgets and state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.widgets.export_dialog import ExportDialog, ExportOptions
from app.widgets.transport import format_time
from app.workers import ExportJob, ExportWorker, describe_error


class ExportMixin:
    """Export feature of the main window."""

    def export_dialog(self) -> None:
        """Ask what to export, then export it."""
        s = self.session
        if not s.is_open:
            return
        dlg = ExportDialog(self, folder=self.settings.export_dir,
                           have_stems=s.stems_complete, have_loop=self.loop_s[1] > self.loop_s[0],
                           fmt=self.settings.export_format, bits=self.settings.export_bits)
        if dlg.exec():
            self.export(dlg.options())

    def export(self, options: ExportOptions) -> ExportWorker | None:
        """Write the chosen files in the background (each atomically)."""
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
        sr = s.sample_rate
        a, b = 0, s.frames
        suffix = ""
        if options.loop_only and self.loop_s[1] > self.loop_s[0]:
            a, b = int(self.loop_s[0] * sr), int(self.loop_s[1] * sr)
            suffix = f" ({format_time(self.loop_s[0])}-{format_time(self.loop_s[1])})".replace(
                ":", ".")
        stem_names = s.stem_names
        jobs = []
        for src in options.sources:
            name = "mix" if src == "mix" else stem_names[int(src)]
            jobs.append(ExportJob(options.folder / f"{s.path.stem} - {name}{suffix}.{options.fmt}",
                                  name))
        self.settings.export_format = options.fmt
        self.settings.export_bits = options.bits
        tempo = self.stretcher.tempo if self.stretcher is not None else 1.0
        semitones = self.stretcher.semitones if self.stretcher is not None else 0.0
        worker = ExportWorker(jobs, s.mixer, a, b, fmt=options.fmt, bits=options.bits,
                              tempo=tempo, semitones=semitones)
        self.export_worker = worker
        self.export_progress.setValue(0)
        self.export_progress.setVisible(True)
        self.statusBar().showMessage(f"Exporting {len(jobs)} file(s)…")
        self.pool.start(worker, {"progressed": self._export_progress,
                                 "returned": self._export_finished,
                                 "errored": self._export_failed,
                                 "aborted": self._export_cancelled})
        return worker

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
        if outcome == "finished":
            folder = Path(payload[0]).parent if payload else ""
            self.statusBar().showMessage(f"Exported {len(payload)} file(s) to {folder}")
        elif outcome == "failed":
            self.statusBar().showMessage("Export failed.")
            self.show_error(str(payload), "Export failed")
        else:
            self.statusBar().showMessage("Export cancelled.")
        self.export_ended.emit(outcome)
