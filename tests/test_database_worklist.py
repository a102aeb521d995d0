"""DatabaseCaseSource: the screening database's cases in the worklist, merged with the folders
opened in this session; re-importing a recorded case from its recorded folder."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from app.case import load_case
from app.database_worklist import (
    DatabaseCaseSource,
    load_recorded_case,
    open_worklist,
    read_recorded_cases,
)
from app.errors import Cancelled, CaseImportError, ScreeningError
from app.progress import no_progress
from app.pseudonym import SiteSecret, pseudonymise
from app.storage import (
    DB_URL_ENV,
    Database,
    Outcome,
    RecordedCase,
    record_decision,
    record_import,
    record_imports,
)
from app.worklist import CaseStatus, FolderCaseSource
from tests.storage_fixtures import eligible_clinical, make_case, screened_case


def _case_folder(root: Path, patient_id: str, *, synthetic: bool = True) -> Path:
    """A case folder that `load_case` imports: clinical.json (with the site) and case.json."""
    root.mkdir(parents=True)
    clinical = eligible_clinical(patient_id=patient_id, site="site-1")
    (root / "clinical.json").write_text(json.dumps(clinical.to_dict()))
    (root / "case.json").write_text(json.dumps({"case_id": root.name, "synthetic": synthetic}))
    return root


def _record_folder(db: Database, folder: Path, secret: SiteSecret) -> int:
    with db.transaction() as session:
        return record_import(session, load_case([folder]), secret=secret, actor="test").id


def _open_source(url: str | None) -> DatabaseCaseSource | None:
    """What the window does: `open_worklist`, then a source with the rows read merged in."""
    opened = open_worklist(url, progress=no_progress, cancel=threading.Event())
    if opened is None:
        return None
    source = DatabaseCaseSource(opened.db)
    source.apply(opened.rows)
    return source


def _opened_source(url: str) -> DatabaseCaseSource:
    source = _open_source(url)
    assert source is not None
    return source


def _read_again(source: DatabaseCaseSource) -> None:
    """What the window's Refresh does: read the rows, then merge them in."""
    source.apply(source.read(progress=no_progress, cancel=threading.Event()))


