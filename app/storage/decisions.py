"""Reviewers' decisions: eligible, screen failure (with the failed criteria) or deferred.

The workstation recommends an outcome from the stored criteria, criterion I8 being the
model's prediction: any failed criterion -> screen failure; else any unknown or missing
criterion -> deferred; else eligible. A decision that differs from the recommendation (or a
screen failure naming other criteria than those that failed) overrides it and needs a
rationale. Decisions are never changed: a new decision supersedes the previous one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.rules.criteria import CRITERION_LABELS
from app.storage.audit import record_event
from app.storage.cases import conflict_message
from app.storage.errors import CaseNotFoundError, ConflictError, DecisionError
from app.storage.inputs import check_actor
from app.storage.models import (
    CaseStatus,
    CriterionRecord,
    CriterionStatus,
    Decision,
    Outcome,
    ScreeningCase,
)
from app.storage.types import utc_now

RATIONALE_CHARS = 4000

# Built once: the statements of the hot path.
_LOCK_CASE_WITH_CRITERIA = (  # one row per stored criterion (one with NULLs when none)
    select(
        ScreeningCase.status,
        ScreeningCase.version,
        ScreeningCase.updated_by,
        ScreeningCase.updated_at,
        CriterionRecord.criterion_id,
        CriterionRecord.status.label("criterion_status"),
    )
    .outerjoin(CriterionRecord, CriterionRecord.case_id == ScreeningCase.id)
    .where(ScreeningCase.id == bindparam("case_id"))
    .with_for_update(of=ScreeningCase)
)
_INSERT_DECISION = insert(Decision).returning(Decision.id)
_DECIDE_CASE = (
    update(ScreeningCase)
    .where(ScreeningCase.id == bindparam("case_key"), ScreeningCase.version == bindparam("seen"))
    .values(
        status=bindparam("status"),
        updated_at=bindparam("at"),
        updated_by=bindparam("by"),
        version=ScreeningCase.version + 1,
    )
)


def recommendation(
    criteria: Iterable[tuple[str, CriterionStatus]],
) -> tuple[Outcome, tuple[str, ...]]:
    """The recommended outcome and the ids of the failed criteria, in protocol order.

    Args:
        criteria: (criterion id, status) of the stored criteria; a protocol criterion
            without a stored result counts as unknown.
    """
    by_id = dict(criteria)
    failed = tuple(cid for cid in CRITERION_LABELS if by_id.get(cid) is CriterionStatus.FAIL)
    if failed:
        return Outcome.SCREEN_FAILURE, failed
    if any(by_id.get(cid) is not CriterionStatus.PASS for cid in CRITERION_LABELS):
        return Outcome.DEFERRED, ()
    return Outcome.ELIGIBLE, ()


@dataclass(frozen=True)
class DecisionRecord:
    """A stored decision (the columns of `Decision`)."""

    id: int
    case_id: int
    outcome: Outcome
    failed_criteria: list[str]
    recommended: Outcome
    overrides_recommendation: bool
    rationale: str | None
    reviewer: str
    decided_at: datetime


def record_decision(
    session: Session,
    case_id: int,
    outcome: Outcome | str,
    *,
    reviewer: str,
    rationale: str | None = None,
    failed_criteria: Sequence[str] | None = None,
    expected_version: int | None = None,
) -> DecisionRecord:
    """Record a reviewer's decision on a case, with its audit event, in one transaction.

    The hot path of the workstation: five Core statements (lock the case row and read its
    criteria, insert the decision, update the case under its version, lock the chain head,
    insert the event), no ORM flush.

    Args:
        session: A write session (`Database.transaction`).
        case_id: The case.
        outcome: "eligible", "screen_failure" or "deferred".
        reviewer: Who decides.
        rationale: Why; required when the decision overrides the recommendation.
        failed_criteria: For a screen failure, the ids of the criteria it rests on; None for
            the criteria that failed.
        expected_version: The case version the reviewer saw; None for automatic steps.

    Raises:
        DecisionError: for an unknown outcome, an override without a rationale, a screen
            failure without failed criteria, or a case that failed import or is randomised.
        ConflictError: if another reviewer changed the case since ``expected_version``.
        CaseNotFoundError: if there is no such case.
    """
    reviewer = check_actor(reviewer)
    try:
        chosen = Outcome(outcome)
    except ValueError as exc:
        raise DecisionError(
            f"Decision '{outcome}' is not one of: {', '.join(o.value for o in Outcome)}."
        ) from exc
    text = (rationale or "").strip() or None
    if text is not None and len(text) > RATIONALE_CHARS:
        raise DecisionError(f"The rationale must be at most {RATIONALE_CHARS} characters.")
    if session.new or session.dirty:
        session.flush()  # pending ORM edits go first, under their own version check
    connection = session.connection()
    rows = connection.execute(_LOCK_CASE_WITH_CRITERIA, {"case_id": case_id}).all()
    if not rows:
        raise CaseNotFoundError(f"No case {case_id} in the database.")
    case = rows[0]
    if expected_version is not None and case.version != expected_version:
        raise ConflictError(conflict_message(case_id, case.updated_by, case.updated_at))
    if case.status in (CaseStatus.FAILED, CaseStatus.RANDOMISED):
        raise DecisionError(f"Case {case_id} is {case.status}; it cannot be decided again.")
    recommended, failing = recommendation(
        (row.criterion_id, row.criterion_status) for row in rows if row.criterion_id is not None
    )
    reasons = _failed_reasons(chosen, failed_criteria, failing)
    overrides = chosen is not recommended or set(reasons) != set(failing)
    if overrides and text is None:
        raise DecisionError(
            f"Case {case_id}: '{chosen}' overrides the recommendation '{recommended}'"
            + (f" (failed: {', '.join(failing)})" if failing else "")
            + "; give a rationale."
        )
    now = utc_now()
    values = {
        "case_id": case_id,
        "outcome": chosen,
        "failed_criteria": list(reasons),
        "recommended": recommended,
        "overrides_recommendation": overrides,
        "rationale": text,
        "reviewer": reviewer,
        "decided_at": now,
    }
    decision_id = connection.execute(_INSERT_DECISION, values).scalar_one()
    updated = connection.execute(
        _DECIDE_CASE,
        {
            "case_key": case_id,
            "seen": case.version,
            "status": CaseStatus(chosen.value),
            "at": now,
            "by": reviewer,
        },
    )
    if updated.rowcount != 1:  # cannot happen under the row lock; kept as the version check
        raise ConflictError(f"Case {case_id} was changed meanwhile; reload it.")
    cached = session.identity_map.get(identity_key(ScreeningCase, case_id))
    if cached is not None:
        session.expire(cached)
    record_event(
        session,
        actor=reviewer,
        action="create",
        entity="decision",
        entity_id=decision_id,
        case_id=case_id,
        field="status",
        old=case.status,
        new={
            "outcome": chosen,
            "failed_criteria": list(reasons),
            "recommended": recommended,
            "overrides_recommendation": overrides,
        },
        reason=text,
    )
    return DecisionRecord(
        id=decision_id,
        case_id=case_id,
        outcome=chosen,
        failed_criteria=list(reasons),
        recommended=recommended,
        overrides_recommendation=overrides,
        rationale=text,
        reviewer=reviewer,
        decided_at=now,
    )


def _failed_reasons(
    chosen: Outcome, given: Sequence[str] | None, failing: tuple[str, ...]
) -> tuple[str, ...]:
    if chosen is not Outcome.SCREEN_FAILURE:
        if given:
            raise DecisionError("Only a screen failure names failed criteria.")
        return ()
    reasons = tuple(dict.fromkeys(given)) if given is not None else failing
    if not reasons:
        raise DecisionError("A screen failure must name the criteria that failed.")
    unknown = [cid for cid in reasons if cid not in CRITERION_LABELS]
    if unknown:
        raise DecisionError(f"'{unknown[0]}' is not a protocol criterion (I1-I8, E1-E6).")
    return reasons


def latest_decision(session: Session, case_id: int) -> Decision | None:
    """The decision that holds for a case (the newest), if any."""
    return session.scalars(
        select(Decision).where(Decision.case_id == case_id).order_by(Decision.id.desc()).limit(1)
    ).first()
