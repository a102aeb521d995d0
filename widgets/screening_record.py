"""The open case's screening record as the window sees it: which record, which version.

A thin layer over `app.storage` (no Qt): it remembers the record id and the case version the
reviewer last saw, passes that version with every reviewer's write (so a change by another
reviewer meanwhile raises `ConflictError`), and reads the version again after each write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from app.case import Case
from app.pseudonym import SiteSecret
from app.rules.criteria import EligibilityResult
from app.storage import (
    AllocationResult,
    AuditEvent,
    Database,
    DecisionRecord,
    case_history,
    get_allocation,
    get_case,
    randomise,
    record_criteria,
    record_decision,
    record_import,
    record_prediction,
)
from app.storage.inputs import PredictionLike

log = logging.getLogger(__name__)


class CaseRecord:
    """One imported case's record in an open database.

    Attributes:
        db: The open database.
        case_id: The record id (not a patient identifier).
        seen_version: The case version the reviewer last saw.
    """

    def __init__(self, db: Database, case_id: int, seen_version: int) -> None:
        self.db = db
        self.case_id = case_id
        self.seen_version = seen_version

    @classmethod
    def open(cls, db: Database, case: Case, *, secret: SiteSecret, actor: str) -> CaseRecord:
        """The record of `case` (created on first sight; idempotent by content hash).

        Raises:
            RecordError: if the case has no site or no inputs.
            SiteSecretError: if the site is registered with another secret.
        """
        with db.transaction() as session:
            row = record_import(session, case, secret=secret, actor=actor)
            case_id = row.id
        record = cls(db, case_id, 0)
        record.reload()
        return record

    def reload(self) -> None:
        """Take the stored version as seen (after the reviewer reloaded)."""
        with self.db.session() as session:
            self.seen_version = get_case(session, self.case_id).version

    @property
    def status(self) -> str:
        """The case's stored workflow status ("pending", "eligible", "randomised"...)."""
        with self.db.session() as session:
            return str(get_case(session, self.case_id).status)

    def add_prediction(self, prediction: PredictionLike, *, actor: str) -> None:
        """Store a prediction made in the window.

        Raises:
            ConflictError: if another reviewer changed the case since it was last seen.
        """
        with self.db.transaction() as session:
            record_prediction(
                session, self.case_id, prediction, actor=actor, expected_version=self.seen_version
            )
        self.reload()

    def decide(
        self,
        eligibility: EligibilityResult,
        outcome: str,
        *,
        reviewer: str,
        rationale: str | None,
        failed_criteria: Sequence[str] | None,
    ) -> DecisionRecord:
        """Store the form's criteria and the reviewer's decision in one transaction.

        Raises:
            ConflictError: if another reviewer changed the case since it was last seen.
            DecisionError: an override without a rationale, and the other refusals of
                `app.storage.record_decision`.
        """
        with self.db.transaction() as session:
            record_criteria(
                session,
                self.case_id,
                eligibility,
                actor=reviewer,
                reason=rationale,
                expected_version=self.seen_version,
            )
            decision = record_decision(
                session,
                self.case_id,
                outcome,
                reviewer=reviewer,
                rationale=rationale,
                failed_criteria=failed_criteria,
            )
        self.reload()
        return decision

    def randomise(self, *, reviewer: str, secret: SiteSecret) -> AllocationResult:
        """Allocate an arm (only to a case decided eligible; never re-drawn).

        Raises:
            RandomisationError: if the case is not decided eligible.
            ConflictError: if another reviewer changed the case since it was last seen.
        """
        result = randomise(
            self.db,
            self.case_id,
            reviewer=reviewer,
            secret=secret,
            expected_version=self.seen_version,
        )
        self.reload()
        return result

    def allocation(self) -> AllocationResult | None:
        """The stored allocation, if the case was randomised."""
        with self.db.session() as session:
            return get_allocation(session, self.case_id)

    def history(self) -> list[AuditEvent]:
        """Every audit event of the case, oldest first."""
        with self.db.session() as session:
            return case_history(session, self.case_id)
