"""`record_imports`: a cohort in one transaction writes what `record_import` writes case by case;
the chain verifies (also with single appends before and after), tampering is caught, a re-run
is idempotent, and bad input is refused before anything is written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app.cli import main
from app.pseudonym import SiteSecret, SiteSecretError
from app.storage import (
    AuditEvent,
    CaseStatus,
    Database,
    RecordError,
    ScreeningCase,
    open_database,
    record_decision,
    record_failure,
    record_import,
    record_imports,
    verify_chain,
)
from app.storage.models import Base, InputFileRecord, Site
from tests.storage_fixtures import BACKENDS, FakeCase, make_case, postgres_base_url

ACTOR = "neoadj import"
TABLES = ("site", "screening_case", "input_file", "audit_event")
TIMES_AND_HASHES = {"registered_at", "created_at", "updated_at", "occurred_at", "hash", "prev_hash"}
"""Columns that differ between two runs of the same import (clock) and what follows from it."""


@pytest.fixture(params=BACKENDS)
def twin_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    """Two fresh, migrated databases of the parametrised backend."""
    if request.param == "sqlite":
        dbs = [open_database(f"sqlite:///{tmp_path / f'{n}.db'}") for n in ("a", "b")]
        yield dbs[0], dbs[1]
        for db in dbs:
            db.dispose()
        return
    base = postgres_base_url()
    admin = create_engine(base)
    schemas = [f"test_{uuid.uuid4().hex[:16]}" for _ in range(2)]
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    urls = [
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
        for schema in schemas
    ]
    dbs = [open_database(url) for url in urls]
    try:
        yield dbs[0], dbs[1]
    finally:
        for db in dbs:
            db.dispose()
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _cohort(
    root: Path, count: int, *, sites: tuple[str, ...] = ("site-1", "site-2")
) -> list[FakeCase]:
    """``count`` cases with distinct files, spread over ``sites`` in turn."""
    return [
        make_case(
            root / f"case-{n}",
            patient_id=f"MRN-{n:04d}",
            site=sites[n % len(sites)],
            contents=(f"mri {n}".encode(), f"slide {n}".encode(), f"vcf {n}".encode()),
        )
        for n in range(count)
    ]


def _rows(db: Database) -> dict[str, list[dict[str, object]]]:
    """Every row of the import tables in key order, without clock-dependent columns."""
    rows: dict[str, list[dict[str, object]]] = {}
    with db.engine.connect() as conn:
        for name in TABLES:
            table = Base.metadata.tables[name]
            rows[name] = [
                {k: v for k, v in r._mapping.items() if k not in TIMES_AND_HASHES}
                for r in conn.execute(select(table).order_by(*table.primary_key))
            ]
    return rows


def _count(db: Database, model: type) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_cohort_writes_the_rows_the_per_case_path_writes(
    twin_dbs: tuple[Database, Database], site_secret: SiteSecret, tmp_path: Path
) -> None:
    per_case_db, bulk_db = twin_dbs
    cases = _cohort(tmp_path, 7)
    with per_case_db.transaction() as session:
        expected_ids = [
            record_import(session, c, secret=site_secret, actor=ACTOR).id for c in cases
        ]
    with bulk_db.transaction() as session:
        result = record_imports(session, cases, secret=site_secret, actor=ACTOR)
    assert list(result.case_ids) == expected_ids
    assert (result.created, result.completed, result.unchanged) == (7, 0, 0)
    expected, got = _rows(per_case_db), _rows(bulk_db)
    assert len(got["site"]) == 2
    assert len(got["input_file"]) == 21
    assert len(got["audit_event"]) == 9  # two sites, seven cases
    assert got == expected
    for db in twin_dbs:
        with db.session() as session:
            assert verify_chain(session).ok


def test_the_chain_verifies_with_single_appends_before_and_after(
    storage_db: Database, storage_url: str, site_secret: SiteSecret, tmp_path: Path
) -> None:
    first, *cohort = _cohort(tmp_path, 6)
    with storage_db.transaction() as session:
        record_import(session, first, secret=site_secret, actor=ACTOR)
    with storage_db.transaction() as session:
        result = record_imports(session, cohort, secret=site_secret, actor=ACTOR)
    with storage_db.transaction() as session:
        record_decision(session, result.case_ids[0], "deferred", reviewer="Dr A", rationale="MDT")
    with storage_db.session() as session:
        report = verify_chain(session)
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert report.ok, report.problems
    assert seqs == list(range(1, len(seqs) + 1))
    assert report.events_checked == len(seqs)
    assert main(["audit", "verify", "--db", storage_url]) == 0


def test_tampering_after_a_cohort_import_is_caught(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    with storage_db.transaction() as session:
        record_imports(session, _cohort(tmp_path, 5), secret=site_secret, actor=ACTOR)
    with storage_db.session() as session:
        target = session.scalars(
            select(AuditEvent.seq).where(AuditEvent.entity == "case").order_by(AuditEvent.seq)
        ).all()[2]
    with storage_db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_event_append_only_update"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))
        conn.execute(
            text("UPDATE audit_event SET actor = 'Dr Nobody' WHERE seq = :k"), {"k": target}
        )
    with storage_db.session() as session:
        report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_seq == target
    assert f"Event #{target} was altered" in report.problems[0]


def test_reimporting_a_cohort_changes_nothing_and_completes_failed_cases(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    cases = _cohort(tmp_path, 4)
    with storage_db.transaction() as session:
        failed = record_failure(
            session, content_sha256=cases[3].content_hash, message="unreadable", actor=ACTOR
        )
        failed_id = failed.id
    with storage_db.transaction() as session:
        first = record_imports(session, cases[:3], secret=site_secret, actor=ACTOR)
    events = _count(storage_db, AuditEvent)
    with storage_db.transaction() as session:
        again = record_imports(session, cases, secret=site_secret, actor=ACTOR)
    assert again.case_ids == (*first.case_ids, failed_id)
    assert (again.created, again.completed, again.unchanged) == (0, 1, 3)
    assert _count(storage_db, ScreeningCase) == 4
    assert _count(storage_db, InputFileRecord) == 12
    assert _count(storage_db, AuditEvent) == events + 1  # the completed case's "update"
    with storage_db.session() as session:
        completed = session.get(ScreeningCase, failed_id)
        assert completed is not None
        assert completed.status is CaseStatus.PENDING
        assert len(completed.inputs) == 3
        assert verify_chain(session).ok
    with storage_db.transaction() as session:
        third = record_imports(session, cases, secret=site_secret, actor=ACTOR)
    assert (third.created, third.completed, third.unchanged) == (0, 0, 4)
    assert _count(storage_db, AuditEvent) == events + 1


def test_an_empty_cohort_writes_nothing(storage_db: Database, site_secret: SiteSecret) -> None:
    with storage_db.transaction() as session:
        result = record_imports(session, [], secret=site_secret, actor=ACTOR)
    assert result.case_ids == ()
    assert _count(storage_db, AuditEvent) == 0


def _bad(cases: list[FakeCase], kind: str, root: Path) -> list[FakeCase]:
    if kind == "duplicate":
        return [*cases, replace(cases[1], case_id="again")]
    if kind == "no_site":
        assert cases[2].clinical is not None
        return [*cases[:2], replace(cases[2], clinical=replace(cases[2].clinical, site=None))]
    if kind == "bad_site_code":
        assert cases[2].clinical is not None
        return [*cases[:2], replace(cases[2], clinical=replace(cases[2].clinical, site="C 1"))]
    if kind == "no_inputs":
        return [*cases[:2], replace(cases[2], inputs=[])]
    if kind == "bad_sha256":
        bad = replace(cases[2].inputs[0], sha256="XYZ")
        return [*cases[:2], replace(cases[2], inputs=[bad, *cases[2].inputs[1:]])]
    if kind == "same_path_twice":
        return [*cases[:2], replace(cases[2], inputs=[cases[2].inputs[0], cases[2].inputs[0]])]
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("duplicate", "Cases #2 and #4 of the cohort have the same inputs"),
        ("no_site", "Case #3 of the cohort has no site"),
        ("bad_site_code", "Site code 'C 1' must be"),
        ("no_inputs", "Case #3 of the cohort has no inputs"),
        ("bad_sha256", "input 'mri/file0.bin' of case #3 of the cohort is not 64"),
        ("same_path_twice", "Case #3 of the cohort lists an input path twice"),
    ],
)
def test_bad_input_is_refused_by_name_before_anything_is_written(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path, kind: str, words: str
) -> None:
    cases = _bad(_cohort(tmp_path, 3), kind, tmp_path)
    with pytest.raises(RecordError, match=words) as caught, storage_db.transaction() as session:
        record_imports(session, cases, secret=site_secret, actor=ACTOR)
    assert "MRN-" not in caught.value.user_message
    assert _count(storage_db, ScreeningCase) == 0
    assert _count(storage_db, AuditEvent) == 0


def test_a_site_registered_with_another_secret_is_refused(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    other = SiteSecret(bytes(range(1, 33)))
    with storage_db.transaction() as session:
        record_import(session, make_case(tmp_path / "first"), secret=other, actor=ACTOR)
    with (
        pytest.raises(SiteSecretError, match="site 'site-1'"),
        storage_db.transaction() as session,
    ):
        record_imports(session, _cohort(tmp_path, 3), secret=site_secret, actor=ACTOR)
    assert _count(storage_db, ScreeningCase) == 1
    assert _count(storage_db, Site) == 1
