"""Progress reporting and cancellation for long jobs, without Qt.

Long core functions take ``progress: ProgressFn`` and ``cancel: threading.Event``;
the GUI wraps them in a worker thread (see ``widgets/tasks.py``), the CLI in a rich bar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from app.errors import Cancelled

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done, total)``; ``total`` may be 0 when unknown."""


def no_progress(done: int, total: int) -> None:
    """A progress callback that ignores its arguments."""


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise `Cancelled` if the job was asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled
