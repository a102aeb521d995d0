"""The screening record: typed models, database setup with migrations, and the services.

- `models`: SQLAlchemy 2 models of the record (cases, inputs, predictions, artefacts,
  criteria, decisions, allocations, audit events).
- `database`: `open_database(url)` (SQLite by default, PostgreSQL by URL; migrations applied
  on start) returning a `Database` with read sessions and write transactions.
- `audit`: the hash-chained, append-only audit trail and `verify_chain`.
- `cases`, `screening`, `decisions`, `allocations`: the service functions that write the
  record, each with its audit event; `cohort_import`: a whole cohort's imports in one bulk
  insert per table (`bulk.insert_rows`); `screening_log`: the screening log and
  CONSORT counts; `worklist`: every case and where it stands, for the window's worklist.
"""

from app.storage.allocations import (
    AllocationResult,
    get_allocation,
    randomise,
    verify_allocations,
)
from app.storage.audit import ChainReport, case_history, record_event, verify_chain
from app.storage.cases import ensure_site, find_case, get_case, lock_case, resolve_case
from app.storage.cohort_import import CohortImport, record_imports
from app.storage.database import DB_URL_ENV, Database, default_database_url, open_database
from app.storage.decisions import (
    DecisionRecord,
    latest_decision,
    recommendation,
    record_decision,
)
from app.storage.errors import (
    CaseNotFoundError,
    ConflictError,
    DatabaseError,
    DecisionError,
    RecordError,
    database_reason,
)
from app.storage.inputs import ArtefactInput, EligibilityLike, PredictionLike
from app.storage.models import (
    Allocation,
    AuditEvent,
    CaseStatus,
    CriterionRecord,
    Decision,
    InputFileRecord,
    Outcome,
    Prediction,
    SaliencyArtefact,
    ScreeningCase,
)
from app.storage.screening import (
    record_criteria,
    record_explanation,
    record_failure,
    record_import,
    record_prediction,
)
from app.storage.worklist import RecordedCase, recorded_cases

__all__ = [
    "DB_URL_ENV",
    "Allocation",
    "AllocationResult",
    "ArtefactInput",
    "AuditEvent",
    "CaseNotFoundError",
    "CaseStatus",
    "ChainReport",
    "CohortImport",
    "ConflictError",
    "CriterionRecord",
    "Database",
    "DatabaseError",
    "Decision",
    "DecisionError",
    "DecisionRecord",
    "EligibilityLike",
    "InputFileRecord",
    "Outcome",
    "Prediction",
    "PredictionLike",
    "RecordError",
    "RecordedCase",
    "SaliencyArtefact",
    "ScreeningCase",
    "case_history",
    "database_reason",
    "default_database_url",
    "ensure_site",
    "find_case",
    "get_allocation",
    "get_case",
    "latest_decision",
    "lock_case",
    "open_database",
    "randomise",
    "recommendation",
    "record_criteria",
    "record_decision",
    "record_event",
    "record_explanation",
    "record_failure",
    "record_import",
    "record_imports",
    "record_prediction",
    "recorded_cases",
    "resolve_case",
    "verify_allocations",
    "verify_chain",
]
