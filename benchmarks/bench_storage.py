"""The screening record: one decision with its audit event (p99), and a cohort's bulk import.

Runs on SQLite (WAL, a file in the work folder) and on a throw-away PostgreSQL server that
``scripts/postgres.sh`` starts on a free loopback port (stopped afterwards). Ours records the
cohort with `record_imports` (pseudonyms, validation, the audit hash chain, one transaction).
The reference inserts exactly the rows ours wrote (sites, cases, inputs, audit events, read
back from our database) into a fresh database of the same schema with SQLAlchemy Core
``executemany``, one statement per table, in one transaction; the same triggers fire.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Table, create_engine, select
from sqlalchemy.engine import make_url

from app.clinical import ClinicalData
from app.pseudonym import SiteSecret
from app.rules import evaluate_criteria
from app.storage import (
    Database,
    open_database,
    record_criteria,
    record_decision,
    record_import,
    record_imports,
)
from app.storage.models import Base
from benchmarks.framework import Result, is_quick

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
ACTOR = "bench"
SECRET = SiteSecret(b"benchmark-site-secret-32-bytes!!")
COPIED_TABLES = ("site", "screening_case", "input_file", "audit_event")
"""What `record_imports` writes (plus the audit head, which the audit trigger moves)."""


@dataclass(frozen=True)
class _Input:
    path: Path
    sha256: str
    size_bytes: int
    kind: str


@dataclass(frozen=True)
class _Case:
    """A `CaseLike` of the screening cohort: two inputs (MRI series and slide) with hashes."""

    root: Path
    inputs: tuple[_Input, ...]
    clinical: ClinicalData
    case_id: str
    content_hash: str
    synthetic: bool = True


def _clinical(index: int) -> ClinicalData:
    """A BCLC-B patient meeting every entered criterion (site C1..C6 in turn)."""
    from datetime import date

    return ClinicalData(
        date_of_birth=date(1950 + index % 30, 1 + index % 12, 1),
        sex="M" if index % 3 else "F",
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
        patient_id=f"BENCH-{index:05d}",
        site=f"C{1 + index % 6}",
    )


def cohort(count: int, root: Path) -> list[_Case]:
    """`count` synthetic screening cases (no files are read: hashes are given)."""
    cases = []
    for i in range(count):
        inputs = tuple(
            _Input(
                root / f"case{i:05d}" / name,
                hashlib.sha256(f"{i}-{name}".encode()).hexdigest(),
                1000 + i,
                kind,
            )
            for name, kind in (("mri/IM0001.dcm", "mri"), ("slide.tiff", "slide"))
        )
        digest = hashlib.sha256("".join(f.sha256 for f in inputs).encode()).hexdigest()
        cases.append(_Case(root / f"case{i:05d}", inputs, _clinical(i), f"BENCH{i:05d}", digest))
    return cases


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """A throw-away PostgreSQL server (scripts/postgres.sh); yields its SQLAlchemy URL."""
    script = REPO / "scripts" / "postgres.sh"
    url = subprocess.run(
        ["bash", str(script), "start", str(folder), str(_free_port())],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run(["bash", str(script), "stop", str(folder)], check=False)


def _database_url(base: str, name: str) -> str:
    """A new database `name` on the server of `base` (PostgreSQL)."""
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def decision_latency(db: Database, work: Path, saves: int) -> list[float]:
    """Seconds of each `record_decision` transaction, on 20 screened cases in turn."""
    case_ids = []
    for case in cohort(20, work / "decide"):
        with db.transaction() as session:
            record = record_import(session, case, secret=SECRET, actor=ACTOR)
            result = evaluate_criteria(case.clinical, model_probability=0.8, model_threshold=0.5)
            record_criteria(session, record.id, result, actor=ACTOR)
            case_ids.append(record.id)
    times = []
    for n in range(saves):
        case_id = case_ids[n % len(case_ids)]
        eligible = (n // len(case_ids)) % 2 == 0
        t0 = time.perf_counter()
        with db.transaction() as session:
            record_decision(
                session,
                case_id,
                "eligible" if eligible else "deferred",
                reviewer="Dr Bench",
                rationale=None if eligible else "waiting for the MDT's radiology review",
            )
        times.append(time.perf_counter() - t0)
    return times


def bulk_import(db: Database, cases: list[_Case]) -> float:
    """Seconds to record every case's import through `record_imports`, one transaction."""
    t0 = time.perf_counter()
    with db.transaction() as session:
        result = record_imports(session, cases, secret=SECRET, actor=ACTOR)
    elapsed = time.perf_counter() - t0
    if result.created != len(cases):
        raise RuntimeError(f"bulk import created {result.created} of {len(cases)} cases")
    return elapsed


