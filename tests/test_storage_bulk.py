"""`insert_rows` stores what Core's ``executemany`` stores (raw values read back through the
driver), refuses rows it cannot complete; a cohort's case events are the canonical JSON of
their values even for awkward input paths; input paths are made relative as pathlib does."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import DBAPIError

from app.pseudonym import SiteSecret
from app.storage import AuditEvent, Database, record_imports, verify_chain
from app.storage.audit import GENESIS_HASH, canonical_json
from app.storage.bulk import insert_rows
from app.storage.models import Base, CaseStatus
from app.storage.screening import relative_input_path
from tests.storage_fixtures import FakeCase, FakeInput, eligible_clinical

CASES = Base.metadata.tables["screening_case"]
SITES = Base.metadata.tables["site"]
PER_ROW = ("id", "content_sha256", "pseudonym", "site_code", "synthetic", "status", "created_at")
SHARED = {
    "failure_message": None,
    "bclc_stage": "B",
    "updated_at": datetime(2025, 6, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    "updated_by": "Dr É",
    "version": 1,
}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _case_rows(first_id: int) -> list[tuple[object, ...]]:
    """Three rows that vary every per-row type: bool, enum, nullable text, aware timestamps."""
    return [
        (
            first_id + n,
            _sha(f"case {first_id + n}"),
            None if n == 1 else _sha(f"patient {n}"),
            "C1",
            n % 2 == 0,
            (CaseStatus.PENDING, CaseStatus.FAILED, CaseStatus.SCREEN_FAILURE)[n],
            datetime(2025, 6, 1, 12, n, 5, 123456 * n, tzinfo=UTC),
        )
        for n in range(3)
    ]


def _raw_cases(conn: Connection, ids: range) -> list[tuple[object, ...]]:
    """The stored values as the driver returns them (SQLite: the text itself), without id and
    content hash."""
    columns = ", ".join(c.name for c in CASES.c if c.name not in ("id", "content_sha256"))
    result = conn.exec_driver_sql(f"SELECT {columns} FROM screening_case ORDER BY id")
    return [tuple(row) for row in result][ids.start - 1 : ids.stop - 1]


def test_insert_rows_stores_what_core_executemany_stores(storage_db: Database) -> None:
    with storage_db.transaction() as session:
        conn = session.connection()
        registered = datetime(2025, 5, 31, 23, 59, 59, 999999, tzinfo=UTC)
        conn.execute(
            insert(SITES),
            [{"code": "C1", "secret_fingerprint": "f" * 16, "registered_at": registered}],
        )
        core_rows = [dict(zip(PER_ROW, row, strict=True)) | SHARED for row in _case_rows(1)]
        conn.execute(insert(CASES), core_rows)
        insert_rows(conn, CASES, PER_ROW, _case_rows(4), SHARED)
    with storage_db.engine.connect() as conn:
        core, ours = _raw_cases(conn, range(1, 4)), _raw_cases(conn, range(4, 7))
        hashes = list(conn.scalars(select(CASES.c.content_sha256).order_by(CASES.c.id)))
    assert ours == core
    assert hashes == [_sha(f"case {n}") for n in range(1, 7)]


def test_insert_rows_refuses_rows_it_cannot_complete(storage_db: Database) -> None:
    with storage_db.transaction() as session:
        conn = session.connection()
        with pytest.raises(ValueError, match="needs 2 values"):
            insert_rows(conn, SITES, ("code", "secret_fingerprint"), [("C1", "f" * 16), ("C2",)])
        with pytest.raises(ValueError, match="registered_at"):  # a default Core would fill in
            insert_rows(conn, SITES, ("code", "secret_fingerprint"), [("C1", "f" * 16)])
        insert_rows(conn, SITES, ("code",), [], {"secret_fingerprint": "f" * 16})
        assert conn.scalar(select(func.count()).select_from(SITES)) == 0


def test_a_row_the_database_refuses_is_a_sqlalchemy_error_and_nothing_is_stored(
    storage_db: Database,
) -> None:
    """The audit trigger refuses an event that does not extend the chain; on PostgreSQL the
    rows go by COPY, whose error must still reach callers as SQLAlchemy's (rolled back)."""
    events = Base.metadata.tables["audit_event"]
    columns = ("seq", "occurred_at", "actor", "action", "entity", "entity_id", "prev_hash", "hash")
    at = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    good = (1, at, "import", "create", "site", "C1", GENESIS_HASH, _sha("event 1"))
    forked = (2, at, "import", "create", "site", "C2", _sha("not event 1"), _sha("event 2"))
    with (
        pytest.raises(DBAPIError, match="must extend the chain head"),
        storage_db.transaction() as session,
    ):
        insert_rows(session.connection(), events, columns, [good, forked])
    with storage_db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(events)) == 0


AWKWARD_NAMES = (
    'é "quoted" \\ back.dcm',
    "tab\tnew\nline.svs",
    "emoji 🧬 ☢.vcf",
    "ctrl\x01\x1f.bin",
)


def test_a_cohort_logs_the_canonical_json_of_awkward_input_paths(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    root = tmp_path / "case 1"
    inputs = [
        FakeInput(root / "sub dir" / name, _sha(name), 10 + n, ("mri", "slide", "vcf", "x ü")[n])
        for n, name in enumerate(AWKWARD_NAMES)
    ]
    case = FakeCase(root, inputs, eligible_clinical(patient_id="MRN-1", site="C1"), "case 1")
    with storage_db.transaction() as session:
        (case_id,) = record_imports(session, [case], secret=site_secret, actor="import").case_ids
    with storage_db.session() as session:
        stored = session.scalar(
            select(AuditEvent.new_value).where(
                AuditEvent.entity == "case", AuditEvent.entity_id == str(case_id)
            )
        )
        assert verify_chain(session).ok
    assert stored is not None
    logged = json.loads(stored)
    expected_inputs = [
        {
            "path": f.path.relative_to(root).as_posix(),
            "kind": f.kind,
            "sha256": f.sha256,
            "size": f.size_bytes,
        }
        for f in inputs
    ]
    assert logged["inputs"] == expected_inputs
    assert stored == canonical_json(logged)  # sorted keys, compact, no ASCII escaping


@pytest.mark.parametrize(
    ("path", "root"),
    [
        ("/data/c1/mri/IM0001.dcm", "/data/c1"),
        ("/data/c1/slide.svs", "/data/c1/"),
        ("c1/mri/a b/IM1.dcm", "c1"),
        ("/data/c10/slide.svs", "/data/c1"),  # a sibling folder whose name starts alike
        ("/elsewhere/slide.svs", "/data/c1"),
        ("/data/c1/../c2/slide.svs", "/data/c1"),
    ],
)
def test_input_paths_are_relative_to_the_case_folder_as_pathlib_makes_them(
    path: str, root: str
) -> None:
    p, r = Path(path), Path(root)
    expected = p.relative_to(r).as_posix() if p.is_relative_to(r) else p.name
    assert relative_input_path(p, r) == expected
    assert relative_input_path(p, None) == p.name
