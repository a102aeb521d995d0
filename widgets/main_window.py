"""The workstation's main window: worklist, import, the case tabs, settings and the banner.

Imports run off the GUI thread as `CoreTask`s with progress and Cancel in the status bar;
core errors appear as readable messages. The window shows a case's pseudonymous id only.
The worklist lists the screening database's cases (the configured URL, else the default
database when it exists) with the folders opened in this session; it is read again after an
import, after each write to a case's record, and on View > Refresh worklist.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.case import Case, load_case
from app.database_worklist import DatabaseCaseSource, load_recorded_case
from app.errors import CheckpointError, ScreeningError
from app.worklist import CaseEntry, CaseSource, CaseStatus, FolderCaseSource
from widgets.banner import SyntheticBanner
from widgets.case_view import CaseView
from widgets.screening_workspace import ScreeningWorkspace
from widgets.settings import AppSettings
from widgets.settings_dialog import SettingsDialog
from widgets.task_panel import TaskPanel
from widgets.tasks import CoreTask
from widgets.worklist_widget import WorklistWidget

log = logging.getLogger(__name__)

WINDOW_TITLE = "Neoadj-Net screening workstation"
READY_MRI_VIEWERS = 4
"""MRI viewers made with the window (pre-contrast, arterial, portal venous, delayed: the
common case), so that showing the first case only fills them; a case with more series makes
the rest when shown."""


class MainWindow(QMainWindow):
    """Worklist dock on the left, the open case in the middle, running tasks at the bottom."""

    def __init__(
        self, settings: AppSettings | None = None, source: CaseSource | None = None
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(WINDOW_TITLE)
        self.settings = settings or AppSettings()
        self.database_source: DatabaseCaseSource | None = None
        self.database_problem = ""
        self._database_url = self.settings.database_url
        self._own_source = source is None
        if source is None:
            self.database_source = self._open_database_source()
        self.source: CaseSource = source or self.database_source or FolderCaseSource()
        self.cases: dict[str, Case] = {}
        self.current_key: str | None = None
        self.import_tasks: dict[str, CoreTask] = {}
        self.last_error: QMessageBox | None = None

        self.tasks = TaskPanel()
        self.statusBar().addPermanentWidget(self.tasks)
        self.tasks.message.connect(self.show_message)
        self.banner = SyntheticBanner()
        self.case_view = CaseView(self.tasks)
        self.case_view.error.connect(self.show_error)
        self.case_view.message.connect(self.show_message)
        self.placeholder = QLabel(
            "No case open. Use File > Import case... or pick a case in the worklist."
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.case_view)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        for recent in self.settings.recent_cases():
            self.source.add(recent.paths, label=recent.label)
        self.worklist = WorklistWidget(self.source)
        self.worklist.case_activated.connect(self.activate_case)
        self.worklist_dock = QDockWidget("Worklist")
        self.worklist_dock.setObjectName("worklistDock")
        self.worklist_dock.setWidget(self.worklist)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.worklist_dock)

        self._build_menus()
        self.screening = ScreeningWorkspace(self)  # Model and Screening tabs, menu
        if self.database_problem:
            QTimer.singleShot(
                0, self, lambda: self.show_error("Worklist database", self.database_problem)
            )
        self.resize(1500, 950)
        self.settings.restore_window(self)
        self.refresh_checkpoint_banner()
        self.case_view.mri_view.prepare_viewers(READY_MRI_VIEWERS)
        self._viewers_painted = False

    # --- menus ----------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.import_action = QAction("&Import case...", self)
        self.import_action.setShortcut(QKeySequence.StandardKey.Open)
        self.import_action.triggered.connect(self.import_case_dialog)
        file_menu.addAction(self.import_action)
        self.recent_menu = file_menu.addMenu("Recent cases")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        settings_action = QAction("&Settings...", self)
        settings_action.triggered.connect(self.open_settings)
        file_menu.addAction(settings_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.worklist_dock.toggleViewAction())
        self.refresh_action = QAction("&Refresh worklist", self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(lambda: self.refresh_worklist(report=True))
        view_menu.addAction(self.refresh_action)
        self.worklist.addAction(self.refresh_action)
        self.worklist.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_cases()
        for item in recent:
            action = self.recent_menu.addAction(item.label)
            action.triggered.connect(lambda _=False, p=item.paths: self.open_case(p))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(
                self.settings.clear_recent_cases
            )

    # --- worklist ---------------------------------------------------------------------
    def _open_database_source(self) -> DatabaseCaseSource | None:
        """The configured database's worklist, else the default database's when it exists;
        None otherwise. A database that cannot be opened is noted in `database_problem`."""
        url = self.settings.database_url
        self.database_problem = ""
        try:
            return DatabaseCaseSource.open(url) if url else DatabaseCaseSource.open_default()
        except ScreeningError as exc:
            self.database_problem = (
                f"{exc.user_message}\nThe worklist shows the folders opened in this session only."
            )
            log.warning("worklist database not opened")
            return None

    def refresh_worklist(self, select_key: str | None = None, *, report: bool = False) -> None:
        """Read the database's cases again and redraw the worklist.

        Args:
            select_key: Entry to select afterwards; None keeps the selection.
            report: Show a database that cannot be read as an error box (the Refresh
                action), not only in the status bar.
        """
        if self.database_source is not None:
            try:
                self.database_source.reload()
            except ScreeningError as exc:
                if report:
                    self.show_error("Worklist database", exc.user_message)
                else:
                    self.show_message(f"Worklist: {exc.user_message}")
        elif self._own_source and (report or not self.database_problem):
            # no database yet (the first record creates the default one) or it failed before
            self._switch_source()
            if report and self.database_problem:
                self.show_error("Worklist database", self.database_problem)
        self.worklist.refresh(select_key=select_key)

    def _database_url_changed(self) -> None:
        """Switch the worklist to the database now configured, keeping this session's folders."""
        if not self._own_source or self.settings.database_url == self._database_url:
            return
        self._database_url = self.settings.database_url
        self._switch_source()
        self.worklist.refresh()
        if self.database_problem:
            self.show_error("Worklist database", self.database_problem)

    def _switch_source(self) -> None:
        """Open the configured database's worklist again; this session's folders stay."""
        old_db = self.database_source
        self.database_source = self._open_database_source()
        if old_db is None and self.database_source is None:
            return  # still no database: the folder worklist goes on as it is
        new = self.database_source or FolderCaseSource()
        new.adopt(self.source.entries())
        self.source = self.worklist.source = new
        if old_db is not None:
            old_db.dispose()

    # --- cases ----------------------------------------------------------------------
    def import_case_dialog(self) -> None:
        """Ask for a case folder and import it."""
        start = self.settings.last_import_dir
        folder = QFileDialog.getExistingDirectory(
            self, "Import case folder", str(start) if start else ""
        )
        if folder:
            self.settings.last_import_dir = Path(folder).parent
            self.open_case([Path(folder)])

    def open_case(self, paths: Sequence[Path]) -> CoreTask | None:
        """Import a case off the GUI thread (or show it if already imported).

        Returns:
            The import task, or None when the case was already imported or is importing.
        """
        return self._open_entry(self.source.add(list(paths)))

    def _open_entry(self, entry: CaseEntry) -> CoreTask | None:
        """Show the entry's case if imported, else import it off the GUI thread; a recorded
        case is imported from its recorded folder and checked against its recorded content."""
        self.worklist.refresh(select_key=entry.key)
        if entry.key in self.cases:
            self.show_case(entry.key)
            return None
        if entry.key in self.import_tasks:
            return None
        entry.status, entry.message = CaseStatus.IMPORTING, ""
        self.source.update(entry)
        self.worklist.refresh(select_key=entry.key)
        if entry.record_id is not None and entry.content_sha256 is not None:
            task = CoreTask(
                "Importing case",
                load_recorded_case,
                entry.paths,
                entry.content_sha256,
                entry.label,
            )
        else:
            task = CoreTask("Importing case", load_case, list(entry.paths))
        task.signals.done.connect(lambda case: self._on_imported(entry.key, case))
        task.signals.failed.connect(lambda text: self._on_import_failed(entry.key, text))
        task.signals.cancelled.connect(lambda: self._on_import_cancelled(entry.key))
        task.signals.finished.connect(lambda: self.import_tasks.pop(entry.key, None))
        self.import_tasks[entry.key] = task
        self.tasks.start(task)
        return task

    def activate_case(self, key: str) -> CoreTask | None:
        """Show an imported case, or import it (the worklist's double-click)."""
        if key in self.cases:
            self.show_case(key)
            return None
        return self._open_entry(self.source.get(key))

    def show_case(self, key: str) -> None:
        """Put an imported case on screen."""
        case = self.cases[key]
        if self.current_key != key:
            self.current_key = key
            self.case_view.set_case(case)
        self.stack.setCurrentWidget(self.case_view)
        self.banner.set_data_synthetic(case.synthetic)
        self.setWindowTitle(f"{WINDOW_TITLE} - case {case.case_id}")

    def _on_imported(self, key: str, case: object) -> None:
        assert isinstance(case, Case)
        entry = self._entry(key)
        entry.label = case.case_id
        entry.synthetic = case.synthetic
        entry.content_sha256 = case.content_hash
        if not case.imported_anything:
            entry.status = CaseStatus.FAILED
            entry.message = "nothing importable"
            self.source.update(entry)
            self.refresh_worklist(select_key=key)
            details = "\n".join(f"{p.name}: {m}" for p, m in case.errors[:10])
            self.show_error("Import", f"Nothing could be imported from this case.\n{details}")
            return
        entry.status = CaseStatus.READY
        entry.message = f"{len(case.errors)} problem(s)" if case.errors else ""
        self.source.update(entry)
        self.cases[key] = case
        self.settings.add_recent_case(entry.paths, entry.label)
        self.refresh_worklist(select_key=key)
        self.show_case(key)
        if case.errors:
            self.show_message(
                f"Case {case.case_id} imported with {len(case.errors)} problem(s); "
                "see the Overview tab."
            )

    def _on_import_failed(self, key: str, text: str) -> None:
        entry = self._entry(key)
        entry.status, entry.message = CaseStatus.FAILED, text
        self.source.update(entry)
        self.worklist.refresh(select_key=key)
        self.show_error("Import", text)

    def _on_import_cancelled(self, key: str) -> None:
        entry = self._entry(key)
        entry.status, entry.message = CaseStatus.CANCELLED, ""
        self.source.update(entry)
        self.worklist.refresh(select_key=key)

    def _entry(self, key: str) -> CaseEntry:
        return self.source.get(key)

    # --- settings, banner, messages --------------------------------------------------
    def open_settings(self) -> None:
        """Edit the settings (modal)."""
        if SettingsDialog(self.settings, self).exec():
            self.refresh_checkpoint_banner()
            self._database_url_changed()

    def refresh_checkpoint_banner(self) -> None:
        """Flag a synthetic checkpoint (the configured one, else the shipped demo)."""
        from inference.checkpoint import default_checkpoint_dir, read_manifest

        folder = self.settings.checkpoint_dir or default_checkpoint_dir()
        try:
            synthetic = bool(read_manifest(folder).get("synthetic", False))
        except CheckpointError as exc:
            log.info("no usable checkpoint manifest: %s", exc.user_message)
            synthetic = False
        self.banner.set_checkpoint_synthetic(synthetic)

    def show_message(self, text: str) -> None:
        """A note in the status bar."""
        self.statusBar().showMessage(text, 10_000)

    def show_error(self, title: str, text: str) -> None:
        """A readable error in a window-modal box that does not block the event loop."""
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.last_error = box
        self.show_message(f"{title}: {text.splitlines()[0]}")

    def showEvent(self, event: QShowEvent) -> None:
        """The first time the window shows, its napari viewers are drawn offscreen in the next
        event-loop turns (compiling their shaders before the user asks for a case)."""
        super().showEvent(event)
        if not self._viewers_painted:
            self._viewers_painted = True
            QTimer.singleShot(0, self, self.case_view.paint_viewers_offscreen)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Remember the layout, stop running tasks and release viewers."""
        self.settings.save_window(self)
        self.settings.sync()
        self.tasks.cancel_all()
        QThreadPool.globalInstance().waitForDone(5_000)
        self.case_view.close_views()
        if self.database_source is not None:
            self.database_source.dispose()
        super().closeEvent(event)