def executemany_copy(source: Database, target: Database) -> tuple[float, int]:
    """Seconds to insert `source`'s import rows into `target` with Core executemany; rows."""
    tables: list[Table] = [Base.metadata.tables[name] for name in COPIED_TABLES]
    with source.engine.connect() as conn:
        rows = {
            t.name: [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key))]
            for t in tables
        }
    t0 = time.perf_counter()
    with target.engine.begin() as conn:
        for table in tables:
            conn.execute(table.insert(), rows[table.name])
    return time.perf_counter() - t0, sum(len(r) for r in rows.values())


def bulk_rounds(
    url_for: Callable[[str], str], cases: list[_Case], rounds: int
) -> tuple[float, float, int]:
    """Median seconds of ours and of the reference over `rounds` rounds, each into fresh
    databases (ours first: the reference copies the rows ours wrote); the rows copied."""
    ours_s, ref_s, row_count = [], [], 0
    for k in range(rounds):
        ours_db, ref_db = open_database(url_for(f"ours{k}")), open_database(url_for(f"ref{k}"))
        try:
            ours_s.append(bulk_import(ours_db, cases))
            t_ref, row_count = executemany_copy(ours_db, ref_db)
            ref_s.append(t_ref)
        finally:
            ours_db.dispose()
            ref_db.dispose()
    return statistics.median(ours_s), statistics.median(ref_s), row_count


def _backend_rows(
    label: str, url_for: Callable[[str], str], work: Path, saves: int, n: int, rounds: int
) -> list[Result]:
    db = open_database(url_for("decide"))
    try:
        times = np.array(decision_latency(db, work, saves))
    finally:
        db.dispose()
    p99_ms = float(np.percentile(times, 99) * 1e3)
    rows = [
        Result(
            f"save one decision + audit event, p99, {label}",
            p99_ms,
            None,
            None,
            "<= 5 ms",
            p99_ms <= 5.0,
            "ms",
            f"{saves} saves, median {np.median(times) * 1e3:.2f} ms",
        )
    ]
    t_ours, t_ref, row_count = bulk_rounds(url_for, cohort(n, work / "cohort"), rounds)
    ratio = t_ref / t_ours
    rows.append(
        Result(
            f"bulk import of {n} cases into the record, {label}, vs Core executemany",
            n / t_ours,
            n / t_ref,
            ratio,
            ">= 0.8x",
            ratio >= 0.8,
            "cases/s",
            f"the same {row_count} rows (sites, cases, inputs, audit events), one transaction; "
            f"median of {rounds} rounds into fresh databases",
        )
    )
    return rows


def run(work: Path, shared_data: Path) -> list[Result]:
    """SQLite (WAL) first, then PostgreSQL on loopback."""
    quick = is_quick()
    saves, n, rounds = (100, 200, 1) if quick else (500, 2000, 3)
    rows = _backend_rows(
        "SQLite (WAL)", lambda k: f"sqlite:///{work / f'{k}.db'}", work, saves, n, rounds
    )
    # The server runs as the postgres user: its folder must not sit under the private work dir.
    pg_dir = Path(tempfile.mkdtemp(prefix="neoadj-bench-pg-"))
    pg_dir.chmod(0o755)
    try:
        with postgres_server(pg_dir / "server") as base:
            rows += _backend_rows(
                "PostgreSQL", lambda k: _database_url(base, f"bench_{k}"), work, saves, n, rounds
            )
    finally:
        shutil.rmtree(pg_dir, ignore_errors=True)
    return rows
