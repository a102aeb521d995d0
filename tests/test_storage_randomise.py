"""Randomisation in the database: eligibility, concealment, no re-draw, concurrency, verification.

The balance of the sequence itself (10,000 simulated patients) is tested on the pure module
(`app.randomisation`); here each allocation is checked against that module's sequence.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text

from app.pseudonym import SiteSecret, SiteSecretError
from app.randomisation import ARMS, AllocationSequence, Arm, RandomisationError, Stratum
from app.storage import (
    Allocation,
    CaseStatus,
    Database,
    get_allocation,
    get_case,
    randomise,
    record_criteria,
    record_decision,
    record_failure,
    verify_allocations,
)
from app.storage.models import Base, StratumCounter
from tests.storage_fixtures import criteria_for, eligible_clinical, screened_case

REVIEWER = "Dr Zhou"


def _eligible(
    db: Database, root: Path, secret: SiteSecret, patient_id: str, **clinical: object
) -> int:
    case_id = screened_case(
        db, root, secret, patient_id=patient_id, clinical=eligible_clinical(**clinical)
    )
    with db.transaction() as session:
        record_decision(session, case_id, "eligible", reviewer=REVIEWER)
    return case_id


def _counter(db: Database, stage: str = "B") -> int | None:
    with db.session() as session:
        row = session.get(StratumCounter, ("site-1", stage))
        return None if row is None else row.next_index


def _allocations(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Allocation)) or 0)


def test_an_eligible_case_gets_the_next_arm_of_its_stratum_with_the_regimen(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case_id = _eligible(storage_db, tmp_path, site_secret, "MRN-1")
    result = randomise(storage_db, case_id, reviewer=REVIEWER, secret=site_secret)
    expected = AllocationSequence(site_secret.key, Stratum("site-1", "B")).allocation_at(0)
    assert (result.site, result.bclc_stage, result.sequence_index) == ("site-1", "B", 0)
    assert result.arm is expected.arm
    assert result.description == ARMS[expected.arm]
    assert result.created
    with storage_db.session() as session:
        assert get_case(session, case_id).status is CaseStatus.RANDOMISED
        assert get_allocation(session, case_id) == result.__class__(
            **{**result.__dict__, "created": False}
        )


def test_strata_keep_their_own_sequences(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    b_cases = [_eligible(storage_db, tmp_path, site_secret, f"MRN-B{i}") for i in range(6)]
    c_case = _eligible(storage_db, tmp_path, site_secret, "MRN-C", macrovascular_invasion=True)
    b_results = [randomise(storage_db, c, reviewer=REVIEWER, secret=site_secret) for c in b_cases]
    c_result = randomise(storage_db, c_case, reviewer=REVIEWER, secret=site_secret)
    b_sequence = AllocationSequence(site_secret.key, Stratum("site-1", "B"))
    assert [r.sequence_index for r in b_results] == list(range(6))
    assert [r.arm for r in b_results] == [b_sequence.allocation_at(i).arm for i in range(6)]
    assert (c_result.bclc_stage, c_result.sequence_index) == ("C", 0)
    c_sequence = AllocationSequence(site_secret.key, Stratum("site-1", "C"))
    assert c_result.arm is c_sequence.allocation_at(0).arm
    assert (_counter(storage_db, "B"), _counter(storage_db, "C")) == (6, 1)


def test_randomising_again_returns_the_same_allocation_and_draws_nothing(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case_id = _eligible(storage_db, tmp_path, site_secret, "MRN-1")
    first = randomise(storage_db, case_id, reviewer=REVIEWER, secret=site_secret)
    again = randomise(storage_db, case_id, reviewer="Dr Other", secret=site_secret)
    assert (again.arm, again.sequence_index, again.allocated_by) == (
        first.arm,
        first.sequence_index,
        REVIEWER,
    )
    assert not again.created
    assert (_allocations(storage_db), _counter(storage_db)) == (1, 1)


@pytest.mark.parametrize("state", ["pending", "deferred", "screen_failure", "failed", "stale"])
def test_only_a_confirmed_eligible_case_can_be_randomised(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path, state: str
) -> None:
    if state == "failed":
        with storage_db.transaction() as session:
            case_id = record_failure(
                session, content_sha256="b" * 64, message="no MRI", actor="neoadj screen"
            ).id
    else:
        case_id = screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-R")
    with storage_db.transaction() as session:
        if state in ("deferred", "screen_failure"):
            failed = ["E5"] if state == "screen_failure" else None
            record_decision(
                session, case_id, state, reviewer=REVIEWER, failed_criteria=failed, rationale="MDT"
            )
        if state == "stale":  # decided eligible, then a criterion changed
            record_decision(session, case_id, "eligible", reviewer=REVIEWER)
            changed = criteria_for(eligible_clinical(active_infection=True))
            record_criteria(session, case_id, changed, actor=REVIEWER)
    with pytest.raises(RandomisationError, match="not confirmed eligible") as info:
        randomise(storage_db, case_id, reviewer=REVIEWER, secret=site_secret)
    assert not any(arm.value in info.value.user_message for arm in Arm)
    assert (_allocations(storage_db), _counter(storage_db)) == (0, None)
    with storage_db.session() as session:
        assert get_allocation(session, case_id) is None


def test_a_stage_outside_the_strata_is_refused(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    clinical = eligible_clinical(nodule_count=1, largest_diameter_mm=15.0)  # BCLC-0
    case_id = screened_case(
        storage_db, tmp_path, site_secret, patient_id="MRN-0", clinical=clinical
    )
    with storage_db.transaction() as session:
        record_decision(session, case_id, "eligible", reviewer=REVIEWER, rationale="board override")
    with pytest.raises(RandomisationError, match="BCLC stage 0"):
        randomise(storage_db, case_id, reviewer=REVIEWER, secret=site_secret)
    assert _allocations(storage_db) == 0


def test_another_sites_secret_is_refused(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case_id = _eligible(storage_db, tmp_path, site_secret, "MRN-1")
    with pytest.raises(SiteSecretError, match="does not match"):
        randomise(storage_db, case_id, reviewer=REVIEWER, secret=SiteSecret(b"y" * 32))
    assert (_allocations(storage_db), _counter(storage_db)) == (0, None)


def test_the_arm_is_revealed_only_after_commit(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _eligible(storage_db, tmp_path, site_secret, "MRN-1")
    second = _eligible(storage_db, tmp_path, site_secret, "MRN-2")
    import app.storage.allocations as allocations

    def crash(*_args: object, **_kwargs: object) -> int:
        raise ConnectionError("server went away before commit")

    with monkeypatch.context() as patch:
        patch.setattr(allocations, "record_event", crash)
        with pytest.raises(ConnectionError):
            randomise(storage_db, first, reviewer=REVIEWER, secret=site_secret)
    assert (_allocations(storage_db), _counter(storage_db)) == (0, None)  # all rolled back
    result = randomise(storage_db, second, reviewer=REVIEWER, secret=site_secret)
    assert result.sequence_index == 0  # the index taken by the failed attempt was not used up


def test_the_database_holds_no_secret_and_no_future_arm(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    cases = [_eligible(storage_db, tmp_path, site_secret, f"MRN-{i}") for i in range(3)]
    for case_id in cases[:2]:
        randomise(storage_db, case_id, reviewer=REVIEWER, secret=site_secret)
    with storage_db.session() as session:
        dump = "\n".join(
            repr(tuple(row))
            for t in Base.metadata.sorted_tables
            for row in session.execute(select(t))
        )
        assert get_allocation(session, cases[2]) is None
    assert site_secret.key.hex() not in dump
    assert _allocations(storage_db) == 2
    assert _counter(storage_db) == 2  # only the next index, not its arm


def test_concurrent_randomisations_take_distinct_consecutive_indices(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    cases = [_eligible(storage_db, tmp_path, site_secret, f"MRN-{i}") for i in range(8)]
    barrier = threading.Barrier(4)
    results = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(mine: list[int]) -> None:
        barrier.wait()
        for case_id in mine:
            try:
                result = randomise(storage_db, case_id, reviewer=REVIEWER, secret=site_secret)
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                results.append(result)

    threads = [threading.Thread(target=worker, args=(cases[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(r.sequence_index for r in results) == list(range(8))
    sequence = AllocationSequence(site_secret.key, Stratum("site-1", "B"))
    assert all(r.arm is sequence.allocation_at(r.sequence_index).arm for r in results)
    assert _counter(storage_db) == 8
    with storage_db.session() as session:
        assert verify_allocations(session, site_secret) == []


def test_allocations_are_verified_from_the_site_secret(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    cases = [_eligible(storage_db, tmp_path, site_secret, f"MRN-{i}") for i in range(4)]
    results = [randomise(storage_db, c, reviewer=REVIEWER, secret=site_secret) for c in cases]
    with storage_db.session() as session:
        assert verify_allocations(session, site_secret) == []
        assert verify_allocations(session, SiteSecret(b"z" * 32)) == [
            "Stratum site-1|BCLC-B: not verifiable with this secret (other site)."
        ]
    flipped = Arm.NEOADJUVANT if results[1].arm is Arm.DIRECT_SURGERY else Arm.DIRECT_SURGERY
    with storage_db.engine.begin() as conn:
        _drop_allocation_guards(conn)
        conn.execute(
            text("UPDATE allocation SET arm = :arm WHERE case_id = :case"),
            {"arm": flipped.value, "case": cases[1]},
        )
        conn.execute(text("DELETE FROM allocation WHERE case_id = :case"), {"case": cases[2]})
    with storage_db.session() as session:
        problems = verify_allocations(session, site_secret)
    assert problems[0].startswith("Stratum site-1|BCLC-B, index 1: wrong arm")
    assert problems[1].startswith("Stratum site-1|BCLC-B, index 2: missing")
    assert (
        problems[2] == "Stratum site-1|BCLC-B: counter stands at 4 but 3 allocation(s) are stored."
    )


def test_the_database_forbids_changing_an_allocation(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case_id = _eligible(storage_db, tmp_path, site_secret, "MRN-1")
    randomise(storage_db, case_id, reviewer=REVIEWER, secret=site_secret)
    for statement in ("UPDATE allocation SET arm = 'neoadjuvant'", "DELETE FROM allocation"):
        with pytest.raises(Exception, match="append-only"), storage_db.engine.begin() as conn:
            conn.execute(text(statement))
    assert _allocations(storage_db) == 1


def _drop_allocation_guards(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER allocation_append_only_update"))
        conn.execute(text("DROP TRIGGER allocation_append_only_delete"))
    else:
        conn.execute(text("DROP TRIGGER allocation_append_only ON allocation"))