def test_recorded_cases_are_listed_with_status_flag_folder_and_change_time(
    storage_url: str, storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    pending = screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-P")
    decided = screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-E")
    bulk = make_case(tmp_path / "MRN-B", patient_id="MRN-B", contents=(b"bulk mri",))
    real = type(bulk)(bulk.root, bulk.inputs, bulk.clinical, bulk.case_id, synthetic=False)
    with storage_db.transaction() as session:
        (bulk_id,) = record_imports(session, [real], secret=site_secret, actor="test").case_ids
    with storage_db.transaction() as session:
        record_decision(session, decided, Outcome.ELIGIBLE, reviewer="Dr Test")

    source = _opened_source(storage_url)
    try:
        entries = source.entries()
    finally:
        source.dispose()

    # the decision was the last change, the bulk import came after the pending case
    assert [e.record_id for e in entries] == [decided, bulk_id, pending]
    by_id = {e.record_id: e for e in entries}
    assert by_id[pending].screening_status == "pending"
    assert by_id[decided].screening_status == "eligible"
    assert by_id[bulk_id].screening_status == "pending"
    assert by_id[pending].synthetic is True and by_id[bulk_id].synthetic is False
    for entry, patient in ((by_id[pending], "MRN-P"), (by_id[bulk_id], "MRN-B")):
        assert entry.label == pseudonymise(patient, site_secret)[:12]
        assert entry.paths == ((tmp_path / patient).resolve(),)
        assert entry.status is CaseStatus.NOT_LOADED
        assert "MRN" not in entry.label
    changed = [e.changed_at for e in entries]
    assert all(t is not None and t.utcoffset() is not None for t in changed)
    assert changed == sorted(changed, reverse=True)  # type: ignore[type-var]


def test_session_folders_are_merged_and_a_recorded_folder_shows_once(
    storage_url: str, storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    recorded = screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-1")
    source = _opened_source(storage_url)
    try:
        opened = source.add([tmp_path / "elsewhere" / "new-case"])
        same = source.add([tmp_path / "new-case-x" / ".." / "MRN-1"])  # the recorded folder
        entries = source.entries()
        assert [e.key for e in entries] == [same.key, opened.key]
        assert same.record_id == recorded and opened.record_id is None
        assert opened.screening_status is None and opened.label == "case 2"
        _read_again(source)  # reading again changes nothing
        assert [e.key for e in source.entries()] == [same.key, opened.key]
    finally:
        source.dispose()


def test_a_case_opened_from_a_copy_of_its_folder_shows_once_after_its_import(
    storage_url: str, storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    folder = _case_folder(tmp_path / "night" / "case-7", "MRN-7")
    record_id = _record_folder(storage_db, folder, site_secret)
    copy = tmp_path / "usb" / "case-7"
    shutil.copytree(folder, copy)
    source = _opened_source(storage_url)
    try:
        entry = source.add([copy])
        assert len(source.entries()) == 2  # not known to be the same case before its import
        imported = load_case([copy])  # what the window does with the finished import
        entry.status, entry.content_sha256 = CaseStatus.READY, imported.content_hash
        source.update(entry)
        _read_again(source)
        (only,) = source.entries()
        assert only.key == entry.key and only.record_id == record_id
        assert only.screening_status == "pending" and only.status is CaseStatus.READY
    finally:
        source.dispose()


def test_a_recorded_case_is_imported_from_its_folder_and_checked(
    storage_url: str, storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    folder = _case_folder(tmp_path / "case-9", "MRN-9")
    _record_folder(storage_db, folder, site_secret)
    source = _opened_source(storage_url)
    try:
        (entry,) = source.entries()
    finally:
        source.dispose()
    assert entry.content_sha256 is not None

    def load() -> object:
        assert entry.content_sha256 is not None
        return load_recorded_case(
            entry.paths,
            entry.content_sha256,
            entry.label,
            progress=no_progress,
            cancel=threading.Event(),
        )

    case = load()
    assert case.case_id == "case-9"  # type: ignore[attr-defined]

    (folder / "case.json").write_text(json.dumps({"case_id": "case-9", "synthetic": False}))
    with pytest.raises(CaseImportError, match="no longer match") as changed:
        load()
    assert str(folder.resolve()) in changed.value.user_message

    shutil.rmtree(folder)
    with pytest.raises(CaseImportError, match="is missing") as missing:
        load()
    assert str(folder.resolve()) in missing.value.user_message

    with pytest.raises(CaseImportError, match="No case folder is recorded"):
        load_recorded_case(
            (), "0" * 64, entry.label, progress=no_progress, cancel=threading.Event()
        )


@pytest.mark.parametrize(
    ("make_url", "expected"),
    [
        (lambda tmp: "nonsense:/x", "not a database URL"),
        (lambda tmp: f"sqlite:///{tmp / 'a-file.txt' / 'neoadj.db'}", "Cannot open database"),
        (lambda tmp: f"sqlite:///{tmp / 'garbage.db'}", "Cannot open database"),
    ],
    ids=["not-a-url", "folder-is-a-file", "not-a-database"],
)
def test_an_unopenable_database_is_a_clear_error(
    make_url: object, expected: str, tmp_path: Path
) -> None:
    (tmp_path / "a-file.txt").write_text("not a folder")
    (tmp_path / "garbage.db").write_bytes(b"this is not an SQLite database file" * 100)
    assert callable(make_url)
    url = make_url(tmp_path)
    with pytest.raises(ScreeningError, match=expected) as error:
        _open_source(url)
    assert url.split("/")[-1] in error.value.user_message


def test_no_default_database_yet_means_no_database_worklist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'not-yet.db'}"
    monkeypatch.setenv(DB_URL_ENV, url)
    assert _open_source(None) is None
    assert not (tmp_path / "not-yet.db").exists()
    _opened_source(url).dispose()  # the first record creates it
    source = _open_source(None)
    assert source is not None and source.entries() == []
    source.dispose()


def test_another_database_keeps_the_folders_opened_in_this_session(
    storage_url: str, storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-1")
    old = _opened_source(storage_url)
    try:
        opened = old.add([tmp_path / "opened"])
        opened.status = CaseStatus.READY
        recorded_open = old.add([tmp_path / "MRN-1"])
        recorded_open.status = CaseStatus.FAILED
        screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-2")
        _read_again(old)
        assert len(old.entries()) == 3
        folders = FolderCaseSource()
        folders.adopt(old.entries())
    finally:
        old.dispose()
    kept = {e.key: e for e in folders.entries()}
    assert set(kept) == {opened.key, recorded_open.key}  # MRN-2 was never opened here
    assert kept[opened.key].status is CaseStatus.READY
    assert kept[recorded_open.key].record_id is None
    assert kept[recorded_open.key].screening_status is None


def test_the_worklist_opens_and_reads_in_another_thread_and_merges_in_the_owners(
    storage_url: str, storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    """What the window does: open and read in a worker thread, then adopt the session's
    folders and merge the rows read in its own thread."""
    first = screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-1")
    session = FolderCaseSource()  # what the window lists before the database arrives
    opened_here = session.add([tmp_path / "MRN-1"], label="case-1")  # the recorded folder
    opened_here.status = CaseStatus.READY
    results: list[object] = []

    def in_worker() -> None:
        results.append(open_worklist(storage_url, progress=no_progress, cancel=threading.Event()))

    worker = threading.Thread(target=in_worker)
    worker.start()
    worker.join(timeout=60)
    (opened,) = results
    assert opened is not None and not isinstance(opened, Exception)
    assert [row.record_id for row in opened.rows] == [first]
    source = DatabaseCaseSource(opened.db)
    try:
        assert source.entries() == []  # made without reading
        source.adopt(session.entries())
        source.apply(opened.rows)
        (entry,) = source.entries()  # the recorded folder opened in this session shows once
        assert entry.key == opened_here.key and entry.record_id == first
        assert entry.status is CaseStatus.READY and entry.label == "case-1"

        second = screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-2")
        read: list[list[RecordedCase]] = []
        reader = threading.Thread(
            target=lambda: read.append(source.read(progress=no_progress, cancel=threading.Event()))
        )
        reader.start()
        reader.join(timeout=60)
        assert [e.record_id for e in source.entries()] == [first]  # read changes nothing
        (rows,) = read
        assert {row.record_id for row in rows} == {first, second}
        source.apply(rows)
        assert [e.record_id for e in source.entries()] == [second, first]
        assert read_recorded_cases(storage_db) == rows
    finally:
        source.dispose()


def test_opening_the_worklist_stops_when_cancelled_and_closes_what_it_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'screening.db'}"
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        open_worklist(url, progress=no_progress, cancel=cancel)
    assert not (tmp_path / "screening.db").exists()  # stopped before opening

    disposed: list[Database] = []
    dispose = Database.dispose

    def spy(db: Database) -> None:
        disposed.append(db)
        dispose(db)

    monkeypatch.setattr(Database, "dispose", spy)
    steps: list[tuple[int, int]] = []
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        steps.append((done, total))
        if done == 1:  # the database is open: the user cancels now
            cancel.set()

    with pytest.raises(Cancelled):
        open_worklist(url, progress=progress, cancel=cancel)
    assert steps == [(0, 2), (1, 2)]
    assert len(disposed) == 1 and str(tmp_path / "screening.db") in disposed[0].url


def test_opening_the_worklist_without_a_default_database_gives_none_and_bad_urls_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_URL_ENV, f"sqlite:///{tmp_path / 'not-yet.db'}")
    assert open_worklist(None, progress=no_progress, cancel=threading.Event()) is None
    assert not (tmp_path / "not-yet.db").exists()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database file" * 100)
    with pytest.raises(ScreeningError, match="Cannot open database") as error:
        open_worklist(f"sqlite:///{garbage}", progress=no_progress, cancel=threading.Event())
    assert "garbage.db" in error.value.user_message
