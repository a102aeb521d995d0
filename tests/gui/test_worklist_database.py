"""The window's worklist over the screening database: recorded cases with their status, opened
by double-click from their recorded folder; a missing folder and an unopenable database give
readable messages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.case import load_case
from app.pseudonym import SiteSecret, pseudonymise
from app.storage import Database, Outcome, open_database, record_decision, record_import
from app.synth.cohort import generate_demo
from app.worklist import CaseStatus
from tests.gui.conftest import assert_not_blank, grab_widget, save_screenshot, show_main_window
from tests.storage_fixtures import make_case, screened_case
from widgets.main_window import MainWindow
from widgets.settings import AppSettings
from widgets.worklist_widget import COLUMNS

pytestmark = pytest.mark.gui

IMPORT_TIMEOUT_MS = 90_000
SECRET = SiteSecret(bytes(range(32)))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic demo case (small slide to stay fast)."""
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out / "demo", slide_size_px=2048)
    return out / "demo"


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

    win = show_main_window(qtbot, settings)
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
    win.refresh_action.trigger()
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
    win = show_main_window(qtbot, settings)
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
    broken = show_main_window(qtbot, settings)
    qtbot.waitUntil(lambda: broken.last_error is not None, timeout=5_000)
    assert broken.last_error is not None
    assert "garbage.db" in broken.last_error.text()
    assert "folders opened in this session" in broken.last_error.text()
    folder = tmp_path / "session-case"
    folder.mkdir()
    task = broken.open_case([folder])  # the folder worklist still works
    assert task is not None and broken.worklist.rowCount() == 1
    qtbot.waitUntil(lambda: task not in broken.tasks.running, timeout=10_000)
    broken.close()
