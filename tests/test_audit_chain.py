"""The audit trail: every change is an event, the chain verifies, the database refuses edits,
and tampering by someone who drops the triggers first is detected."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.exc import DBAPIError

from app.pseudonym import SiteSecret
from app.storage import (
    ArtefactInput,
    AuditEvent,
    Database,
    randomise,
    record_decision,
    record_event,
    record_explanation,
    verify_chain,
)
from app.storage.audit import GENESIS_HASH, EventDraft, append_events
from app.storage.models import AuditHead
from tests.storage_fixtures import POSTGRES_ONLY, screened_case


def _workflow(db: Database, root: Path, secret: SiteSecret) -> int:
    """Screen, explain, decide and randomise one case, defer another; returns the first id."""
    case_id = screened_case(db, root, secret, patient_id="MRN-A")
    with db.transaction() as session:
        record_explanation(
            session, case_id, [ArtefactInput("mri_saliency", "ig.npy", "1" * 64)], actor="Dr A"
        )
        record_decision(session, case_id, "eligible", reviewer="Dr A")
    other = screened_case(db, root, secret, patient_id="MRN-B")
    with db.transaction() as session:
        record_decision(session, other, "deferred", reviewer="Dr B", rationale="awaiting biopsy")
    randomise(db, case_id, reviewer="Dr A", secret=secret)
    return case_id


def _events(db: Database) -> list[AuditEvent]:
    with db.session() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _expected_hash(event: AuditEvent) -> str:
    """The documented hash, recomputed here from the stored columns."""
    content = {
        name: getattr(event, name)
        for name in (
            "seq",
            "actor",
            "action",
            "entity",
            "entity_id",
            "case_id",
            "field",
            "old_value",
            "new_value",
            "reason",
            "prev_hash",
        )
    }
    content["occurred_at"] = event.occurred_at.isoformat()
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_every_change_is_a_linked_event_with_who_what_and_why(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case_id = _workflow(storage_db, tmp_path, site_secret)
    events = _events(storage_db)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    prev = GENESIS_HASH
    for event in events:
        assert event.prev_hash == prev
        assert event.hash == _expected_hash(event)
        assert event.actor and event.occurred_at.tzinfo is not None
        prev = event.hash
    mine = [(e.entity, e.action, e.actor) for e in events if e.case_id == case_id]
    assert mine == [
        ("case", "create", "neoadj screen"),
        ("prediction", "create", "neoadj screen"),
        ("criteria", "create", "neoadj screen"),
        ("case", "update", "neoadj screen"),  # BCLC stage computed
        ("saliency_artefacts", "create", "Dr A"),
        ("decision", "create", "Dr A"),
        ("allocation", "create", "Dr A"),
    ]
    deferral = next(e for e in events if e.reason == "awaiting biopsy")
    assert (deferral.old_value, json.loads(deferral.new_value or "")["outcome"]) == (
        '"pending"',
        "deferred",
    )
    with storage_db.session() as session:
        report = verify_chain(session)
        assert report.ok, report.problems
        assert (report.events_checked, report.head_hash) == (len(events), events[-1].hash)
        head = session.get(AuditHead, 1)
        assert head is not None and (head.seq, head.hash) == (events[-1].seq, events[-1].hash)


AWKWARD_TEXT = 'quote " backslash \\ newline\n tab\t bell\x07 é ✓ 🧬 \u2028 </script>'


def test_events_with_awkward_text_hash_as_documented_one_by_one_and_in_bulk(
    storage_db: Database,
) -> None:
    new = {"note": AWKWARD_TEXT, "n": [1, 2.5, None, True], "z": {"b": 1, "a": "x"}}
    with storage_db.transaction() as session:
        record_event(
            session,
            actor=AWKWARD_TEXT,
            action="update",
            entity="site",
            entity_id=AWKWARD_TEXT,
            field="code",
            old=AWKWARD_TEXT,
            new=new,
            reason=AWKWARD_TEXT,
        )
        append_events(
            session,
            [
                EventDraft("Dr É", "create", "site", "C1", new=new, reason=AWKWARD_TEXT),
                EventDraft(AWKWARD_TEXT, "update", "site", "C1", field="x", old=1, new=None),
            ],
        )
    events = _events(storage_db)
    assert len(events) == 3
    for event in events:
        assert event.hash == _expected_hash(event)
    assert json.loads(events[1].new_value or "") == new
    with storage_db.session() as session:
        assert not verify_chain(session).problems


def test_an_empty_trail_verifies(storage_db: Database) -> None:
    with storage_db.session() as session:
        report = verify_chain(session)
    assert report.ok and (report.events_checked, report.head_hash) == (0, GENESIS_HASH)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_event SET reason = 'edited'", "DELETE FROM audit_event WHERE seq = 2"],
)
def test_the_database_refuses_to_change_events(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path, statement: str
) -> None:
    _workflow(storage_db, tmp_path, site_secret)
    with pytest.raises(DBAPIError, match="append-only"), storage_db.engine.begin() as conn:
        conn.execute(text(statement))
    with storage_db.session() as session:
        assert verify_chain(session).ok


def test_the_database_refuses_changed_decisions(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    _workflow(storage_db, tmp_path, site_secret)
    for statement in ("UPDATE decision SET outcome = 'screen_failure'", "DELETE FROM decision"):
        with pytest.raises(DBAPIError, match="append-only"), storage_db.engine.begin() as conn:
            conn.execute(text(statement))


@pytest.mark.parametrize("storage_url", [POSTGRES_ONLY], indirect=True)
def test_postgresql_also_refuses_truncate_and_replica_mode(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    _workflow(storage_db, tmp_path, site_secret)
    with pytest.raises(DBAPIError, match="append-only"), storage_db.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_event CASCADE"))
    with pytest.raises(DBAPIError, match="append-only"), storage_db.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("DELETE FROM audit_event"))


def test_the_database_refuses_an_event_that_does_not_extend_the_chain(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    _workflow(storage_db, tmp_path, site_secret)
    last = _events(storage_db)[-1]
    forged = {**_row(last), "seq": last.seq + 1, "prev_hash": "f" * 64, "hash": "e" * 64}
    with pytest.raises(DBAPIError, match="extend the chain"), storage_db.engine.begin() as conn:
        conn.execute(insert(AuditEvent), forged)


def _row(event: AuditEvent) -> dict[str, object]:
    return {c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns}


def _drop_guards(conn: Connection) -> None:
    """What an attacker with database access does first."""
    if conn.dialect.name == "sqlite":
        for name in (
            "audit_event_append_only_update",
            "audit_event_append_only_delete",
            "audit_event_extends_chain",
            "audit_event_moves_head",
        ):
            conn.execute(text(f"DROP TRIGGER {name}"))
    else:
        conn.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))
        conn.execute(text("DROP TRIGGER audit_event_extends_chain ON audit_event"))


def _tamper(db: Database, scenario: str) -> tuple[int | None, str]:
    """Tamper as described; returns the seq verify must name first, and words of its message."""
    events = _events(db)
    decision = next(e for e in events if e.entity == "decision")
    last = events[-1]
    with db.engine.begin() as conn:
        _drop_guards(conn)
        k = decision.seq
        if scenario == "edit":
            conn.execute(
                text("UPDATE audit_event SET reason = 'approved by phone' WHERE seq = :k"), {"k": k}
            )
            return k, f"Event #{k} was altered"
        if scenario == "edit_and_rehash":
            decision.reason = "approved by phone"
            conn.execute(
                text("UPDATE audit_event SET reason = :r, hash = :h WHERE seq = :k"),
                {"r": decision.reason, "h": _expected_hash(decision), "k": k},
            )
            return k + 1, f"Event #{k + 1} does not follow event #{k}"
        if scenario == "delete_middle":
            conn.execute(text("DELETE FROM audit_event WHERE seq = :k"), {"k": k})
            return k, f"Event #{k} is missing"
        if scenario == "delete_last":
            conn.execute(text("DELETE FROM audit_event WHERE seq = :k"), {"k": last.seq})
            return last.seq, "newest events were deleted"
        if scenario == "delete_last_and_rewind_head":
            previous = events[-2]
            conn.execute(text("DELETE FROM audit_event WHERE seq = :k"), {"k": last.seq})
            conn.execute(
                text("UPDATE audit_head SET seq = :s, hash = :h"),
                {"s": previous.seq, "h": previous.hash},
            )
            return None, "Allocation 1 has no creation event"
        if scenario == "reorder":
            conn.execute(text("UPDATE audit_event SET seq = -1 WHERE seq = 3"))
            conn.execute(text("UPDATE audit_event SET seq = 3 WHERE seq = 4"))
            conn.execute(text("UPDATE audit_event SET seq = 4 WHERE seq = -1"))
            return 3, "Event #3 does not follow event #2"
        if scenario == "insert":
            forged = {**_row(last), "seq": last.seq + 1, "prev_hash": last.hash, "hash": "e" * 64}
            forged["actor"] = "Dr Nobody"
            conn.execute(insert(AuditEvent), forged)
            return last.seq + 1, f"Event #{last.seq + 1} was altered"
    raise AssertionError(scenario)


@pytest.mark.parametrize(
    "scenario",
    [
        "edit",
        "edit_and_rehash",
        "delete_middle",
        "delete_last",
        "delete_last_and_rewind_head",
        "reorder",
        "insert",
    ],
)
def test_tampering_with_the_trail_is_detected(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path, scenario: str
) -> None:
    _workflow(storage_db, tmp_path, site_secret)
    first_bad, words = _tamper(storage_db, scenario)
    with storage_db.session() as session:
        report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_seq == first_bad
    assert words in report.problems[0]
    assert any("trigger 'audit_event_append_only" in p for p in report.problems)


def test_a_disabled_guard_is_reported(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    _workflow(storage_db, tmp_path, site_secret)
    with storage_db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER decision_append_only_delete"))
            name = "decision_append_only_delete"
        else:
            conn.execute(text("ALTER TABLE decision DISABLE TRIGGER decision_append_only"))
            name = "decision_append_only"
    with storage_db.session() as session:
        report = verify_chain(session)
    assert report.first_bad_seq is None
    assert report.problems == (
        f"The database no longer forbids changes to the audit trail: trigger '{name}' is "
        "missing or disabled.",
    )


def test_concurrent_writers_extend_one_chain(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    cases = [
        screened_case(storage_db, tmp_path, site_secret, patient_id=f"MRN-{i}") for i in range(4)
    ]
    before = len(_events(storage_db))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def decide(case_id: int) -> None:
        barrier.wait()
        try:
            for round_ in range(5):
                outcome = "eligible" if round_ % 2 == 0 else "deferred"
                with storage_db.transaction() as session:
                    record_decision(
                        session, case_id, outcome, reviewer=f"Dr {case_id}", rationale="review"
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(c,)) for c in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    events = _events(storage_db)
    assert len(events) == before + 20
    with storage_db.session() as session:
        assert verify_chain(session).ok
