"""Database fixtures for the storage, audit and rules tests: every test on SQLite and PostgreSQL.

``storage_db`` is parametrised over ["sqlite", "postgresql"]; each test gets a fresh, migrated
database (a new SQLite file, or a new PostgreSQL schema on the server that scripts/test.sh
starts and names in ``NEOADJ_TEST_PG_URL``). Without that variable the PostgreSQL variants
fail when ``CI=true`` and are skipped otherwise.

Also builders for the record's inputs: cases with real files, real criteria results from
`app.rules`, and predictions shaped like `inference.runner.Prediction`.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.clinical import ClinicalData
from app.pseudonym import SiteSecret

if TYPE_CHECKING:  # imported lazily: conftest loads this module for every test run
    from app.rules.criteria import EligibilityResult
    from app.storage import Database

PG_URL_ENV = "NEOADJ_TEST_PG_URL"
POSTGRES_ONLY = pytest.param("postgresql", marks=pytest.mark.postgres)
"""For ``@pytest.mark.parametrize("storage_url", [POSTGRES_ONLY], indirect=True)``."""
BACKENDS = ["sqlite", POSTGRES_ONLY]


def postgres_base_url() -> str:
    """The test server's URL; fails under CI and skips locally when it is not set."""
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    message = (
        f"{PG_URL_ENV} is not set: run the tests through scripts/test.sh, which starts a "
        "PostgreSQL server on loopback"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database of the parametrised backend, dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'neoadj.db'}"
        return
    base = postgres_base_url()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def storage_db(storage_url: str) -> Iterator[Database]:
    """A freshly migrated `Database` of the parametrised backend."""
    from app.storage import open_database

    db = open_database(storage_url)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def site_secret() -> SiteSecret:
    """A fixed 32-byte test secret."""
    return SiteSecret(bytes(range(32)))


@dataclass(frozen=True)
class FakeInput:
    """An input file as `app.case.InputFile` describes it."""

    path: Path
    sha256: str
    size_bytes: int
    kind: str


@dataclass(frozen=True)
class FakeCase:
    """The attributes of `app.case.Case` that the record uses, over real files."""

    root: Path | None
    inputs: list[FakeInput]
    clinical: ClinicalData | None
    case_id: str
    synthetic: bool = True

    @property
    def content_hash(self) -> str:
        return hashlib.sha256("\n".join(sorted(f.sha256 for f in self.inputs)).encode()).hexdigest()


def make_case(
    root: Path,
    *,
    patient_id: str = "MRN-0001",
    site: str = "site-1",
    contents: Sequence[bytes] = (b"mri slice", b"slide", b"vcf"),
    clinical: ClinicalData | None = None,
) -> FakeCase:
    """A case folder under ``root`` with one file per content, hashed with hashlib."""
    root.mkdir(parents=True, exist_ok=True)
    kinds = ("mri", "slide", "genomics")
    inputs = []
    for i, content in enumerate(contents):
        path = root / kinds[i % 3] / f"file{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        inputs.append(
            FakeInput(path, hashlib.sha256(content).hexdigest(), len(content), kinds[i % 3])
        )
    data = clinical or eligible_clinical()
    return FakeCase(root, inputs, replace(data, patient_id=patient_id, site=site), root.name)


def eligible_clinical(**changes: object) -> ClinicalData:
    """A BCLC-B patient who meets every entered criterion (override fields with ``changes``)."""
    base = ClinicalData(
        date_of_birth=date(1970, 5, 1),
        sex="M",
        weight_kg=70.0,
        screening_date=date(2025, 6, 1),
        bilirubin=10.0,
        bilirubin_unit="umol/L",
        albumin=40.0,
        albumin_unit="g/L",
        inr=1.0,
        ascites="none",
        encephalopathy="none",
        ecog=0,
        nodule_count=4,
        largest_diameter_mm=40.0,
        macrovascular_invasion=False,
        extrahepatic_spread=False,
        prior_hcc_treatment=False,
        biopsy_confirmed_hcc=True,
        serious_organ_disease=False,
        pregnant_or_lactating=False,
        absorption_disorder=False,
        gi_bleeding_risk=False,
        active_infection=False,
        other_safety_abnormality=False,
        unable_to_follow_protocol=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def criteria_for(
    clinical: ClinicalData, *, probability: float | None = 0.8, threshold: float = 0.5
) -> EligibilityResult:
    """The real rules' result for ``clinical`` and a model output."""
    from app.rules.criteria import evaluate_criteria

    return evaluate_criteria(
        clinical,
        model_probability=probability,
        model_threshold=threshold if probability is not None else None,
    )


@dataclass(frozen=True)
class FakeCheckpoint:
    name: str = "neoadj-net-demo"
    version: str = "1.0.0"
    sha256: str = hashlib.sha256(b"checkpoint weights").hexdigest()
    synthetic: bool = True


@dataclass(frozen=True)
class FakePrediction:
    """Shaped like `inference.runner.Prediction`."""

    probability: float = 0.8
    threshold: float = 0.5
    device: str = "cpu"
    timings_s: dict[str, float] = field(default_factory=lambda: {"forward": 0.12, "total": 1.5})
    checkpoint: FakeCheckpoint = field(default_factory=FakeCheckpoint)
    modalities_used: list[str] = field(default_factory=lambda: ["mri", "slide", "genes"])
    modalities_missing: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def screened_case(
    db: Database,
    root: Path,
    secret: SiteSecret,
    *,
    patient_id: str,
    clinical: ClinicalData | None = None,
    probability: float = 0.8,
    site: str = "site-1",
    actor: str = "neoadj screen",
) -> int:
    """Import, predict and evaluate one case in one transaction; returns the case id."""
    from app.storage import record_criteria, record_import, record_prediction

    case = make_case(
        root / patient_id,
        patient_id=patient_id,
        site=site,
        contents=(f"{patient_id} mri".encode(), f"{patient_id} slide".encode()),
        clinical=clinical,
    )
    assert case.clinical is not None
    with db.transaction() as session:
        record = record_import(session, case, secret=secret, actor=actor)
        record_prediction(session, record.id, FakePrediction(probability=probability), actor=actor)
        record_criteria(
            session, record.id, criteria_for(case.clinical, probability=probability), actor=actor
        )
        return record.id
