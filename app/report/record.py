"""What the screening record holds about a case, read once for a report.

The case is found by its content hash (`app.case.Case.content_hash`), as the screening batch
and the workstation record it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.randomisation import ARMS, Arm
from app.report.model import AllocationInfo, CriterionRow, DecisionInfo, ModelInfo
from app.rules.criteria import CRITERION_LABELS
from app.storage import Database, find_case, get_allocation, latest_decision

EXPLANATION_MANIFEST_KIND = "explanation_manifest"
"""`SaliencyArtefact.kind` of an explanation's manifest (its details name the folder)."""


@dataclass
class StoredRecord:
    """The record of one case.

    Attributes:
        record_id: The case number.
        pseudonym: 64-hex pseudonym, None if the import did not record one.
        site: Site code.
        status: Case status ("pending", "eligible", "randomised"...).
        bclc_stage: Recorded BCLC stage.
        model: The newest recorded prediction.
        criteria: The recorded criteria in protocol order.
        decision: The decision that holds.
        allocation: The randomised arm.
        explanation_dir: Folder of the newest recorded explanation.
        explanation_manifest_sha256: Its manifest's recorded sha256.
    """

    record_id: int
    pseudonym: str | None
    site: str | None
    status: str
    bclc_stage: str | None
    model: ModelInfo | None = None
    criteria: list[CriterionRow] = field(default_factory=list)
    decision: DecisionInfo | None = None
    allocation: AllocationInfo | None = None
    explanation_dir: Path | None = None
    explanation_manifest_sha256: str | None = None


def read_record(db: Database, content_sha256: str) -> StoredRecord | None:
    """The record of the case with these inputs, or None when it was never recorded.

    Raises:
        DatabaseError: if the database cannot be read.
    """
    with db.session() as session:
        case = find_case(session, content_sha256)
        if case is None:
            return None
        record = StoredRecord(
            record_id=case.id,
            pseudonym=case.pseudonym,
            site=case.site_code,
            status=str(case.status),
            bclc_stage=case.bclc_stage,
        )
        if case.predictions:
            p = case.predictions[-1]
            record.model = ModelInfo(
                probability=p.probability,
                threshold=p.threshold,
                checkpoint_name=p.checkpoint_name,
                checkpoint_version=p.checkpoint_version,
                checkpoint_sha256=p.checkpoint_sha256,
                checkpoint_synthetic=p.synthetic,
                device=p.device,
                modalities_used=tuple(p.modalities_used),
                modalities_missing=tuple(p.modalities_missing),
                flags=tuple(p.flags),
                total_s=_float_or_none(p.timings_s.get("total")),
                provenance=f"recorded {p.created_at:%Y-%m-%d %H:%M} UTC",
            )
        record.criteria = [
            CriterionRow(
                c.criterion_id,
                CRITERION_LABELS.get(c.criterion_id, c.criterion_id),
                c.value,
                str(c.source),
                str(c.status),
            )
            for c in case.criteria
        ]
        decision = latest_decision(session, case.id)
        if decision is not None:
            record.decision = DecisionInfo(
                id=decision.id,
                outcome=str(decision.outcome),
                failed_criteria=tuple(decision.failed_criteria),
                recommended=str(decision.recommended),
                overrides_recommendation=decision.overrides_recommendation,
                rationale=decision.rationale,
                reviewer=decision.reviewer,
                decided_at=decision.decided_at,
            )
        allocation = get_allocation(session, case.id)
        if allocation is not None:
            arm = ARMS[Arm(allocation.arm)]
            record.allocation = AllocationInfo(
                arm=str(allocation.arm),
                label=arm.label,
                role=arm.role,
                regimen=arm.regimen,
                site=allocation.site,
                bclc_stage=allocation.bclc_stage,
                sequence_index=allocation.sequence_index,
                allocated_by=allocation.allocated_by,
                allocated_at=allocation.allocated_at,
            )
        manifests = [a for a in case.saliency if a.kind == EXPLANATION_MANIFEST_KIND]
        if manifests:
            newest = manifests[-1]
            folder = newest.details.get("explanation_dir")
            if isinstance(folder, str):
                record.explanation_dir = Path(folder)
                record.explanation_manifest_sha256 = newest.sha256
    return record


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
