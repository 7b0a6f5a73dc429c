"""Separate / Cancel: the separation worker, its progress, and its outcome (stems appear lane by
lane while it runs; the grid is analysed again on the finished stems).

A mixin of :class:`app.main_window.MainWindow` (it uses the window's widgets and state).
"""

from __future__ import annotations

from app.stem_cache import cache_key, model_identity
from app.widgets.lane_view import SPECTROGRAM
from app.widgets.transport import format_time
from app.workers import SeparationWorker, describe_error
from core.errors import ModelNotFoundError, StemweaveError


class SeparationMixin:
    """Separation feature of the main window."""

    def separate(self) -> SeparationWorker | None:
        """Separate the open song in the background (stems appear as segments finish)."""
        s = self.session
        if not s.is_open or self.sep_worker is not None or self.load_worker is not None:
            return None
        from core.model_store import model_stems

        try:
            model_path = self.resolve_model()
            model_id = model_identity(model_path)
            stem_names = model_stems(model_path)
        except ModelNotFoundError as exc:
            self.show_error(str(exc), "Choose a model", settings_button=True)
            return None
        except (OSError, StemweaveError) as exc:
            self.show_error(f"The model file cannot be read: {exc}", "Choose a model")
            return None
        mixer, envs = s.prepare_stems(stem_names)
        key = cache_key(s.song_id, model_id)
        worker = SeparationWorker(
            mixer, envs, model_path, self.settings.device, cache=self.cache, cache_key=key,
            cache_info={"song": str(s.path), "model": model_id})
        self.sep_worker = worker
        s.cache_key = key
        self.progress.setValue(0)
        self.progress.setFormat("Loading model…")
        self.eta_label.setText("")
        self.statusBar().showMessage(f"Separating with {model_path.name}…")
        self._update_enabled()
        self.pool.start(worker, {"segment_ready": s.stems_delivered,
                                 "progressed": self._sep_progress,
                                 "returned": self._sep_finished, "errored": self._sep_failed,
                                 "aborted": self._sep_cancelled})
        return worker

    def cancel_separation(self) -> None:
        """Ask the running separation to stop."""
        if self.sep_worker is not None:
            self.sep_worker.cancel()
            self.progress.setFormat("Cancelling…")

    def _sep_progress(self, fraction: float, eta: float) -> None:
        if self.sep_worker is None:
            return
        self.progress.setFormat("Separating %p%")
        self.progress.setValue(int(fraction * 1000))
        self.eta_label.setText(f"ETA {format_time(eta)[:-2]}" if eta >= 0 else "")

    def _sep_finished(self, _stems: object) -> None:
        if self.sender() is not self.sep_worker:
            return
        self.sep_worker = None
        self.session.finish_stems()
        if self.fit_heights_action.isChecked():
            self.set_fit_heights(True)
        for lane in self.lanes[1:]:
            if lane.view.mode == SPECTROGRAM:
                self._request_spectrogram(lane.lane)
        self.eta_label.setText("")
        self.statusBar().showMessage("Separation finished.")
        self._update_enabled()
        self.grid.start(use_stems=True)
        self.separation_ended.emit("finished")

    def _sep_failed(self, error: BaseException) -> None:
        if self.sender() is self.sep_worker:
            self._sep_ended("failed", describe_error(error))

    def _sep_cancelled(self, _cancel: BaseException) -> None:
        if self.sender() is self.sep_worker:
            self._sep_ended("cancelled")

    def _sep_ended(self, outcome: str, message: str = "") -> None:
        self.sep_worker = None
        self.session.drop_stems()
        self.eta_label.setText("")
        self._update_enabled()
        if outcome == "failed":
            self.statusBar().showMessage("Separation failed.")
            self.show_error(message, "Separation failed")
        else:
            self.statusBar().showMessage("Separation cancelled.")
        self.separation_ended.emit(outcome)
