"""The screening record as typed SQLAlchemy 2 models.

One `ScreeningCase` per screened patient (pseudonym only, never a name or identifier), with
its inputs and their content hashes, the model's predictions and saliency artefacts, the
protocol criteria, the reviewers' decisions, at most one randomised allocation, and an
append-only, hash-chained `AuditEvent` for every change. The database itself forbids UPDATE
and DELETE on `audit_event`, `decision` and `allocation` (triggers made by the migration).

Every timestamp is timezone-aware UTC; every sha256 is 64 lower-case hex characters.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.storage.types import UtcDateTime, utc_now

SHA256_LEN = 64
NAME_LEN = 100
PATH_LEN = 1024

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class CaseStatus(StrEnum):
    """Where a case stands in screening: "pending" awaits a (new) decision."""

    PENDING = "pending"
    FAILED = "failed"
    ELIGIBLE = "eligible"
    SCREEN_FAILURE = "screen_failure"
    DEFERRED = "deferred"
    RANDOMISED = "randomised"


class Outcome(StrEnum):
    """A reviewer's decision on a case."""

    ELIGIBLE = "eligible"
    SCREEN_FAILURE = "screen_failure"
    DEFERRED = "deferred"


class CriterionStatus(StrEnum):
    """A protocol criterion's result; for an exclusion, "pass" means the condition is absent."""

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class CriterionSource(StrEnum):
    """Where a criterion's value came from."""

    ENTERED = "entered"
    MEASURED = "measured"
    COMPUTED = "computed"
    MODEL = "model"


def _enum(enum_type: type[StrEnum]) -> Enum:
    """A VARCHAR column holding the enum's values (not names), portable to any database."""
    return Enum(
        enum_type,
        native_enum=False,
        length=max(len(m.value) for m in enum_type),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (the migration uses the same names)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        CaseStatus: _enum(CaseStatus),
        Outcome: _enum(Outcome),
        CriterionStatus: _enum(CriterionStatus),
        CriterionSource: _enum(CriterionSource),
    }


class Site(Base):
    """A recruiting site and the fingerprint of its secret (never the secret itself)."""

    __tablename__ = "site"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_fingerprint: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime] = mapped_column(default=utc_now)


class ScreeningCase(Base):
    """One screened patient: pseudonym, site, workflow status, and the version for locking.

    ``folder`` is the absolute case folder the inputs were imported from on the workstation
    that recorded them (None for loose files and cases recorded before it was kept): where
    the worklist re-imports the case from.
    """

    __tablename__ = "screening_case"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_sha256: Mapped[str] = mapped_column(String(SHA256_LEN), unique=True)
    pseudonym: Mapped[str | None] = mapped_column(String(SHA256_LEN), index=True)
    site_code: Mapped[str | None] = mapped_column(ForeignKey("site.code"))
    synthetic: Mapped[bool] = mapped_column(default=False)
    status: Mapped[CaseStatus]
    failure_message: Mapped[str | None] = mapped_column(Text)
    bclc_stage: Mapped[str | None] = mapped_column(String(2))
    folder: Mapped[str | None] = mapped_column(String(PATH_LEN))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_by: Mapped[str] = mapped_column(String(NAME_LEN))
    version: Mapped[int] = mapped_column()

    inputs: Mapped[list[InputFileRecord]] = relationship(
        back_populates="case", order_by="InputFileRecord.path"
    )
    predictions: Mapped[list[Prediction]] = relationship(
        back_populates="case", order_by="Prediction.id"
    )
    saliency: Mapped[list[SaliencyArtefact]] = relationship(
        back_populates="case", order_by="SaliencyArtefact.id"
    )
    criteria: Mapped[list[CriterionRecord]] = relationship(
        back_populates="case", order_by="CriterionRecord.position"
    )
    decisions: Mapped[list[Decision]] = relationship(back_populates="case", order_by="Decision.id")
    allocation: Mapped[Allocation | None] = relationship(back_populates="case")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads a dict)


