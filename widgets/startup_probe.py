"""Start-up probe for the installer's smoke test: screenshot the painted window, then close it.

Only active when ``NEOADJ_SCREENSHOT`` names a PNG path (scripts/smoke-app sets it). The probe
records the seconds from process creation to the window's first paint and to the case being on
screen, waits ``NEOADJ_SCREENSHOT_DELAY_S`` seconds (default 4) so the viewers render, grabs the
whole X screen (OpenGL canvases included, which `QWidget.grab()` shows black), saves it, writes
the timings as JSON next to it (``<path>.json``) and closes the window the normal way.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import psutil
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QMainWindow

from widgets.tasks import CoreTask

log = logging.getLogger(__name__)

SCREENSHOT_ENV = "NEOADJ_SCREENSHOT"
DELAY_ENV = "NEOADJ_SCREENSHOT_DELAY_S"
DEFAULT_DELAY_S = 4.0


def _seconds_since_process_start() -> float:
    return time.time() - psutil.Process().create_time()


class StartupProbe(QObject):
    """Watches one window; see the module docstring."""

    def __init__(self, window: QMainWindow, path: Path, delay_s: float) -> None:
        super().__init__(window)
        self._window = window
        self._path = path
        self._delay_ms = int(delay_s * 1000)
        self._timings: dict[str, float] = {}
        window.installEventFilter(self)

    @classmethod
    def from_environment(cls, window: QMainWindow) -> StartupProbe | None:
        """A probe on ``window`` when ``NEOADJ_SCREENSHOT`` is set, else None."""
        target = os.environ.get(SCREENSHOT_ENV)
        if not target:
            return None
        return cls(window, Path(target), float(os.environ.get(DELAY_ENV, DEFAULT_DELAY_S)))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Record the first paint of the window."""
        if event.type() == QEvent.Type.Paint and "first_paint_s" not in self._timings:
            self._timings["first_paint_s"] = round(_seconds_since_process_start(), 3)
        return False

    def start(self, task: CoreTask | None) -> None:
        """Take the screenshot ``delay_s`` after ``task`` (the case import) ends, or after now."""
        if task is None:
            QTimer.singleShot(self._delay_ms, self._capture)
            return
        task.signals.finished.connect(self._on_case_ready)

    def _on_case_ready(self) -> None:
        self._timings["case_ready_s"] = round(_seconds_since_process_start(), 3)
        QTimer.singleShot(self._delay_ms, self._capture)

    def _capture(self) -> None:
        screen = self._window.screen()
        pixmap = screen.grabWindow(0)
        if not pixmap.save(str(self._path), "PNG"):
            log.error("could not save the start-up screenshot to %s", self._path)
        self._timings["screenshot_s"] = round(_seconds_since_process_start(), 3)
        self._path.with_name(self._path.name + ".json").write_text(
            json.dumps(self._timings, indent=2), encoding="utf-8"
        )
        self._window.close()
