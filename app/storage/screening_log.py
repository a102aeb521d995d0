"""The screening log (one row per screened case) and the CONSORT-style counts.

Counts, from each case's current status:

- ``screened``: cases whose inputs were recorded (cases that could not be processed are
  counted apart as ``not_processed``);
- ``screen_failures`` and ``screen_failures_by_reason``: the decided screen failures, and for
  each protocol criterion how many of them it failed (a case may fail several);
- ``eligible``: cases decided eligible, randomised or not; ``deferred``; ``awaiting_decision``;
- ``randomised``: allocations per arm.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.randomisation import Arm
from app.rules.criteria import CRITERION_LABELS
from app.storage.models import (
    Allocation,
    AuditHead,
    CaseStatus,
    Decision,
    Prediction,
    ScreeningCase,
)


@dataclass(frozen=True)
class LogRow:
    """One case of the screening log (times in UTC, ISO 8601; empty text when not known)."""

    case_id: int
    pseudonym: str
    site: str
    synthetic: str
    recorded_at: str
    status: str
    benefit_probability: str
    threshold: str
    checkpoint_name: str
    checkpoint_version: str
    checkpoint_sha256: str
    synthetic_checkpoint: str
    bclc_stage: str
    recommended: str
    decision: str
    failed_criteria: str
    overrides_recommendation: str
    rationale: str
    reviewer: str
    decided_at: str
    arm: str
    allocated_at: str
    failure: str


LOG_COLUMNS = tuple(f.name for f in fields(LogRow))


@dataclass(frozen=True)
class ConsortCounts:
    """CONSORT-style screening counts (see the module docstring)."""

    screened: int
    not_processed: int
    screen_failures: int
    screen_failures_by_reason: dict[str, int]
    eligible: int
    deferred: int
    awaiting_decision: int
    randomised: dict[str, int]
    audit_head_hash: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping, with each reason's plain-language label."""
        data = asdict(self)
        data["screen_failure_reasons"] = {
            cid: CRITERION_LABELS.get(cid, cid) for cid in self.screen_failures_by_reason
        }
        return data


def screening_log(session: Session) -> list[LogRow]:
    """Every recorded case with its latest prediction and decision and its allocation."""
    # Ordered by id, so each case keeps its latest prediction and decision.
    predictions = {
        p.case_id: p for p in session.scalars(select(Prediction).order_by(Prediction.id))
    }
    decisions = {d.case_id: d for d in session.scalars(select(Decision).order_by(Decision.id))}
    allocations = {a.case_id: a for a in session.scalars(select(Allocation))}
    rows = []
    for case in session.scalars(select(ScreeningCase).order_by(ScreeningCase.id)):
        p, d, a = predictions.get(case.id), decisions.get(case.id), allocations.get(case.id)
        rows.append(
            LogRow(
                case_id=case.id,
                pseudonym=case.pseudonym or "",
                site=case.site_code or "",
                synthetic=str(case.synthetic).lower(),
                recorded_at=_iso(case.created_at),
                status=case.status.value,
                benefit_probability="" if p is None else f"{p.probability:.4f}",
                threshold="" if p is None else f"{p.threshold:.4f}",
                checkpoint_name="" if p is None else p.checkpoint_name,
                checkpoint_version="" if p is None else p.checkpoint_version,
                checkpoint_sha256="" if p is None else p.checkpoint_sha256,
                synthetic_checkpoint="" if p is None else str(p.synthetic).lower(),
                bclc_stage=case.bclc_stage or "",
                recommended="" if d is None else d.recommended.value,
                decision="" if d is None else d.outcome.value,
                failed_criteria="" if d is None else ";".join(d.failed_criteria),
                overrides_recommendation=""
                if d is None
                else str(d.overrides_recommendation).lower(),
                rationale="" if d is None else d.rationale or "",
                reviewer="" if d is None else d.reviewer,
                decided_at="" if d is None else _iso(d.decided_at),
                arm="" if a is None else a.arm,
                allocated_at="" if a is None else _iso(a.allocated_at),
                failure=case.failure_message or "",
            )
        )
    return rows


def consort_counts(session: Session, rows: list[LogRow]) -> ConsortCounts:
    """The counts of the log ``rows`` (from `screening_log`), with the audit chain's head."""
    status = Counter(r.status for r in rows)
    failures = [r for r in rows if r.status == CaseStatus.SCREEN_FAILURE]
    reasons = Counter(cid for r in failures for cid in r.failed_criteria.split(";") if cid)
    order = {cid: i for i, cid in enumerate(CRITERION_LABELS)}
    arms = Counter(r.arm for r in rows if r.arm)
    head = session.get(AuditHead, 1)
    return ConsortCounts(
        screened=len(rows) - status[CaseStatus.FAILED],
        not_processed=status[CaseStatus.FAILED],
        screen_failures=len(failures),
        screen_failures_by_reason={
            cid: reasons[cid] for cid in sorted(reasons, key=lambda c: order.get(c, len(order)))
        },
        eligible=status[CaseStatus.ELIGIBLE] + status[CaseStatus.RANDOMISED],
        deferred=status[CaseStatus.DEFERRED],
        awaiting_decision=status[CaseStatus.PENDING],
        randomised={arm.value: arms[arm.value] for arm in Arm},
        audit_head_hash="" if head is None else head.hash,
    )


def write_log_csv(rows: list[LogRow], path: Path) -> None:
    """Write the log as CSV (UTF-8, header row, one case per line)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def write_counts_json(counts: ConsortCounts, path: Path) -> None:
    """Write the counts as indented JSON."""
    path.write_text(json.dumps(counts.to_json(), indent=2) + "\n", encoding="utf-8")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
