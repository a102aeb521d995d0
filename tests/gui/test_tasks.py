"""CoreTask and TaskPanel: long core work off the GUI thread with progress and Cancel."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from pytestqt.qtbot import QtBot

from app.errors import CaseImportError
from app.progress import ProgressFn, check_cancel
from widgets.task_panel import TaskPanel
from widgets.tasks import CoreTask

pytestmark = pytest.mark.gui


def _count(n: int, *, progress: ProgressFn, cancel: threading.Event) -> int:
    for i in range(n):
        check_cancel(cancel)
        time.sleep(0.002)
        progress(i + 1, n)
    return n * 10


def _wait_for_cancel(*, progress: ProgressFn, cancel: threading.Event) -> str:
    while True:
        check_cancel(cancel)
        progress(0, 0)
        time.sleep(0.005)


def _raise_user_error(*, progress: ProgressFn, cancel: threading.Event) -> None:
    raise CaseImportError("'scan.dcm' is empty (0 bytes).")


def _raise_bug(*, progress: ProgressFn, cancel: threading.Event) -> None:
    raise ZeroDivisionError("internal detail")


def test_done_with_result_and_throttled_progress(qtbot: QtBot) -> None:
    task = CoreTask("Counting", _count, 100)
    reports: list[tuple[int, int]] = []
    task.signals.progress.connect(lambda d, t: reports.append((d, t)))
    with qtbot.waitSignal(task.signals.done, timeout=10_000) as blocker:
        task.start()
    assert blocker.args == [1000]
    qtbot.waitUntil(lambda: reports[-1:] == [(100, 100)], timeout=2_000)
    assert len(reports) < 100  # at most one report per 0.1 s, plus the last one


def test_user_errors_unexpected_errors_and_cancel(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    task = CoreTask("Importing", _raise_user_error)
    with qtbot.waitSignal(task.signals.failed, timeout=5_000) as blocker:
        task.start()
    assert blocker.args == ["'scan.dcm' is empty (0 bytes)."]

    bug = CoreTask("Importing", _raise_bug)
    with (
        caplog.at_level(logging.ERROR),
        qtbot.waitSignal(bug.signals.failed, timeout=5_000) as blocker,
    ):
        bug.start()
    assert blocker.args == ["Importing: unexpected error; see the log."]
    assert "internal detail" not in blocker.args[0]
    assert any("ZeroDivisionError" in (r.exc_text or "") for r in caplog.records)

    endless = CoreTask("Waiting", _wait_for_cancel)
    done: list[object] = []
    endless.signals.done.connect(done.append)
    endless.start()
    qtbot.wait(50)
    with qtbot.waitSignal(endless.signals.cancelled, timeout=5_000):
        endless.cancel.set()
    assert done == []


def test_task_panel_shows_progress_and_cancel(qtbot: QtBot) -> None:
    panel = TaskPanel()
    qtbot.addWidget(panel)
    panel.show()
    task = CoreTask("Waiting", _wait_for_cancel)
    messages: list[str] = []
    panel.message.connect(messages.append)
    panel.start(task)
    indicator = panel.indicator(task)
    assert indicator.isVisible() and indicator.label.text() == "Waiting"
    assert indicator.bar.maximum() == 0  # busy: the total is unknown
    with qtbot.waitSignal(task.signals.finished, timeout=5_000):
        indicator.cancel_button.click()
    assert "cancelling" in indicator.label.text()
    qtbot.waitUntil(lambda: panel.running == [], timeout=2_000)
    assert messages == ["Waiting: cancelled."]
