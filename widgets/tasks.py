"""Long core jobs off the GUI thread: a `CoreTask` runs a core function in the thread pool.

The core function takes ``progress`` and ``cancel`` keyword arguments (see app/progress.py);
the task turns its outcome into Qt signals that arrive in the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.errors import Cancelled, ScreeningError

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


class TaskSignals(QObject):
    """What a running task reports; created (and so delivered) in the GUI thread."""

    progress = Signal(int, int)
    done = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()  # after any of done/failed/cancelled


class CoreTask(QRunnable):
    """Runs ``fn(*args, progress=..., cancel=...)`` in a pool thread.

    Exactly one of `done(result)`, `failed(message)` or `cancelled()` is emitted, then
    `finished()`. A `ScreeningError` becomes its user message; any other exception is logged
    and reported as an unexpected error.
    """

    def __init__(self, title: str, fn: Callable[..., object], /, *args: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.title = title
        self.signals = TaskSignals()
        self.cancel = threading.Event()
        self._fn, self._args = fn, args
        self._last_report = float("-inf")

    def run(self) -> None:  # runs in a pool thread
        try:
            result = self._fn(*self._args, progress=self._report, cancel=self.cancel)
        except Cancelled:
            self.signals.cancelled.emit()
        except ScreeningError as exc:
            self.signals.failed.emit(exc.user_message)
        except Exception:
            log.exception("task %r failed", self.title)
            self.signals.failed.emit(f"{self.title}: unexpected error; see the log.")
        else:
            if self.cancel.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.done.emit(result)
        self.signals.finished.emit()

    def _report(self, done: int, total: int) -> None:
        """Forward progress at most every `PROGRESS_INTERVAL_S` (and always the last step):
        each report costs the GUI thread a repaint."""
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL_S or (total > 0 and done >= total):
            self._last_report = now
            self.signals.progress.emit(done, total)

    def start(self, pool: QThreadPool | None = None) -> None:
        """Queue the task in `pool` (default: the global pool)."""
        (pool or QThreadPool.globalInstance()).start(self)