class InputFileRecord(Base):
    """One input file of a case: path relative to the case folder, kind and content hash."""

    __tablename__ = "input_file"
    __table_args__ = (UniqueConstraint("case_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("screening_case.id"), index=True)
    path: Mapped[str] = mapped_column(String(PATH_LEN))
    kind: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(SHA256_LEN))
    size_bytes: Mapped[int] = mapped_column(BigInteger)

    case: Mapped[ScreeningCase] = relationship(back_populates="inputs")


class Prediction(Base):
    """One run of the model on a case: probability, threshold, checkpoint, device and timings."""

    __tablename__ = "prediction"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("screening_case.id"), index=True)
    probability: Mapped[float]
    threshold: Mapped[float]
    checkpoint_name: Mapped[str] = mapped_column(String(NAME_LEN))
    checkpoint_version: Mapped[str] = mapped_column(String(32))
    checkpoint_sha256: Mapped[str] = mapped_column(String(SHA256_LEN))
    synthetic: Mapped[bool]
    device: Mapped[str] = mapped_column(String(32))
    timings_s: Mapped[dict[str, Any]]
    modalities_used: Mapped[list[str]]
    modalities_missing: Mapped[list[str]]
    flags: Mapped[list[str]]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    case: Mapped[ScreeningCase] = relationship(back_populates="predictions")

    @property
    def recommends_treatment(self) -> bool:
        """Whether the model predicts benefit (probability >= threshold)."""
        return self.probability >= self.threshold


class SaliencyArtefact(Base):
    """A saved explanation (saliency volume, heatmap, attribution table) with its hash."""

    __tablename__ = "saliency_artefact"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("screening_case.id"), index=True)
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("prediction.id"))
    kind: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(PATH_LEN))
    sha256: Mapped[str] = mapped_column(String(SHA256_LEN))
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    case: Mapped[ScreeningCase] = relationship(back_populates="saliency")


class CriterionRecord(Base):
    """One protocol criterion of a case (I1-I8, E1-E6) with its value and source."""

    __tablename__ = "criterion_result"
    __table_args__ = (UniqueConstraint("case_id", "criterion_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("screening_case.id"), index=True)
    criterion_id: Mapped[str] = mapped_column(String(8))
    position: Mapped[int]
    status: Mapped[CriterionStatus]
    value: Mapped[str] = mapped_column(Text)
    source: Mapped[CriterionSource]
    raw: Mapped[dict[str, Any]]

    case: Mapped[ScreeningCase] = relationship(back_populates="criteria")


class Decision(Base):
    """A reviewer's decision; rows are never changed (the latest one holds)."""

    __tablename__ = "decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("screening_case.id"), index=True)
    outcome: Mapped[Outcome]
    failed_criteria: Mapped[list[str]]
    recommended: Mapped[Outcome]
    overrides_recommendation: Mapped[bool]
    rationale: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(NAME_LEN))
    decided_at: Mapped[datetime] = mapped_column(default=utc_now)

    case: Mapped[ScreeningCase] = relationship(back_populates="decisions")


class StratumCounter(Base):
    """The next free sequence index of a randomisation stratum (site, BCLC stage)."""

    __tablename__ = "stratum_counter"

    site_code: Mapped[str] = mapped_column(ForeignKey("site.code"), primary_key=True)
    bclc_stage: Mapped[str] = mapped_column(String(2), primary_key=True)
    next_index: Mapped[int] = mapped_column(default=0)


class Allocation(Base):
    """The randomised arm of a case; at most one per case, never changed."""

    __tablename__ = "allocation"
    __table_args__ = (UniqueConstraint("site_code", "bclc_stage", "sequence_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("screening_case.id"), unique=True)
    site_code: Mapped[str] = mapped_column(ForeignKey("site.code"))
    bclc_stage: Mapped[str] = mapped_column(String(2))
    sequence_index: Mapped[int]
    arm: Mapped[str] = mapped_column(String(32))
    scheme: Mapped[str] = mapped_column(String(100))
    allocated_by: Mapped[str] = mapped_column(String(NAME_LEN))
    allocated_at: Mapped[datetime] = mapped_column(default=utc_now)

    case: Mapped[ScreeningCase] = relationship(back_populates="allocation")


class AuditEvent(Base):
    """One change: who, when, what (entity, field), old -> new (canonical JSON), why.

    ``hash`` is sha256 over the canonical JSON of every other column, ``prev_hash`` included,
    so editing, deleting, inserting or reordering any event breaks the chain.
    """

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(NAME_LEN))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("screening_case.id"))
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(SHA256_LEN), unique=True)
    hash: Mapped[str] = mapped_column(String(SHA256_LEN), unique=True)

    __table_args__ = (Index("ix_audit_event_case_id_seq", "case_id", "seq"),)


class AuditHead(Base):
    """The single row naming the chain's last event (seq 0 and the genesis hash when empty).

    Appenders lock this row, so concurrent writers extend the chain one after the other; a
    trigger refuses an event that does not extend it and moves it to each new event.
    """

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(SHA256_LEN))


APPEND_ONLY_TABLES = ("audit_event", "decision", "allocation")
"""Tables on which the database refuses UPDATE and DELETE."""
