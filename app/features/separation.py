"""Separate / Cancel: the separation worker, its progress, and its outcome (stems appear lane by
lane while it runs; the grid is analysed again on the finished stems).

A mixin of :class:`app.main_window.MainWindow` (it uses the window's widgets and state).
"""

from __future__ import annotations

from app.stem_cache import cache_key, model_identity
from app.widgets.lane_view import SPECTROGRAM
from app.widgets.transport import format_time
from app.workers import SeparationWorker, describe_error
from core.display import EnvelopePyramid
from core.errors import ModelNotFoundError, StemweaveError
from core.mixer import Mixer


class SeparationMixin:
    """Separation feature of the main window."""

    def separate(self) -> SeparationWorker | None:
        """Separate the open song in the background.

        The first time, stems appear lane by lane as segments finish. "Separate again" (stems
        already complete) separates into new buffers while the current stems keep playing and
        showing; they are replaced only when the new ones are complete (Cancel keeps them).
        """
        s = self.session
        if not s.is_open or self.sep_worker is not None or self.load_worker is not None:
            return None
        from core.families import read_header, runs_wiener

        try:
            model_path = self.resolve_model()
            model_id = model_identity(model_path)
            header = read_header(model_path)  # (once: stems and family)
            stem_names = header.stems
        except ModelNotFoundError as exc:
            self.show_error(str(exc), "Choose a model", settings_button=True)
            return None
        except (OSError, StemweaveError) as exc:
            self.show_error(f"The model file cannot be read: {exc}", "Choose a model")
            return None
        filtered = runs_wiener(header.family)
        key = cache_key(s.song_id, self.settings.stems_identity(model_id, filtered))
        again = s.stems_complete
        if again:
            target = Mixer(s.mixer.mix, s.sample_rate, stem_names=stem_names)
            envs = [EnvelopePyramid(stem, compute=False)
                    for stem in target.allocate_stems(stem_names)]
            self._replacement = (target, envs, key)
        else:
            target, envs = s.prepare_stems(stem_names)
            self._replacement = None
            s.cache_key = key
        worker = SeparationWorker(
            target, envs, model_path, self.settings.device, cache=self.cache, cache_key=key,
            cache_info={"song": str(s.path), "model": model_id}, wiener=self.settings.wiener)
        self.sep_worker = worker
        self.progress.setValue(0)
        self.progress.setFormat("Loading model…")
        self.eta_label.setText("")
        self.statusBar().showMessage(f"Separating with {model_path.name}…")
        self._update_enabled()
        handlers = {"progressed": self._sep_progress, "returned": self._sep_finished,
                    "errored": self._sep_failed, "aborted": self._sep_cancelled}
        if not again:
            handlers["segment_ready"] = s.stems_delivered
        self.pool.start(worker, handlers)
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
        replacement, self._replacement = self._replacement, None
        if replacement is not None:  # "Separate again": the new stems replace the old at once
            target, envs, key = replacement
            self.session.adopt_stems(target.stems, target.stem_names, envs)
            self.session.cache_key = key
        else:
            self.session.finish_stems()
        if self.fit_heights_action.isChecked():
            self.set_fit_heights(True)
        for lane in self.lanes[1:]:
            if lane.view.mode == SPECTROGRAM:
                self._request_spectrogram(lane.lane)
        self.eta_label.setText("")
        self.statusBar().showMessage("Separation finished.")
        self._update_enabled()
        if self.settings.grid_from_stems:
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
        replacement, self._replacement = self._replacement, None
        if replacement is None:
            self.session.drop_stems()  # partial stems of a first separation: the mix plays
            self.update_heard()
        self.eta_label.setText("")
        self._update_enabled()
        kept = " The previous stems are kept." if replacement is not None else ""
        if outcome == "failed":
            self.statusBar().showMessage("Separation failed." + kept)
            self.show_error(message + ("\n\n" + kept.strip() if kept else ""),
                            "Separation failed")
        else:
            self.statusBar().showMessage("Separation cancelled." + kept)
        self.separation_ended.emit(outcome)
