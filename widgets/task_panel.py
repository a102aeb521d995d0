"""The status-bar strip that shows each running task with a progress bar and Cancel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from widgets.tasks import CoreTask


class TaskIndicator(QWidget):
    """One running task: its title, a progress bar and a Cancel button."""

    def __init__(self, task: CoreTask, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task = task
        self.label = QLabel(task.title)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.bar.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(f"Stop: {task.title}")
        self.cancel_button.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        task.signals.progress.connect(self._on_progress)

    def _on_progress(self, done: int, total: int) -> None:
        # QProgressBar.setValue repaints at once, outside the window's next frame: in a window
        # with a GL canvas that composes the whole window again (20-100 ms on Mesa llvmpipe).
        # With updates off meanwhile, re-enabling them schedules one ordinary update instead.
        self.bar.setUpdatesEnabled(False)
        if total <= 0:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
        self.bar.setUpdatesEnabled(True)

    def _cancel(self) -> None:
        self.task.cancel.set()
        self.cancel_button.setEnabled(False)
        self.label.setText(f"{self.task.title} (cancelling...)")


class TaskPanel(QWidget):
    """Starts tasks and shows one `TaskIndicator` per running task."""

    message = Signal(str)  # a finished task's outcome in words, for the status bar

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._running: dict[CoreTask, TaskIndicator] = {}

    @property
    def running(self) -> list[CoreTask]:
        """Tasks started here that have not finished."""
        return list(self._running)

    def indicator(self, task: CoreTask) -> TaskIndicator:
        """The indicator of a running task."""
        return self._running[task]

    def start(self, task: CoreTask) -> None:
        """Show `task` and queue it in the global thread pool."""
        indicator = TaskIndicator(task, self)
        self._layout.addWidget(indicator)
        indicator.show()  # at once, not on the next event-loop turn: Cancel must be clickable
        self._running[task] = indicator
        task.signals.cancelled.connect(lambda: self.message.emit(f"{task.title}: cancelled."))
        task.signals.finished.connect(lambda: self._finish(task))
        task.start()

    def cancel_all(self) -> None:
        """Ask every running task to stop."""
        for task in self._running:
            task.cancel.set()

    def _finish(self, task: CoreTask) -> None:
        indicator = self._running.pop(task, None)
        if indicator is not None:
            self._layout.removeWidget(indicator)
            indicator.deleteLater()
