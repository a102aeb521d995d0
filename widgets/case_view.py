"""The case area of the main window: one tab per way of looking at the open case.

Tabs: Overview, MRI, 3D, Slide, Genomics; later issues add Model and Screening with
`add_tab`. Slow work (opening a slide) goes through the window's `TaskPanel`.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from app.case import Case
from app.slides.reader import SlideReader
from widgets.case_overview import CaseOverview
from widgets.genomics_view import GenomicsView
from widgets.mri_view import MriView
from widgets.slide_view import SlideView, open_slide_for_view
from widgets.task_panel import TaskPanel
from widgets.tasks import CoreTask
from widgets.volume_view import VolumeView

log = logging.getLogger(__name__)


class CaseView(QWidget):
    """Tabs over one open case."""

    error = Signal(str, str)  # title, message for the user
    message = Signal(str)  # status-bar note
    case_changed = Signal(object)  # the Case now shown (after set_case)

    def __init__(self, tasks: TaskPanel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: Case | None = None
        self._tasks = tasks
        self._slide_task: CoreTask | None = None
        self.overview = CaseOverview()
        self.mri_view = MriView()
        self.volume_view = VolumeView()
        self.slide_view = SlideView()
        self.genomics_view = GenomicsView()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("caseTabs")
        self.tabs.addTab(self.overview, "Overview")
        self.tabs.addTab(self.mri_view, "MRI")
        self.tabs.addTab(self.volume_view, "3D")
        self.tabs.addTab(self.slide_view, "Slide")
        self.tabs.addTab(self.genomics_view, "Genomics")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.mri_view.message.connect(self.message)
        self.mri_view.phases_changed.connect(self.volume_view.refresh_phase_names)
        self.mri_view.viewers_ready.connect(self._on_mri_ready)
        self.slide_view.slide_combo.activated.connect(self._on_slide_chosen)

    def add_tab(self, widget: QWidget, title: str) -> int:
        """Add a tab (Model, Screening...) and return its index."""
        return self.tabs.addTab(widget, title)

    def show_tab(self, title: str) -> None:
        """Bring the tab with this title to the front.

        Raises:
            KeyError: if there is no such tab.
        """
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                self.tabs.setCurrentIndex(i)
                return
        raise KeyError(title)

    def set_case(self, case: Case) -> None:
        """Show `case` in every tab; its first slide opens in the background."""
        self.case = case
        self.overview.set_case(case)
        self.volume_view.set_series([])  # gets the series once napari's viewers exist
        self.mri_view.set_series(case.mri)
        self.genomics_view.set_panels(case.genomics)
        self.slide_view.clear()
        self.slide_view.slide_combo.clear()
        for i, info in enumerate(case.slides):
            self.slide_view.slide_combo.addItem(f"Slide {i + 1} ({info.vendor})", i)
        self.slide_view.slide_combo.setVisible(bool(case.slides))
        if case.slides:
            self.open_slide(0)
        self.case_changed.emit(case)

    def _on_mri_ready(self) -> None:
        # Only now may VTK make its GL context (napari has made its image layers first).
        if self.case is not None:
            self.volume_view.set_series(self.case.mri)

    def open_slide(self, index: int) -> CoreTask | None:
        """Open slide `index` of the case off the GUI thread, then show it."""
        if self.case is None or not 0 <= index < len(self.case.slides):
            return None
        if self._slide_task is not None:
            self._slide_task.cancel.set()
        case = self.case
        task = CoreTask("Opening slide", open_slide_for_view, case.slides[index].source)
        task.signals.done.connect(lambda reader: self._show_reader(case, reader))
        task.signals.failed.connect(lambda text: self.error.emit("Slide", text))
        self._slide_task = task
        self._tasks.start(task)
        return task

    def _show_reader(self, case: Case, reader: object) -> None:
        assert isinstance(reader, SlideReader)
        if case is not self.case:  # another case was opened meanwhile
            reader.close()
            return
        self.slide_view.show_slide(reader)

    def _on_slide_chosen(self, index: int) -> None:
        self.open_slide(index)

    def paint_viewers_offscreen(self) -> None:
        """Draw the slide viewer, then each kept MRI viewer, once offscreen, one per event-loop
        turn, so that their first showing compiles no shaders (for the window to call once
        it shows; see `SlideView.paint_offscreen`, `MriView.paint_viewers_offscreen`)."""
        self.slide_view.paint_offscreen()
        QTimer.singleShot(0, self.mri_view, self.mri_view.paint_viewers_offscreen)

    def close_views(self) -> None:
        """Release GL resources and readers before the window goes."""
        if self._slide_task is not None:
            self._slide_task.cancel.set()
        self.mri_view.close_viewers()
        self.volume_view.close_vtk()
        self.slide_view.close_viewer()
