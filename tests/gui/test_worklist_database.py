"""The window's worklist over the screening database: recorded cases with their status, opened
by double-click from their recorded folder; a missing folder and an unopenable database give
readable messages; opening and reading the database never block the window."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QThreadPool, QTimer
from pytestqt.qtbot import QtBot

import widgets.main_window as main_window
from app import database_worklist
from app.case import load_case
from app.database_worklist import DatabaseCaseSource, OpenedWorklist
from app.progress import ProgressFn
from app.pseudonym import SiteSecret, pseudonymise
from app.storage import (
    Database,
    Outcome,
    RecordedCase,
    open_database,
    record_decision,
    record_import,
)
from app.worklist import CaseStatus
from tests.gui.conftest import assert_not_blank, grab_widget, save_screenshot, show_main_window
from tests.storage_fixtures import make_case, screened_case
from widgets.main_window import MainWindow
from widgets.phase_viewer import PhaseViewer
from widgets.settings import AppSettings
from widgets.worklist_widget import COLUMNS

pytestmark = pytest.mark.gui

IMPORT_TIMEOUT_MS = 90_000
DATABASE_TIMEOUT_MS = 10_000
MAX_HEARTBEAT_GAP_S = 0.3
SECRET = SiteSecret(bytes(range(32)))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'screening.db'}")
    yield database
    database.dispose()


@pytest.fixture
def settings(app_settings: AppSettings, db: Database, tmp_path: Path) -> AppSettings:
    app_settings.database_url = db.engine.url.render_as_string(hide_password=False)
    app_settings.checkpoint_dir = tmp_path / "no-checkpoint"  # no synthetic-checkpoint flag
    return app_settings


def _shown_with_database(qtbot: QtBot, settings: AppSettings) -> MainWindow:
    """The window, once its worklist database was opened and read (off the GUI thread)."""
    win = show_main_window(qtbot, settings)
    qtbot.waitUntil(lambda: not win.database_busy, timeout=DATABASE_TIMEOUT_MS)
    return win


def _refresh(qtbot: QtBot, win: MainWindow) -> None:
    """View > Refresh worklist, and wait for the read."""
    win.refresh_action.trigger()
    qtbot.waitUntil(lambda: not win.database_busy, timeout=DATABASE_TIMEOUT_MS)


class Heartbeat:
    """A 20 ms QTimer that notes when it fires: long gaps mean a blocked event loop."""

    def __init__(self) -> None:
        self.beats: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(lambda: self.beats.append(time.monotonic()))

    def run(self, qtbot: QtBot, seconds: float) -> float:
        """Run the event loop for ``seconds``; returns the longest gap between beats (s)."""
        self.beats = [time.monotonic()]
        self.timer.start()
        qtbot.wait(int(seconds * 1000))
        self.timer.stop()
        self.beats.append(time.monotonic())
        return max(b - a for a, b in zip(self.beats, self.beats[1:], strict=False))


def _row_of(win: MainWindow, key: str) -> int:
    table = win.worklist
    rows = [
        r for r in range(table.rowCount()) if table.item(r, 0).data(Qt.ItemDataRole.UserRole) == key
    ]
    assert len(rows) == 1, f"{len(rows)} rows for {key}"
    return rows[0]


def _double_click(qtbot: QtBot, win: MainWindow, row: int) -> None:
    table = win.worklist
    centre = table.visualItemRect(table.item(row, 0)).center()
    # a user's double-click: the first click's press and release, then the second click
    # (QTest's double-click alone lacks the press that the item view checks for)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def test_recorded_cases_are_listed_and_open_by_double_click(
    qtbot: QtBot, settings: AppSettings, db: Database, demo_dir: Path, tmp_path: Path
) -> None:
    demo = load_case([demo_dir])
    assert demo.clinical is not None and demo.clinical.patient_id
    with db.transaction() as session:
        demo_id = record_import(session, demo, secret=SECRET, actor="neoadj screen").id
    decided = screened_case(db, tmp_path / "night", SECRET, patient_id="MRN-E")
    with db.transaction() as session:
        record_decision(session, decided, Outcome.ELIGIBLE, reviewer="Dr Night")
    screened_case(db, tmp_path / "night", SECRET, patient_id="MRN-P")

    win = _shown_with_database(qtbot, settings)
    table = win.worklist
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == list(
        COLUMNS
    )
    assert table.rowCount() == 3
    rows = {
        table.item(r, 0).text(): [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    }
    demo_label = pseudonymise(demo.clinical.patient_id, SECRET)[:12]
    assert rows[demo_label][1:4] == ["pending", "not loaded", "synthetic"]
    assert rows[pseudonymise("MRN-E", SECRET)[:12]][1] == "eligible"
    assert not any("MRN" in text for row in rows.values() for text in row)
    shot = grab_widget(win.worklist_dock)
    save_screenshot("worklist_database", shot)
    assert_not_blank(shot, min_std=4.0)

    demo_key = next(e.key for e in win.source.entries() if e.record_id == demo_id)
    _double_click(qtbot, win, _row_of(win, demo_key))
    qtbot.waitUntil(
        lambda: win.worklist.status_of(demo_key) is not CaseStatus.NOT_LOADED, timeout=5_000
    )
    qtbot.waitUntil(
        lambda: win.worklist.status_of(demo_key) is not CaseStatus.IMPORTING,
        timeout=IMPORT_TIMEOUT_MS,
    )
    assert win.last_error is None, win.last_error.text()
    assert demo_key in win.cases
    qtbot.waitUntil(lambda: not win.case_view.mri_view.building, timeout=IMPORT_TIMEOUT_MS)
    assert win.worklist.status_of(demo_key) is CaseStatus.READY
    assert win.cases[demo_key].content_hash == demo.content_hash
    assert table.rowCount() == 3  # the opened case is still one row
    row = _row_of(win, demo_key)
    assert table.item(row, 1).text() == "pending"
    assert table.item(row, 0).text() == demo.case_id  # the imported case's pseudonymous id

    # a decision recorded elsewhere shows on Refresh
    with db.transaction() as session:
        record_decision(session, demo_id, Outcome.DEFERRED, reviewer="Dr Day")
    _refresh(qtbot, win)
    assert table.item(_row_of(win, demo_key), 1).text() == "deferred"
    assert _row_of(win, demo_key) == 0  # the most recently changed first
    save_screenshot("worklist_database_opened", grab_widget(win))
    win.close()


def test_a_missing_recorded_folder_and_an_unopenable_database_are_messages(
    qtbot: QtBot, settings: AppSettings, db: Database, tmp_path: Path
) -> None:
    case = make_case(tmp_path / "moved" / "case-3", patient_id="MRN-3")
    with db.transaction() as session:
        record_import(session, case, secret=SECRET, actor="neoadj screen")
    shutil.rmtree(case.root or tmp_path)
    win = _shown_with_database(qtbot, settings)
    (entry,) = win.source.entries()
    _double_click(qtbot, win, 0)
    qtbot.waitUntil(lambda: win.worklist.status_of(entry.key) is CaseStatus.FAILED, timeout=10_000)
    assert win.last_error is not None
    assert str((tmp_path / "moved" / "case-3").resolve()) in win.last_error.text()
    assert "missing" in win.last_error.text()
    win.close()

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not an SQLite database" * 100)
    settings.database_url = f"sqlite:///{garbage}"
    broken = _shown_with_database(qtbot, settings)
    # at start-up: a note in the status bar, no box in the user's way
    assert broken.last_error is None
    note = broken.statusBar().currentMessage()
    assert "garbage.db" in note and "folders opened in this session" in note
    assert "Traceback" not in note
    _refresh(qtbot, broken)  # asked for: tried again, and a box says why it failed
    assert broken.last_error is not None
    assert "garbage.db" in broken.last_error.text()
    assert "folders opened in this session" in broken.last_error.text()
    folder = tmp_path / "session-case"
    folder.mkdir()
    task = broken.open_case([folder])  # the folder worklist still works
    assert task is not None and broken.worklist.rowCount() == 1
    qtbot.waitUntil(lambda: task not in broken.tasks.running, timeout=10_000)
    broken.close()


def _wait_for_viewers_drawn(qtbot: QtBot, win: MainWindow) -> None:
    """Drawing the napari viewers offscreen as the window first shows holds the event loop
    a while (shader compiles): wait for it, so that the heartbeat times the database only."""
    viewers = win.case_view.mri_view.findChildren(PhaseViewer)
    canvases = [v.qt_viewer.canvas.native for v in viewers]
    qtbot.waitUntil(lambda: all(c.isValid() for c in canvases), timeout=30_000)
    qtbot.wait(100)


def test_the_window_shows_and_stays_responsive_while_the_database_opens_and_reads(
    qtbot: QtBot,
    settings: AppSettings,
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorded = screened_case(db, tmp_path / "night", SECRET, patient_id="MRN-S")
    recent = tmp_path / "opened-before"
    recent.mkdir()
    settings.add_recent_case((recent,), "case-before")
    opening, release_open = threading.Event(), threading.Event()
    real_open = main_window.open_worklist

    def slow_open(
        url: str | None, *, progress: ProgressFn, cancel: threading.Event
    ) -> OpenedWorklist | None:  # a server that takes its time
        opening.set()
        release_open.wait(30)
        return real_open(url, progress=progress, cancel=cancel)

    monkeypatch.setattr(main_window, "open_worklist", slow_open)
    win = show_main_window(qtbot, settings)  # returns while the database is still opening
    assert opening.wait(5)
    assert win.isVisible() and win.database_busy
    assert [e.label for e in win.source.entries()] == ["case-before"]  # the folder worklist
    _wait_for_viewers_drawn(qtbot, win)
    gap_s = Heartbeat().run(qtbot, 1.0)
    assert win.database_busy and win.worklist.rowCount() == 1  # still opening
    assert gap_s < MAX_HEARTBEAT_GAP_S, f"event loop blocked {gap_s:.3f} s while opening"

    release_open.set()
    qtbot.waitUntil(lambda: not win.database_busy, timeout=DATABASE_TIMEOUT_MS)
    assert win.database_source is not None and win.source is win.database_source
    assert [e.record_id for e in win.source.entries()] == [recorded, None]
    assert win.worklist.rowCount() == 2  # the recorded case joined the session's folder
    key = win.source.entries()[0].key
    assert win.worklist.screening_status_of(key) == "pending"

    # a slow read: three refreshes while it runs make one more read, not three
    reads: list[float] = []
    release_read = threading.Event()
    real_read = DatabaseCaseSource.read

    def slow_read(
        source: DatabaseCaseSource, *, progress: ProgressFn, cancel: threading.Event
    ) -> list[RecordedCase]:
        reads.append(time.monotonic())
        release_read.wait(30)
        return real_read(source, progress=progress, cancel=cancel)

    monkeypatch.setattr(DatabaseCaseSource, "read", slow_read)
    with db.transaction() as session:
        record_decision(session, recorded, Outcome.ELIGIBLE, reviewer="Dr Day")
    for _ in range(3):
        win.refresh_action.trigger()
    gap_s = Heartbeat().run(qtbot, 0.6)
    assert len(reads) == 1 and win.database_busy
    assert gap_s < MAX_HEARTBEAT_GAP_S, f"event loop blocked {gap_s:.3f} s while reading"
    assert win.worklist.screening_status_of(key) == "pending"  # not read yet
    release_read.set()
    qtbot.waitUntil(lambda: not win.database_busy, timeout=DATABASE_TIMEOUT_MS)
    assert len(reads) == 2
    assert win.worklist.screening_status_of(key) == "eligible"
    assert win.last_error is None
    win.close()


def test_closing_the_window_while_the_database_opens_leaves_nothing_open(
    qtbot: QtBot, settings: AppSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Database] = []
    disposed: list[Database] = []
    real_open_database = database_worklist.open_database
    real_dispose = Database.dispose

    def tracked_open(url: str | None, **kwargs: bool) -> Database:
        db = real_open_database(url, **kwargs)
        opened.append(db)
        return db

    def tracked_dispose(db: Database) -> None:
        disposed.append(db)
        real_dispose(db)

    monkeypatch.setattr(database_worklist, "open_database", tracked_open)
    monkeypatch.setattr(Database, "dispose", tracked_dispose)
    gate = [threading.Event()]  # a new one per window
    real_open = main_window.open_worklist

    def slow_open(
        url: str | None, *, progress: ProgressFn, cancel: threading.Event
    ) -> OpenedWorklist | None:
        gate[0].wait(30)
        return real_open(url, progress=progress, cancel=cancel)

    monkeypatch.setattr(main_window, "open_worklist", slow_open)

    # closed while the open waits: the task is cancelled, the window closes without error
    win = show_main_window(qtbot, settings)
    assert win.database_busy
    threading.Timer(0.3, gate[0].set).start()
    win.close()
    qtbot.waitUntil(lambda: not win.tasks.running, timeout=DATABASE_TIMEOUT_MS)
    assert win.database_source is None and win.last_error is None
    assert all(db in disposed for db in opened)  # none, unless it opened before the cancel

    # the database opened, its result not yet delivered when the window closes
    gate[0] = threading.Event()
    late = show_main_window(qtbot, settings)
    gate[0].set()
    assert QThreadPool.globalInstance().waitForDone(DATABASE_TIMEOUT_MS)  # done, undelivered
    assert late.database_busy and opened
    late.close()
    qtbot.waitUntil(lambda: not late.tasks.running, timeout=DATABASE_TIMEOUT_MS)
    assert late.database_source is None
    assert opened and all(db in disposed for db in opened)
