"""Decisions: the recommendation, overrides needing a rationale, and optimistic locking."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.pseudonym import SiteSecret
from app.rules.criteria import CRITERION_LABELS
from app.storage import (
    AuditEvent,
    CaseStatus,
    ConflictError,
    Database,
    DecisionError,
    Outcome,
    RecordError,
    get_case,
    latest_decision,
    recommendation,
    record_criteria,
    record_decision,
)
from app.storage.models import CriterionStatus
from tests.storage_fixtures import criteria_for, eligible_clinical, screened_case

PASS, FAIL, UNKNOWN = CriterionStatus.PASS, CriterionStatus.FAIL, CriterionStatus.UNKNOWN


def _all(status: CriterionStatus, **changes: CriterionStatus) -> list[tuple[str, CriterionStatus]]:
    return [(cid, changes.get(cid, status)) for cid in CRITERION_LABELS]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (_all(PASS), (Outcome.ELIGIBLE, ())),
        (_all(PASS, I8=FAIL), (Outcome.SCREEN_FAILURE, ("I8",))),
        (_all(PASS, E4=FAIL, I3=FAIL), (Outcome.SCREEN_FAILURE, ("I3", "E4"))),
        (_all(PASS, I7=UNKNOWN), (Outcome.DEFERRED, ())),
        (_all(PASS, I7=UNKNOWN, I2=FAIL), (Outcome.SCREEN_FAILURE, ("I2",))),
        (_all(PASS)[:-1], (Outcome.DEFERRED, ())),  # E6 never evaluated
        ([], (Outcome.DEFERRED, ())),
    ],
)
def test_recommendation_follows_the_criteria(
    criteria: list[tuple[str, CriterionStatus]], expected: tuple[Outcome, tuple[str, ...]]
) -> None:
    assert recommendation(criteria) == expected


@pytest.fixture
def eligible_case(storage_db: Database, site_secret: SiteSecret, tmp_path: Path) -> int:
    return screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-E")


def test_agreeing_with_the_recommendation_needs_no_rationale(
    storage_db: Database, eligible_case: int
) -> None:
    with storage_db.transaction() as session:
        decision = record_decision(session, eligible_case, "eligible", reviewer="Dr Wang")
    assert (decision.outcome, decision.recommended) == (Outcome.ELIGIBLE, Outcome.ELIGIBLE)
    assert not decision.overrides_recommendation
    with storage_db.session() as session:
        assert get_case(session, eligible_case).status is CaseStatus.ELIGIBLE
        event = session.scalars(select(AuditEvent).where(AuditEvent.entity == "decision")).one()
    assert (event.actor, event.entity_id, event.old_value) == (
        "Dr Wang",
        str(decision.id),
        '"pending"',
    )
    assert json.loads(event.new_value or "")["outcome"] == "eligible"


def test_overriding_the_model_needs_a_rationale(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case_id = screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-M", probability=0.2)
    with (
        pytest.raises(
            DecisionError, match=r"overrides the recommendation 'screen_failure' \(failed: I8\)"
        ),
        storage_db.transaction() as session,
    ):
        record_decision(session, case_id, "eligible", reviewer="Dr Wang")
    with storage_db.transaction() as session:
        decision = record_decision(
            session,
            case_id,
            "eligible",
            reviewer="Dr Wang",
            rationale="Board judges the slide unrepresentative; treat per protocol deviation 4",
        )
    assert decision.overrides_recommendation
    assert decision.recommended is Outcome.SCREEN_FAILURE


def test_screen_failure_lists_the_failed_criteria(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    clinical = eligible_clinical(prior_hcc_treatment=True, active_infection=True)
    case_id = screened_case(
        storage_db, tmp_path, site_secret, patient_id="MRN-F", clinical=clinical
    )
    with storage_db.transaction() as session:
        decision = record_decision(session, case_id, Outcome.SCREEN_FAILURE, reviewer="Dr Li")
    assert decision.failed_criteria == ["I2", "E4"]
    assert not decision.overrides_recommendation
    with pytest.raises(DecisionError, match="rationale"), storage_db.transaction() as session:
        record_decision(
            session, case_id, "screen_failure", reviewer="Dr Li", failed_criteria=["I2"]
        )


@pytest.mark.parametrize(
    ("outcome", "failed", "message"),
    [
        ("maybe", None, "'maybe' is not one of"),
        ("screen_failure", [], "must name the criteria"),
        ("screen_failure", ["X9"], "'X9' is not a protocol criterion"),
        ("eligible", ["I2"], "Only a screen failure"),
    ],
)
def test_malformed_decisions_are_refused(
    storage_db: Database, eligible_case: int, outcome: str, failed: list[str] | None, message: str
) -> None:
    with pytest.raises(DecisionError, match=message), storage_db.transaction() as session:
        record_decision(
            session, eligible_case, outcome, reviewer="Dr Li", failed_criteria=failed, rationale="x"
        )
    assert issubclass(DecisionError, ValueError)


def test_a_reviewer_must_be_named(storage_db: Database, eligible_case: int) -> None:
    with pytest.raises(RecordError, match="reviewer name"), storage_db.transaction() as session:
        record_decision(session, eligible_case, "eligible", reviewer=" ")


def test_deferring_with_unknown_criteria_is_the_recommendation(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    clinical = eligible_clinical(biopsy_confirmed_hcc=None)
    case_id = screened_case(
        storage_db, tmp_path, site_secret, patient_id="MRN-D", clinical=clinical
    )
    with storage_db.transaction() as session:
        decision = record_decision(session, case_id, "deferred", reviewer="neoadj screen")
    assert decision.recommended is Outcome.DEFERRED
    assert not decision.overrides_recommendation


def test_decisions_are_kept_and_the_latest_holds(storage_db: Database, eligible_case: int) -> None:
    with storage_db.transaction() as session:
        record_decision(session, eligible_case, "deferred", reviewer="Dr A", rationale="await CT")
    with storage_db.transaction() as session:
        record_decision(session, eligible_case, "eligible", reviewer="Dr B")
    with storage_db.session() as session:
        assert len(get_case(session, eligible_case).decisions) == 2
        latest = latest_decision(session, eligible_case)
    assert latest is not None
    assert (latest.outcome, latest.reviewer) == (Outcome.ELIGIBLE, "Dr B")


def test_second_reviewer_with_a_stale_view_gets_a_conflict(
    storage_db: Database, eligible_case: int
) -> None:
    with storage_db.session() as first, storage_db.session() as second:
        seen_by_a = get_case(first, eligible_case).version
        seen_by_b = get_case(second, eligible_case).version
    with storage_db.transaction() as session:
        record_decision(
            session, eligible_case, "eligible", reviewer="Dr A", expected_version=seen_by_a
        )
    with pytest.raises(ConflictError) as info, storage_db.transaction() as session:
        record_decision(
            session,
            eligible_case,
            "deferred",
            reviewer="Dr B",
            rationale="wait for the biopsy review",
            expected_version=seen_by_b,
        )
    message = info.value.user_message
    assert f"Case {eligible_case} was changed by Dr A at " in message
    assert "reload" in message
    with storage_db.session() as session:
        case = get_case(session, eligible_case)
        assert (case.status, case.updated_by, len(case.decisions)) == (
            CaseStatus.ELIGIBLE,
            "Dr A",
            1,
        )
        assert f"{case.updated_at:%Y-%m-%d %H:%M:%S}" in message


def test_two_reviewers_saving_at_once_cannot_both_win(
    storage_db: Database, eligible_case: int
) -> None:
    with storage_db.session() as session:
        version = get_case(session, eligible_case).version
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def save(reviewer: str, outcome: str) -> None:
        barrier.wait()
        try:
            with storage_db.transaction() as session:
                record_decision(
                    session,
                    eligible_case,
                    outcome,
                    reviewer=reviewer,
                    rationale="second opinion",
                    expected_version=version,
                )
            outcomes[reviewer] = "saved"
        except ConflictError:
            outcomes[reviewer] = "conflict"

    threads = [
        threading.Thread(target=save, args=("Dr A", "eligible")),
        threading.Thread(target=save, args=("Dr B", "deferred")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    winner = next(r for r, o in outcomes.items() if o == "saved")
    with storage_db.session() as session:
        case = get_case(session, eligible_case)
        assert case.updated_by == winner
        assert [d.reviewer for d in case.decisions] == [winner]


def test_the_version_column_catches_a_change_made_behind_the_session(
    storage_db: Database, eligible_case: int
) -> None:
    with (
        pytest.raises(ConflictError, match="another reviewer"),
        storage_db.transaction() as session,
    ):
        case = get_case(session, eligible_case)
        session.execute(
            text("UPDATE screening_case SET version = version + 1 WHERE id = :id"),
            {"id": eligible_case},
        )
        case.status = CaseStatus.DEFERRED
    with storage_db.session() as session:
        assert get_case(session, eligible_case).status is CaseStatus.PENDING


def test_a_decision_between_orm_edits_in_one_transaction_stays_consistent(
    storage_db: Database, eligible_case: int
) -> None:
    with storage_db.transaction() as session:
        case = get_case(session, eligible_case)
        before = case.version
        record_decision(session, eligible_case, "eligible", reviewer="Dr A")
        assert (case.status, case.version) == (CaseStatus.ELIGIBLE, before + 1)  # reloaded
        changed = criteria_for(eligible_clinical(active_infection=True))
        record_criteria(session, eligible_case, changed, actor="Dr A", reason="fever")
        assert case.status is CaseStatus.PENDING
    with storage_db.session() as session:
        assert get_case(session, eligible_case).status is CaseStatus.PENDING
