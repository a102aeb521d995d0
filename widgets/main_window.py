"""The workstation's main window: worklist, import, the case tabs, settings and the banner.

Imports run off the GUI thread as `CoreTask`s with progress and Cancel in the status bar;
core errors appear as readable messages. The window shows a case's pseudonymous id only.
The worklist lists the screening database's cases (the configured URL, else the default
database when it exists) with the folders opened in this session; it is read again after an
import, after each write to a case's record, and on View > Refresh worklist. Opening that
database and reading it run as `CoreTask`s too (a server may take seconds to answer): the
window shows at once with the folder worklist, and the database's cases join it when read.
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
from app.database_worklist import (
    DatabaseCaseSource,
    OpenedWorklist,
    load_recorded_case,
    open_worklist,
)
from app.errors import CheckpointError
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
    """Worklist dock on the left, the open case in the middle, running tasks at the bottom.

    Made without a ``source``, the window's worklist starts with this session's folders (and
    the recent cases) and opens the screening database off the GUI thread: when it is read,
    its cases join the worklist; when it cannot be, the status bar says so. One database task
    runs at a time (`database_busy`); refreshes asked for meanwhile make one more read after it.
    """

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
        self.source: CaseSource = source or FolderCaseSource()
        self._database_task: CoreTask | None = None
        self._database_queued = False  # a read (or open) asked for while a task runs
        self._database_reopen = False  # the configured URL changed: open it
        self._database_report = False  # show a failure of the queued step in an error box
        self._database_task_reports = False  # ... of the running one
        self._closed = False
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
        if self._own_source:
            self._queue_database_step()
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
    @property
    def database_busy(self) -> bool:
        """Whether the worklist's database is being opened or read, or will be."""
        return self._database_task is not None or self._database_queued

    def refresh_worklist(self, select_key: str | None = None, *, report: bool = False) -> None:
        """Redraw the worklist now, and read the database's cases again off the GUI thread
        (they are merged in when read); asked for while a read runs, one more follows it.

        Args:
            select_key: Entry to select afterwards; None keeps the selection.
            report: Show a database that cannot be opened or read as an error box (the
                Refresh action), not only in the status bar; only then is a database that
                could not be opened tried again.
        """
        self.worklist.refresh(select_key=select_key)
        if not self._own_source:
            return
        if self.database_source is None and self.database_problem and not report:
            return  # it failed before: waiting for its timeout after every import helps no one
        self._queue_database_step(report=report)

    def _database_url_changed(self) -> None:
        """Switch the worklist to the database now configured, keeping this session's folders."""
        if not self._own_source or self.settings.database_url == self._database_url:
            return
        self._database_url = self.settings.database_url
        self._queue_database_step(reopen=True, report=True)

    def _queue_database_step(self, *, reopen: bool = False, report: bool = False) -> None:
        """Ask for the database to be read (opened first when there is none, or ``reopen``);
        started now when no database task runs, else once it finishes."""
        self._database_queued = True
        self._database_reopen |= reopen
        self._database_report |= report
        if self._database_task is None:
            self._start_database_step()

    def _start_database_step(self) -> None:
        """Start the queued open or read as a `CoreTask`."""
        if not self._database_queued or self._closed:
            return
        self._database_task_reports = self._database_report
        self._database_queued = self._database_report = False
        if self._database_reopen or self.database_source is None:
            self._database_reopen = False
            url = self.settings.database_url or None
            task = CoreTask("Opening the worklist database", open_worklist, url)
            task.signals.done.connect(self._on_database_opened)
            task.signals.failed.connect(self._on_database_unopened)
            task.signals.cancelled.connect(self._on_database_open_cancelled)
        else:
            task = CoreTask("Reading the worklist", self.database_source.read)
            task.signals.done.connect(self._on_worklist_read)
            task.signals.failed.connect(self._on_worklist_unread)
        # bound methods, not lambdas: Qt drops these connections if the window is deleted
        task.signals.finished.connect(self._on_database_task_finished)
        self._database_task = task
        self.tasks.start(task)

    def _on_database_task_finished(self) -> None:
        self._database_task = None
        self._start_database_step()

    def _on_database_opened(self, opened: object) -> None:
        """Put the worklist on the database just opened (or on none: no default one yet)."""
        assert opened is None or isinstance(opened, OpenedWorklist)
        if self._closed:  # arrived after closeEvent: nobody will use it
            if opened is not None:
                opened.db.dispose()
            return
        self.database_problem = ""
        self._switch_source(opened)
        self.worklist.refresh()

    def _on_database_open_cancelled(self) -> None:
        self._on_database_unopened("Opening the worklist database was cancelled.")

    def _on_database_unopened(self, text: str) -> None:
        """The database could not be opened: the worklist goes on with the session's folders."""
        if self._closed:
            return
        self.database_problem = (
            f"{text}\nThe worklist shows the folders opened in this session only."
        )
        log.warning("worklist database not opened")
        self._switch_source(None)
        self.worklist.refresh()
        if self._database_task_reports:
            self.show_error("Worklist database", self.database_problem)
        else:
            self.show_message(f"Worklist database: {' '.join(self.database_problem.split())}")

    def _on_worklist_read(self, rows: object) -> None:
        """Merge the rows read into the worklist (the GUI thread owns the source)."""
        if self._closed or self.database_source is None:
            return
        assert isinstance(rows, list)
        self.database_source.apply(rows)
        self.worklist.refresh()

    def _on_worklist_unread(self, text: str) -> None:
        if self._closed:
            return
        if self._database_task_reports:
            self.show_error("Worklist database", text)
        else:
            self.show_message(f"Worklist: {text}")

    def _switch_source(self, opened: OpenedWorklist | None) -> None:
        """Put the worklist on ``opened`` (None: on no database); this session's folders stay,
        and the opened database's cases are merged into them."""
        old_db = self.database_source
        self.database_source = DatabaseCaseSource(opened.db) if opened is not None else None
        if old_db is None and self.database_source is None:
            return  # still no database: the folder worklist goes on as it is
        new = self.database_source or FolderCaseSource()
        new.adopt(self.source.entries())
        if self.database_source is not None and opened is not None:
            self.database_source.apply(opened.rows)
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
        """Remember the layout, stop running tasks and release viewers and the database (one
        opened after this is closed as it arrives)."""
        self._closed = True
        self.settings.save_window(self)
        self.settings.sync()
        self.tasks.cancel_all()
        QThreadPool.globalInstance().waitForDone(5_000)
        self.case_view.close_views()
        if self.database_source is not None:
            self.database_source.dispose()
        super().closeEvent(event)
