"""Start-up probe for the installer's smoke test: screenshot the painted window, then close it.

Only active when ``NEOADJ_SCREENSHOT`` names a PNG path (scripts/smoke-app sets it). The probe
records the seconds from process creation to the window's first paint and to the case being on
screen, then shows each tab of the window's largest tab bar in turn (the case view: overview,
MRI in napari, 3D in VTK, slide...), waits ``NEOADJ_SCREENSHOT_DELAY_S`` seconds (default 4) on
each so the viewers render, and grabs the whole X screen (OpenGL canvases included, which
`QWidget.grab()` shows black): the first tab to ``PATH``, the others to ``PATH`` with ``-<tab>``
added to the stem. It writes the timings as JSON to ``<PATH>.json`` and closes the window the
normal way.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import psutil
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QMainWindow, QTabWidget

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
        self._tabs: QTabWidget | None = None
        self._tab = 0
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
        """Begin the screenshots ``delay_s`` after ``task`` (the case import) ends, or now."""
        if task is None:
            self._on_case_ready()
            return
        task.signals.finished.connect(self._on_case_ready)

    def _on_case_ready(self) -> None:
        self._timings["case_ready_s"] = round(_seconds_since_process_start(), 3)
        visible = [t for t in self._window.findChildren(QTabWidget) if t.isVisible()]
        if visible:
            self._tabs = max(visible, key=lambda t: t.width() * t.height())
        QTimer.singleShot(self._delay_ms, self._capture)

    def _capture(self) -> None:
        target = self._path
        if self._tab > 0 and self._tabs is not None:
            title = "".join(c for c in self._tabs.tabText(self._tab) if c.isalnum())
            target = self._path.with_name(f"{self._path.stem}-{title}{self._path.suffix}")
        if not self._window.screen().grabWindow(0).save(str(target), "PNG"):
            log.error("could not save the start-up screenshot to %s", target)
        self._timings["screenshot_s"] = round(_seconds_since_process_start(), 3)
        self._tab += 1
        if self._tabs is not None and self._tab < self._tabs.count():
            self._tabs.setCurrentIndex(self._tab)
            QTimer.singleShot(self._delay_ms, self._capture)
            return
        self._path.with_name(self._path.name + ".json").write_text(
            json.dumps(self._timings, indent=2), encoding="utf-8"
        )
        self._window.close()
