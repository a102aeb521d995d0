"""What a batch did with each case, and its summary (the ``neoadj screen --json`` object).

A case is "screened" (recorded by this run), "skipped" (recorded before: same content hash)
or "failed" (with its message). Screened and skipped cases report what the record holds:
the proposed eligibility from the stored criteria ("eligible", "ineligible" when a criterion
fails, "incomplete" when one is unknown), the latest prediction and the latest decision.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.pseudonym import short_pseudonym
from app.storage import Outcome, ScreeningCase, recommendation
from app.storage.models import CriterionStatus

ELIGIBILITY_BY_RECOMMENDATION = {
    Outcome.ELIGIBLE: "eligible",
    Outcome.SCREEN_FAILURE: "ineligible",
    Outcome.DEFERRED: "incomplete",
}
"""The storage's recommended outcome -> the proposed eligibility, in `app.rules` terms."""
ELIGIBILITY_STATUSES = ("eligible", "ineligible", "incomplete")


class CaseState(StrEnum):
    """What the batch did with a case."""

    SCREENED = "screened"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class CaseOutcome:
    """One case of a batch.

    Attributes:
        case: The case folder's name under the cases root (as the user named it).
        state: Screened, skipped (already recorded) or failed.
        seconds: Wall time spent on the case.
        message: Why it failed (names the file and the problem), else None.
        record_id: The case's number in the screening record, when recorded.
        pseudonym: First 12 hex characters of the pseudonym, when recorded.
        status: Proposed eligibility ("eligible", "ineligible", "incomplete"), else None.
        recommended: The record's recommendation ("eligible", "screen_failure", "deferred").
        decision: The latest decision's outcome, if any.
        probability: Latest benefit probability, 0-1.
        threshold: Its decision threshold, 0-1.
        failed_criteria: Ids of the failed criteria, protocol order.
        unknown_criteria: Ids of the criteria lacking data, protocol order.
        artefacts: Explanation artefacts recorded.
        flags: The prediction's warnings.
    """

    case: str
    state: CaseState
    seconds: float
    message: str | None = None
    record_id: int | None = None
    pseudonym: str | None = None
    status: str | None = None
    recommended: str | None = None
    decision: str | None = None
    probability: float | None = None
    threshold: float | None = None
    failed_criteria: tuple[str, ...] = ()
    unknown_criteria: tuple[str, ...] = ()
    artefacts: int = 0
    flags: tuple[str, ...] = ()

    @classmethod
    def from_record(
        cls, case: str, state: CaseState, record: ScreeningCase, seconds: float
    ) -> CaseOutcome:
        """The outcome as the record holds it (load it with its criteria, predictions,
        decisions and saliency artefacts)."""
        stored = [(c.criterion_id, c.status) for c in record.criteria]
        recommended, failed = recommendation(stored)
        unknown = tuple(cid for cid, status in stored if status is CriterionStatus.UNKNOWN)
        prediction = record.predictions[-1] if record.predictions else None
        decision = record.decisions[-1] if record.decisions else None
        return cls(
            case=case,
            state=state,
            seconds=seconds,
            message=record.failure_message,
            record_id=record.id,
            pseudonym=short_pseudonym(record.pseudonym) if record.pseudonym else None,
            status=ELIGIBILITY_BY_RECOMMENDATION[recommended] if stored else None,
            recommended=recommended.value if stored else None,
            decision=decision.outcome.value if decision else None,
            probability=prediction.probability if prediction else None,
            threshold=prediction.threshold if prediction else None,
            failed_criteria=failed,
            unknown_criteria=unknown,
            artefacts=len(record.saliency),
            flags=tuple(prediction.flags) if prediction else (),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping of every attribute (``record_id`` as ``record``)."""
        return {
            "case": self.case,
            "state": self.state.value,
            "status": self.status,
            "probability": self.probability,
            "threshold": self.threshold,
            "recommended": self.recommended,
            "decision": self.decision,
            "failed_criteria": list(self.failed_criteria),
            "unknown_criteria": list(self.unknown_criteria),
            "record": self.record_id,
            "pseudonym": self.pseudonym,
            "artefacts": self.artefacts,
            "flags": list(self.flags),
            "message": self.message,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class BatchSummary:
    """Every case of one run and its wall time.

    Attributes:
        outcomes: One per case folder, in folder order.
        elapsed_s: Wall time of the whole run, in seconds.
        unused_clinical_rows: Rows of the clinical CSV that matched no case.
    """

    outcomes: list[CaseOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0
    unused_clinical_rows: int = 0

    def count(self, state: CaseState) -> int:
        """How many cases ended in ``state``."""
        return sum(o.state is state for o in self.outcomes)

    @property
    def failed(self) -> list[CaseOutcome]:
        """The failed cases."""
        return [o for o in self.outcomes if o.state is CaseState.FAILED]

    @property
    def eligibility_counts(self) -> dict[str, int]:
        """Proposed eligibility -> cases, over screened and skipped cases."""
        counts = Counter(o.status for o in self.outcomes if o.status is not None)
        return {status: counts[status] for status in ELIGIBILITY_STATUSES}

    @property
    def cases_per_minute(self) -> float:
        """Cases screened by this run per minute of its wall time (0 when none)."""
        screened = self.count(CaseState.SCREENED)
        return 60.0 * screened / self.elapsed_s if screened and self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The ``neoadj screen --json`` object (see docs/cli.md)."""
        return {
            "screened": self.count(CaseState.SCREENED),
            "skipped": self.count(CaseState.SKIPPED),
            "failed": [{"case": o.case, "message": o.message} for o in self.failed],
            "proposed": self.eligibility_counts,
            "results": [o.to_json() for o in self.outcomes],
            "cases_per_minute": round(self.cases_per_minute, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "unused_clinical_rows": self.unused_clinical_rows,
        }
