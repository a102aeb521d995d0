"""Randomising a confirmed eligible case: concealed, atomic, never re-drawn, verifiable.

The arm of a stratum's ``n``-th patient comes from `app.randomisation.AllocationSequence`
(derived from the site secret, which the database never holds). The database keeps, per
stratum (site, BCLC stage), only the next free index: `randomise` takes it with one atomic
``UPDATE ... RETURNING`` (a row lock on PostgreSQL; SQLite write transactions are exclusive),
stores the allocation and its audit event, commits, and only then reveals the arm. No
function returns the arm of an index that has not been allocated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.pseudonym import SiteSecret
from app.randomisation import (
    ARMS,
    SCHEME,
    AllocationSequence,
    Arm,
    ArmDescription,
    RandomisationError,
    Stratum,
    StratumStage,
)
from app.storage.audit import record_event
from app.storage.cases import conflict_message, ensure_site, lock_case, touch
from app.storage.database import Database
from app.storage.errors import ConflictError
from app.storage.inputs import check_actor
from app.storage.models import Allocation, CaseStatus, Site, StratumCounter

_STRATUM_STAGES: dict[str, StratumStage] = {s: s for s in get_args(StratumStage)}


@dataclass(frozen=True)
class AllocationResult:
    """A committed allocation, as shown to the tumour board.

    Attributes:
        case_id: The randomised case.
        arm: The allocated arm.
        description: The arm's label, role and regimen.
        site: Site code of the stratum.
        bclc_stage: BCLC stage of the stratum ("A", "B" or "C").
        sequence_index: 0-based position in the stratum's sequence.
        scheme: Name of the sequence derivation.
        allocated_by: Who randomised.
        allocated_at: When (UTC).
        created: False when the case had been randomised before (the stored arm is returned).
    """

    case_id: int
    arm: Arm
    description: ArmDescription
    site: str
    bclc_stage: str
    sequence_index: int
    scheme: str
    allocated_by: str
    allocated_at: datetime
    created: bool


def randomise(
    db: Database,
    case_id: int,
    *,
    reviewer: str,
    secret: SiteSecret,
    expected_version: int | None = None,
) -> AllocationResult:
    """Allocate an arm to a confirmed eligible case, commit, and reveal it.

    Runs its own transaction: the arm is returned only once the allocation is committed. A
    case randomised before gets its stored allocation back (``created`` False), never a
    new draw.

    Args:
        db: The open database.
        case_id: The case.
        reviewer: Who randomises.
        secret: The site's secret (derives the sequence; must match the site's fingerprint).
        expected_version: The case version the reviewer saw; None to skip the check.

    Raises:
        RandomisationError: if the case is not decided eligible, or its stratum is unknown.
        SiteSecretError: if ``secret`` is not the site's.
        ConflictError: if another reviewer changed the case since ``expected_version``.
    """
    reviewer = check_actor(reviewer)
    with db.transaction() as session:
        case = lock_case(session, case_id, expected_version=None)
        if case.allocation is not None:
            return _result(case.allocation, created=False)
        if expected_version is not None and case.version != expected_version:
            raise ConflictError(conflict_message(case.id, case.updated_by, case.updated_at))
        if case.status is not CaseStatus.ELIGIBLE:
            raise RandomisationError(
                f"Case {case_id} is not confirmed eligible (status: {case.status}); only a "
                "case decided eligible can be randomised."
            )
        stage = _STRATUM_STAGES.get(case.bclc_stage or "")
        if case.site_code is None or stage is None:
            raise RandomisationError(
                f"Case {case_id} has BCLC stage {case.bclc_stage or 'unknown'}; only BCLC-A, "
                "B and C cases can be randomised."
            )
        stratum = Stratum(case.site_code, stage)
        ensure_site(session, case.site_code, secret, actor=reviewer)
        index = _take_index(session, stratum)
        drawn = AllocationSequence(secret.key, stratum).allocation_at(index)
        allocation = Allocation(
            case_id=case_id,
            site_code=stratum.site,
            bclc_stage=stratum.bclc,
            sequence_index=index,
            arm=drawn.arm.value,
            scheme=SCHEME,
            allocated_by=reviewer,
        )
        case.allocation = allocation
        case.status = CaseStatus.RANDOMISED
        touch(case, reviewer)
        session.flush()
        record_event(
            session,
            actor=reviewer,
            action="create",
            entity="allocation",
            entity_id=allocation.id,
            case_id=case_id,
            old=CaseStatus.ELIGIBLE,
            new={
                "arm": allocation.arm,
                "site": stratum.site,
                "bclc_stage": stratum.bclc,
                "sequence_index": index,
                "scheme": SCHEME,
            },
        )
    return _result(allocation, created=True)


def _take_index(session: Session, stratum: Stratum) -> int:
    """Atomically take the stratum's next index (creating its counter at 0 if needed)."""
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    session.execute(
        insert(StratumCounter)
        .values(site_code=stratum.site, bclc_stage=stratum.bclc, next_index=0)
        .on_conflict_do_nothing()
    )
    next_index = session.execute(
        update(StratumCounter)
        .where(StratumCounter.site_code == stratum.site, StratumCounter.bclc_stage == stratum.bclc)
        .values(next_index=StratumCounter.next_index + 1)
        .returning(StratumCounter.next_index)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(next_index) - 1


def get_allocation(session: Session, case_id: int) -> AllocationResult | None:
    """The committed allocation of a case, if it was randomised."""
    row = session.scalars(select(Allocation).where(Allocation.case_id == case_id)).one_or_none()
    return None if row is None else _result(row, created=False)


def _result(row: Allocation, *, created: bool) -> AllocationResult:
    arm = Arm(row.arm)
    return AllocationResult(
        case_id=row.case_id,
        arm=arm,
        description=ARMS[arm],
        site=row.site_code,
        bclc_stage=row.bclc_stage,
        sequence_index=row.sequence_index,
        scheme=row.scheme,
        allocated_by=row.allocated_by,
        allocated_at=row.allocated_at,
        created=created,
    )


def verify_allocations(session: Session, secret: SiteSecret) -> list[str]:
    """Recompute every stored allocation from the site secret; one sentence per discrepancy.

    Checks each stratum's arms against the sequence, that its indices are 0..n-1 each once,
    and that its counter stands at n. Strata of sites registered with another secret are
    reported as not verifiable.
    """
    problems: list[str] = []
    rows = session.execute(
        select(
            Allocation.site_code, Allocation.bclc_stage, Allocation.sequence_index, Allocation.arm
        )
    ).all()
    counters = {
        (c.site_code, c.bclc_stage): c.next_index for c in session.scalars(select(StratumCounter))
    }
    strata: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for site, stage, index, arm in rows:
        strata.setdefault((site, stage), []).append((index, arm))
    for (site, stage), records in sorted(strata.items()):
        stratum = Stratum(site, _STRATUM_STAGES[stage])
        if not _fingerprint_matches(session, site, secret):
            problems.append(f"Stratum {stratum.key}: not verifiable with this secret (other site).")
            continue
        for m in AllocationSequence(secret.key, stratum).verify(records):
            problems.append(
                f"Stratum {stratum.key}, index {m.index}: {m.kind.replace('_', ' ')} "
                f"(recorded {m.recorded or 'nothing'}, sequence gives {m.expected})."
            )
        if counters.get((site, stage)) != len(records):
            problems.append(
                f"Stratum {stratum.key}: counter stands at {counters.get((site, stage))} but "
                f"{len(records)} allocation(s) are stored."
            )
    return problems


def _fingerprint_matches(session: Session, site: str, secret: SiteSecret) -> bool:
    row = session.get(Site, site)
    return row is not None and row.secret_fingerprint == secret.fingerprint
