"""Recording what was seen and computed for a case: inputs, prediction, explanation, criteria.

Each function works inside the caller's write transaction and adds its audit event, so a
batch writes a whole case in one block and a crash leaves nothing half-written::

    with db.transaction() as session:
        case = record_import(session, imported, secret=secret, actor="neoadj screen")
        prediction = record_prediction(session, case.id, result, actor="neoadj screen")
        record_explanation(session, case.id, artefacts, prediction_id=prediction.id, ...)
        record_criteria(session, case.id, eligibility, actor="neoadj screen")

Cases are keyed by the content hash of their inputs: importing the same files again returns
the recorded case (a re-run is idempotent).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.pseudonym import SiteSecret, pseudonymise
from app.storage.audit import record_event
from app.storage.cases import ensure_site, find_case, lock_case, touch
from app.storage.errors import RecordError
from app.storage.inputs import (
    ArtefactInput,
    CaseLike,
    EligibilityLike,
    PredictionLike,
    check_actor,
    check_probability,
    check_sha256,
)
from app.storage.models import (
    CaseStatus,
    CriterionRecord,
    CriterionSource,
    CriterionStatus,
    InputFileRecord,
    Prediction,
    SaliencyArtefact,
    ScreeningCase,
)

FAILURE_MESSAGE_CHARS = 2000
DECIDED = (CaseStatus.ELIGIBLE, CaseStatus.SCREEN_FAILURE, CaseStatus.DEFERRED)
"""Statuses that a change of the criteria sends back to "pending" (the decision is stale)."""


def record_import(
    session: Session,
    case: CaseLike,
    *,
    secret: SiteSecret,
    actor: str,
    site: str | None = None,
) -> ScreeningCase:
    """Record an imported case: pseudonym, site, and every input with its content hash.

    The patient identifier (``clinical.json``'s ``patient_id``, else the case id) is stored
    only as its keyed hash. Inputs already recorded (same content hash) give the recorded
    case back unchanged; a case recorded as failed is completed instead.

    Args:
        session: A write session (`Database.transaction`).
        case: The imported case (`app.case.load_case`).
        secret: The site's secret.
        actor: Who imports (reviewer name, or "neoadj screen").
        site: Site code; None to take ``clinical.json``'s ``site``.

    Raises:
        RecordError: if no site is known or nothing was imported.
        SiteSecretError: if the site is registered with another secret.
    """
    actor = check_actor(actor)
    site_code = site or (case.clinical.site if case.clinical else None)
    if not site_code:
        raise RecordError("The case has no site: set 'site' in clinical.json or give the site.")
    if not case.inputs:
        raise RecordError("The case has no inputs to record.")
    existing = find_case(session, case.content_hash)
    if existing is not None and existing.status is not CaseStatus.FAILED:
        return existing
    ensure_site(session, site_code, secret, actor=actor)
    identifier = (case.clinical.patient_id if case.clinical else None) or case.case_id
    inputs = [
        InputFileRecord(
            path=relative_input_path(f.path, case.root),
            kind=f.kind,
            sha256=check_sha256(f.sha256, f"input '{f.path.name}'"),
            size_bytes=f.size_bytes,
        )
        for f in case.inputs
    ]
    if existing is None:
        record = ScreeningCase(content_sha256=case.content_hash, updated_by=actor)
        session.add(record)
        action, old = "create", None
    else:
        record = lock_case(session, existing.id, expected_version=None)
        action, old = "update", {"status": record.status, "failure": record.failure_message}
        touch(record, actor)
    record.pseudonym = pseudonymise(identifier, secret)
    record.site_code = site_code
    record.synthetic = case.synthetic
    record.folder = case_folder(case.root)
    record.status = CaseStatus.PENDING
    record.failure_message = None
    if not record.inputs:  # a case that failed after its registration keeps its inputs
        record.inputs = inputs
    session.flush()
    record_event(
        session,
        actor=actor,
        action=action,
        entity="case",
        entity_id=record.id,
        case_id=record.id,
        old=old,
        new={
            "pseudonym": record.pseudonym,
            "site": site_code,
            "synthetic": record.synthetic,
            "content_sha256": record.content_sha256,
            "status": record.status,
            "inputs": [_input_json(i) for i in record.inputs],
        },
    )
    return record


def record_failure(
    session: Session, *, content_sha256: str, message: str, actor: str
) -> ScreeningCase:
    """Record a case that could not be screened, with the reason (no patient identifiers).

    An already recorded case with these inputs is returned unchanged, except one imported
    and never screened (pending, without prediction or criteria: `record_imports` registers
    a batch before screening it), which is marked failed with the reason.
    """
    actor = check_actor(actor)
    check_sha256(content_sha256, "the case")
    existing = find_case(session, content_sha256)
    if existing is not None:
        if existing.status is CaseStatus.PENDING and not (
            existing.predictions or existing.criteria
        ):
            _mark_failed(session, existing.id, message, actor)
        return existing
    record = ScreeningCase(
        content_sha256=content_sha256,
        status=CaseStatus.FAILED,
        failure_message=message[:FAILURE_MESSAGE_CHARS],
        updated_by=actor,
    )
    session.add(record)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="create",
        entity="case",
        entity_id=record.id,
        case_id=record.id,
        new={
            "content_sha256": content_sha256,
            "status": record.status,
            "failure": record.failure_message,
        },
    )
    return record


def _mark_failed(session: Session, case_id: int, message: str, actor: str) -> None:
    case = lock_case(session, case_id, expected_version=None)
    old = {"status": case.status, "failure": case.failure_message}
    case.status = CaseStatus.FAILED
    case.failure_message = message[:FAILURE_MESSAGE_CHARS]
    touch(case, actor)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="update",
        entity="case",
        entity_id=case_id,
        case_id=case_id,
        old=old,
        new={"status": case.status, "failure": case.failure_message},
    )


def record_prediction(
    session: Session,
    case_id: int,
    prediction: PredictionLike,
    *,
    actor: str,
    expected_version: int | None = None,
) -> Prediction:
    """Record a model prediction with its checkpoint identity, device and timings.

    Raises:
        RecordError: for a probability or threshold outside [0, 1] or a malformed sha256.
        ConflictError: if ``expected_version`` is stale.
    """
    actor = check_actor(actor)
    ckpt = prediction.checkpoint
    row = Prediction(
        case_id=case_id,
        probability=check_probability(prediction.probability, "benefit probability"),
        threshold=check_probability(prediction.threshold, "decision threshold"),
        checkpoint_name=ckpt.name,
        checkpoint_version=ckpt.version,
        checkpoint_sha256=check_sha256(ckpt.sha256, f"checkpoint '{ckpt.name}'"),
        synthetic=ckpt.synthetic,
        device=prediction.device,
        timings_s={k: float(v) for k, v in prediction.timings_s.items()},
        modalities_used=list(prediction.modalities_used),
        modalities_missing=list(prediction.modalities_missing),
        flags=list(prediction.flags),
    )
    case = lock_case(session, case_id, expected_version=expected_version)
    touch(case, actor)
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="create",
        entity="prediction",
        entity_id=row.id,
        case_id=case_id,
        new={
            "probability": row.probability,
            "threshold": row.threshold,
            "checkpoint": {
                "name": row.checkpoint_name,
                "version": row.checkpoint_version,
                "sha256": row.checkpoint_sha256,
                "synthetic": row.synthetic,
            },
            "device": row.device,
            "modalities_used": row.modalities_used,
            "modalities_missing": row.modalities_missing,
            "flags": row.flags,
        },
    )
    return row


def record_explanation(
    session: Session,
    case_id: int,
    artefacts: Sequence[ArtefactInput],
    *,
    actor: str,
    prediction_id: int | None = None,
    expected_version: int | None = None,
) -> list[SaliencyArtefact]:
    """Record saved explanation artefacts (saliency maps, heatmaps...) with their hashes."""
    actor = check_actor(actor)
    case = lock_case(session, case_id, expected_version=expected_version)
    touch(case, actor)
    rows = [
        SaliencyArtefact(
            case_id=case_id,
            prediction_id=prediction_id,
            kind=a.kind,
            path=a.path,
            sha256=a.sha256,
            details=dict(a.details),
        )
        for a in artefacts
    ]
    session.add_all(rows)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="create",
        entity="saliency_artefacts",
        entity_id=case_id,
        case_id=case_id,
        new=[
            {"id": r.id, "kind": r.kind, "path": r.path, "sha256": r.sha256, "details": r.details}
            for r in rows
        ],
    )
    return rows


def record_criteria(
    session: Session,
    case_id: int,
    eligibility: EligibilityLike,
    *,
    actor: str,
    reason: str | None = None,
    expected_version: int | None = None,
) -> list[CriterionRecord]:
    """Store or update every criterion's status, value and source, and the BCLC stage.

    The first call creates the rows (one "create" event); later calls (a reviewer's edits)
    change only what differs, one "update" event per changed criterion with old -> new.

    Args:
        session: A write session.
        case_id: The case.
        eligibility: `app.rules.evaluate_criteria`'s result.
        actor: Who evaluated or edited.
        reason: Why the values were changed (the reviewer's note).
        expected_version: The case version the reviewer saw (None for automatic steps).

    Raises:
        RecordError: for an unknown status or source.
        ConflictError: if ``expected_version`` is stale.
    """
    actor = check_actor(actor)
    case = lock_case(session, case_id, expected_version=expected_version)
    if case.status in (CaseStatus.FAILED, CaseStatus.RANDOMISED):
        raise RecordError(f"Case {case_id} is {case.status}; its criteria cannot change.")
    stored = {c.criterion_id: c for c in case.criteria}
    created: list[dict[str, Any]] = []
    changed = False
    for position, criterion in enumerate(eligibility.criteria):
        new = {
            "status": _status(criterion.status),
            "value": criterion.value,
            "source": _source(criterion.source),
            "raw": dict(criterion.raw),
        }
        row = stored.get(criterion.id)
        if row is None:
            row = CriterionRecord(criterion_id=criterion.id, position=position, **new)
            case.criteria.append(row)
            stored[criterion.id] = row
            created.append({"id": criterion.id, **new})
            continue
        old = {"status": row.status, "value": row.value, "source": row.source, "raw": row.raw}
        if old == new:
            continue
        changed = True
        for key, value in new.items():
            setattr(row, key, value)
        session.flush()
        record_event(
            session,
            actor=actor,
            action="update",
            entity="criterion",
            entity_id=row.id,
            case_id=case_id,
            field=criterion.id,
            old=old,
            new=new,
            reason=reason,
        )
    touch(case, actor)
    session.flush()
    if created:
        record_event(
            session,
            actor=actor,
            action="create",
            entity="criteria",
            entity_id=case_id,
            case_id=case_id,
            new=created,
            reason=reason,
        )
    if case.bclc_stage != eligibility.bclc.stage:
        _set_case_field(session, case, "bclc_stage", eligibility.bclc.stage, actor, reason)
    if (created or changed) and case.status in DECIDED:
        _set_case_field(
            session,
            case,
            "status",
            CaseStatus.PENDING,
            actor,
            "criteria changed after the decision",
        )
    return list(case.criteria)


def _set_case_field(
    session: Session,
    case: ScreeningCase,
    field: str,
    value: object,
    actor: str,
    reason: str | None,
) -> None:
    old = getattr(case, field)
    setattr(case, field, value)
    session.flush()
    record_event(
        session,
        actor=actor,
        action="update",
        entity="case",
        entity_id=case.id,
        case_id=case.id,
        field=field,
        old=old,
        new=value,
        reason=reason,
    )


def _status(value: str) -> CriterionStatus:
    try:
        return CriterionStatus(value)
    except ValueError as exc:
        raise RecordError(f"Criterion status '{value}' is not pass, fail or unknown.") from exc


def _source(value: str) -> CriterionSource:
    try:
        return CriterionSource(value)
    except ValueError as exc:
        raise RecordError(
            f"Criterion source '{value}' is not entered, measured, computed or model."
        ) from exc


def case_folder(root: Path | None) -> str | None:
    """The absolute case folder to record (None for loose files).

    It locates the inputs on this workstation for the worklist; it is not part of the audited
    record (the inputs' content hashes are), and no export shows it.
    """
    return os.path.abspath(root) if root is not None else None  # no syscalls: bulk imports


def relative_input_path(path: Path, root: Path | None) -> str:
    """``path`` relative to the case folder (POSIX separators), else its file name."""
    if root is None:
        return str(path.name)
    parts, base = path.parts, root.parts
    if len(parts) > len(base) and parts[: len(base)] == base:  # the common case, compared
        return "/".join(parts[len(base) :])  # part by part without formatting either path
    if path.is_relative_to(root):
        return str(path.relative_to(root).as_posix())
    return str(path.name)


def _input_json(row: InputFileRecord) -> dict[str, Any]:
    return {"path": row.path, "kind": row.kind, "sha256": row.sha256, "size": row.size_bytes}
