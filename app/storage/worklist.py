"""What the worklist reads from the screening record: every case and where it stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.storage.models import CaseStatus, ScreeningCase

_LISTING = select(
    ScreeningCase.id,
    ScreeningCase.pseudonym,
    ScreeningCase.status,
    ScreeningCase.synthetic,
    ScreeningCase.folder,
    ScreeningCase.content_sha256,
    ScreeningCase.updated_at,
).order_by(ScreeningCase.updated_at.desc(), ScreeningCase.id.desc())


@dataclass(frozen=True)
class RecordedCase:
    """One recorded case as the worklist lists it (no patient identifier).

    Attributes:
        record_id: The case's record id.
        pseudonym: Its keyed-hash pseudonym (64 hex characters); None for a case recorded
            as failed before its import.
        status: Where it stands in screening.
        synthetic: Whether its data are synthetic.
        folder: The absolute case folder its inputs were imported from; None when unknown.
        content_sha256: The content hash of its inputs (`app.case.Case.content_hash`).
        updated_at: When its record last changed (UTC).
    """

    record_id: int
    pseudonym: str | None
    status: CaseStatus
    synthetic: bool
    folder: Path | None
    content_sha256: str
    updated_at: datetime


def recorded_cases(session: Session) -> list[RecordedCase]:
    """Every case of the record, the most recently changed first."""
    return [
        RecordedCase(
            record_id=row.id,
            pseudonym=row.pseudonym,
            status=row.status,
            synthetic=row.synthetic,
            folder=Path(row.folder) if row.folder else None,
            content_sha256=row.content_sha256,
            updated_at=row.updated_at,
        )
        for row in session.execute(_LISTING)
    ]
