"""Level meters, master volume and clip protection.

Each lane's strip has a meter; the toolbar has the master volume (dB), the master meter and a
"LIMIT" light. Levels are measured on the GUI timer from the audio around the playhead (each
lane's audio times its fader and pan; the master is their sum times the master volume), so the
audio thread does no extra work; they fall back smoothly (20 dB/s). Clip protection is a
:class:`core.limiter.Limiter` the player's producer applies after the master volume (Playback
▸ Clip protection); the light shows when it acts. Export of the mix as heard gets the same.

A mixin of :class:`app.main_window.MainWindow`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from app.widgets.meters import FLOOR_DB, LevelMeter

#: seconds of audio measured before the playhead.
WINDOW_S = 0.05
#: how fast a meter falls, dB per second.
FALL_DB_S = 20.0
MASTER_MIN_DB, MASTER_MAX_DB = -30, 6


def _db(x: float) -> float:
    return 20.0 * float(np.log10(max(x, 1e-6)))


class MetersMixin:
    """Meters, master volume and clip protection of the main window."""

    def _build_master_widgets(self) -> QWidget:
        """The toolbar's master section (volume, meter, limiter light)."""
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(QLabel("Master"))
        self.master_slider = QSlider(Qt.Orientation.Horizontal)
        self.master_slider.setRange(MASTER_MIN_DB * 10, MASTER_MAX_DB * 10)
        self.master_slider.setFixedWidth(110)
        self.master_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.master_slider.setToolTip("Master volume (double-click: 0 dB)")
        self.master_label = QLabel()
        self.master_label.setFixedWidth(52)
        self.master_meter = LevelMeter(height=10)
        self.master_meter.setFixedWidth(120)
        self.limit_light = QLabel("LIMIT")
        self.limit_light.setToolTip("Clip protection is reducing the level (Playback ▸ Clip "
                                    "protection)")
        self.limit_light.setStyleSheet("color: #4a4d55; font-weight: bold; font-size: 10px;")
        for w in (self.master_slider, self.master_label, self.master_meter, self.limit_light):
            row.addWidget(w)
        self.master_slider.valueChanged.connect(lambda v: self.set_master_db(v / 10.0))
        self.master_slider.installEventFilter(self)
        self._meter_state: dict[int, tuple[float, float]] = {}
        self.limit_action = QAction("&Clip protection (limiter)", self)
        self.limit_action.setCheckable(True)
        self.limit_action.setChecked(self.settings.limiter)
        self.limit_action.setToolTip("Keep the output under -0.3 dBFS (playback and the mix as "
                                     "heard in exports)")
        self.limit_action.toggled.connect(self.set_clip_protection)
        self.set_master_db(self.settings.master_db, store=False)
        return box

    # -- controls ----------------------------------------------------------------------------
    def set_master_db(self, db: float, *, store: bool = True) -> None:
        """Master volume in dB (playback and the mix as heard in exports)."""
        db = float(min(MASTER_MAX_DB, max(MASTER_MIN_DB, db)))
        if self.master_slider.value() != int(round(db * 10)):
            self.master_slider.setValue(int(round(db * 10)))  # comes back here
            return
        self.master_label.setText(f"{db:+.1f} dB")
        if self.player is not None:
            self.player.master_gain = self.master_gain
        if store:
            self.settings.master_db = db

    @property
    def master_gain(self) -> float:
        """The master volume as a linear factor."""
        return float(10.0 ** (self.master_slider.value() / 10.0 / 20.0))

    def set_clip_protection(self, on: bool) -> None:
        """Switch the limiter on or off."""
        self.settings.limiter = bool(on)
        if self.limit_action.isChecked() != bool(on):
            self.limit_action.setChecked(bool(on))
        self._apply_master()

    def _apply_master(self) -> None:
        """Give the (new) player the master volume and the limiter."""
        p = self.player
        if p is None:
            return
        p.master_gain = self.master_gain
        if self.limit_action.isChecked():
            from core.limiter import Limiter

            if p.limiter is None:
                p.limiter = Limiter(p.sample_rate)
        else:
            p.limiter = None

    # -- levels ------------------------------------------------------------------------------
    def measure_levels(self, position_s: float) -> tuple[list[tuple[float, float]],
                                                         tuple[float, float]]:
        """``([(peak, rms) per lane], (peak, rms) master)`` in linear units at the playhead."""
        s = self.session
        mixer = s.mixer
        lanes = [(0.0, 0.0)] * len(self.lanes)
        if mixer is None:
            return lanes, (0.0, 0.0)
        sr = s.sample_rate
        b = int(min(mixer.frames, max(0.0, position_s) * sr))
        a = max(0, b - int(WINDOW_S * sr))
        if b <= a:
            a, b = 0, min(mixer.frames, int(WINDOW_S * sr))
        have_stems = mixer.stems is not None and mixer.available_frames > 0
        gains = mixer.effective_gains()[0 if have_stems else 1]
        master = np.zeros((2, b - a), dtype=np.float32)
        for i in range(min(len(self.lanes), gains.shape[0])):
            audio = s.lane_audio(i)
            if audio is None:
                continue
            seg = audio[:, a:b]
            if seg.shape[0] == 1:
                seg = np.repeat(seg, 2, axis=0)
            out = seg[:2] * gains[i][:, None].astype(np.float32)
            if out.size:
                lanes[i] = (float(np.abs(out).max()), float(np.sqrt(np.mean(out ** 2))))
                master += out
        master *= np.float32(self.master_gain)
        if master.size:
            return lanes, (float(np.abs(master).max()), float(np.sqrt(np.mean(master ** 2))))
        return lanes, (0.0, 0.0)

    def update_meters(self, position_s: float, dt: float = 0.033) -> None:
        """Refresh every meter (called from the playhead timer)."""
        lanes, master = self.measure_levels(position_s)
        fall = FALL_DB_S * dt
        playing = self.player is not None and self.player.playing
        for key, (peak, rms), meter in [*((i, lv, self.lanes[i].meter)
                                          for i, lv in enumerate(lanes)),
                                         (-1, master, self.master_meter)]:
            p_db, r_db = (_db(peak), _db(rms)) if playing else (FLOOR_DB, FLOOR_DB)
            old_p, old_r = self._meter_state.get(key, (FLOOR_DB, FLOOR_DB))
            p_db = max(FLOOR_DB, p_db, old_p - fall)
            r_db = max(FLOOR_DB, r_db, old_r - fall)
            self._meter_state[key] = (p_db, r_db)
            meter.set_levels(p_db, r_db, clipped=peak >= 1.0 and playing)
        lim = self.player.limiter if self.player is not None else None
        acting = lim is not None and playing and lim.reduction_db > 0.1
        self.limit_light.setStyleSheet(
            "font-weight: bold; font-size: 10px; color: "
            + ("#ff5050;" if acting else "#4a4d55;"))
        self.limit_light.setProperty("acting", acting)

    def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802, D102
        from PySide6.QtCore import QEvent

        if obj is getattr(self, "master_slider", None) and \
                event.type() == QEvent.Type.MouseButtonDblClick:
            self.set_master_db(0.0)
            return True
        return super().eventFilter(obj, event)

    def show_levels_at(self, position_s: float) -> None:
        """Show the levels at ``position_s`` once, playing or not (screenshots)."""
        lanes, master = self.measure_levels(position_s)
        for (peak, rms), meter in [*zip(lanes, (lane.meter for lane in self.lanes)),
                                   (master, self.master_meter)]:
            meter.set_levels(_db(peak), _db(rms), clipped=peak >= 1.0)

    def meters_moving(self) -> bool:
        """Whether a meter still shows a level (it falls back after a pause)."""
        return any(peak > FLOOR_DB for peak, _ in getattr(self, "_meter_state", {}).values())

    def meter_levels(self) -> dict[Any, tuple[float, float]]:
        """The meters' current (peak dB, RMS dB) by lane index (-1: master), for tests."""
        return dict(self._meter_state)
