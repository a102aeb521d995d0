"""The worklist of the screening database: every recorded case, merged with the folders
opened in this session, and re-importing a recorded case from its recorded folder.

Opening a database and reading its cases (`open_worklist`, `DatabaseCaseSource.read`) may take
seconds on a server, so they run in any thread, each with a session of its own; merging the
rows read into the entries (`DatabaseCaseSource.apply`) is for the thread that owns the source.
A recorded case is listed under its short pseudonym (never a patient name) with its
screening status, synthetic flag, recorded folder and time of last change. A folder opened in
this session is the same row as a recorded case when it is the recorded folder, or once its
import shows the recorded content hash. Qt-free.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.case import Case, load_case
from app.errors import CaseImportError
from app.progress import ProgressFn, check_cancel
from app.pseudonym import short_pseudonym
from app.storage import (
    Database,
    DatabaseError,
    RecordedCase,
    database_reason,
    open_database,
    recorded_cases,
)
from app.storage.database import default_database_url
from app.worklist import CaseEntry, CaseStatus, FolderCaseSource

log = logging.getLogger(__name__)

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class OpenedWorklist:
    """A screening database opened for the worklist and the cases read from it.

    Attributes:
        db: The open database; whoever takes it disposes of it.
        rows: Its recorded cases, the most recently changed first.
    """

    db: Database
    rows: list[RecordedCase]


def read_recorded_cases(db: Database) -> list[RecordedCase]:
    """Every case recorded in ``db``, the most recently changed first; reads in a session of
    its own, so any thread may call it.

    Raises:
        DatabaseError: if the database cannot be read (the message names it, without its
            password).
    """
    try:
        with db.session() as session:
            return recorded_cases(session)
    except SQLAlchemyError as exc:
        reason = database_reason(exc)
        raise DatabaseError(f"Cannot read the cases of database '{db.url}': {reason}") from exc


def _open_worklist_database(url: str | None) -> Database | None:
    """Open (and migrate) the database at ``url``, creating a missing SQLite file; for None,
    the default database, or None when it is an SQLite file that does not exist yet (nothing
    was screened here)."""
    if url is not None:
        return open_database(url)
    default = default_database_url()
    parsed = make_url(default)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").expanduser()
        if not path.is_file():
            log.info("no screening database at the default place yet")
            return None
    return open_database(default, create=False)


def open_worklist(
    url: str | None, *, progress: ProgressFn, cancel: threading.Event
) -> OpenedWorklist | None:
    """Open (and migrate) the worklist's database and read its cases, for a worker thread: a
    server may take up to its connect timeout to answer.

    Args:
        url: SQLAlchemy URL (a missing SQLite file is created); None for the default
            database (``$NEOADJ_DB_URL``, else the user's SQLite file), which is not created.
        progress: Called with (done, total) of the 2 steps: open, read.
        cancel: Set it to stop; checked between the steps (a connection attempt runs on).

    Returns:
        The database and its cases; None when ``url`` is None and the default SQLite file
        does not exist yet.

    Raises:
        DatabaseError: if the database cannot be opened or read (the message names the URL,
            without its password).
        Cancelled: if ``cancel`` was set; the database opened meanwhile is closed.
    """
    check_cancel(cancel)
    progress(0, 2)
    db = _open_worklist_database(url)
    if db is None:
        return None
    try:
        check_cancel(cancel)
        progress(1, 2)
        rows = read_recorded_cases(db)
        check_cancel(cancel)
    except BaseException:
        db.dispose()
        raise
    progress(2, 2)
    return OpenedWorklist(db, rows)


class DatabaseCaseSource(FolderCaseSource):
    """The cases of a screening database and the folders opened in this session.

    `entries` lists the recorded cases first, the most recently changed first, then the
    folders opened in this session that are not recorded, oldest first. The database is read
    by `read` (any thread) and its rows merged in by `apply`, never behind the caller's back;
    `open_worklist` opens the database and reads its first rows.

    Attributes:
        db: The open screening database.
    """

    def __init__(self, db: Database) -> None:
        """A worklist over ``db``, empty until rows are applied; reads nothing."""
        super().__init__()
        self.db = db

    def read(self, *, progress: ProgressFn, cancel: threading.Event) -> list[RecordedCase]:
        """Read the database's cases without touching the entries (any thread; see `apply`).

        Args:
            progress: Called with (0, 1) before and (1, 1) after the one query.
            cancel: Set it to stop; checked before the query.

        Raises:
            DatabaseError: if the database cannot be read.
            Cancelled: if ``cancel`` was set.
        """
        check_cancel(cancel)
        progress(0, 1)
        rows = read_recorded_cases(self.db)
        progress(1, 1)
        return rows

    def apply(self, rows: Iterable[RecordedCase]) -> None:
        """Merge recorded cases (statuses, new cases) into the entries, as `read` returned
        them; in the thread that owns the source."""
        imported = {
            e.content_sha256: e
            for e in self._entries.values()
            if e.content_sha256 is not None and e.status is not CaseStatus.NOT_LOADED
        }
        count = 0
        for row in rows:
            self._merge(row, imported.get(row.content_sha256))
            count += 1
        log.debug("worklist merged %d recorded cases", count)

    def _merge(self, row: RecordedCase, twin: CaseEntry | None) -> None:
        """Put ``row`` on its entry: the session's twin (same imported content) if any, else
        the entry of its recorded folder, made when first seen."""
        key = self.key_for([row.folder]) if row.folder is not None else f"record:{row.record_id}"
        listed = self._entries.get(key)
        if twin is not None and twin.key != key:
            if listed is not None and listed.status is CaseStatus.NOT_LOADED:
                del self._entries[key]  # the same case, opened from another folder
            entry = twin
        elif listed is not None:
            entry = listed
        else:
            label = short_pseudonym(row.pseudonym) if row.pseudonym else f"record {row.record_id}"
            entry = CaseEntry(
                key=key, paths=(row.folder,) if row.folder is not None else (), label=label
            )
            self._entries[key] = entry
        entry.record_id = row.record_id
        entry.screening_status = row.status.value
        entry.synthetic = row.synthetic
        entry.content_sha256 = row.content_sha256
        entry.changed_at = row.updated_at

    def entries(self) -> list[CaseEntry]:
        """Recorded cases (most recently changed first), then unrecorded folders (oldest first)."""
        recorded = [e for e in self._entries.values() if e.record_id is not None]
        recorded.sort(key=lambda e: (e.changed_at or _NEVER, e.record_id or 0), reverse=True)
        return recorded + [e for e in self._entries.values() if e.record_id is None]

    def dispose(self) -> None:
        """Close the database's connections."""
        self.db.dispose()


def load_recorded_case(
    paths: Sequence[Path],
    content_sha256: str,
    label: str,
    *,
    progress: ProgressFn,
    cancel: threading.Event,
) -> Case:
    """Import a recorded case from its recorded folder and check it is still what was recorded.

    Args:
        paths: The recorded case folder (or the paths the case was opened from).
        content_sha256: The content hash recorded for the case.
        label: The case's worklist label (its short pseudonym), for messages.
        progress: Called with (done, total) files.
        cancel: Set it to stop.

    Raises:
        CaseImportError: if no folder is recorded, the folder is missing, or its files'
            content hash is not the recorded one (each message names the folder).
        Cancelled: if ``cancel`` was set.
    """
    if not paths:
        raise CaseImportError(
            f"No case folder is recorded for case {label} (recorded from loose files, or "
            "before folders were kept); import its files with File > Import case...."
        )
    shown = ", ".join(f"'{p}'" for p in paths)
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise CaseImportError(
            f"The case folder '{missing[0]}' recorded for case {label} is missing (moved or "
            "deleted?); import the case from where it is now with File > Import case...."
        )
    case = load_case(paths, progress=progress, cancel=cancel)
    if case.content_hash != content_sha256:
        raise CaseImportError(
            f"The files in {shown} no longer match case {label} as recorded in the screening "
            "database (files were added, removed or changed since it was recorded); it was "
            "not opened."
        )
    return case
