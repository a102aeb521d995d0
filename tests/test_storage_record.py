"""Recording a case: inputs with hashes, prediction, explanation, criteria; atomic, idempotent."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.pseudonym import SiteSecret, SiteSecretError
from app.storage import (
    ArtefactInput,
    AuditEvent,
    CaseStatus,
    Database,
    RecordError,
    ScreeningCase,
    find_case,
    get_case,
    record_criteria,
    record_decision,
    record_explanation,
    record_failure,
    record_import,
    record_prediction,
    verify_chain,
)
from app.storage.models import AuditHead, CriterionRecord, Prediction
from tests.conftest import REPO_ROOT
from tests.storage_fixtures import (
    FakeCheckpoint,
    FakePrediction,
    criteria_for,
    eligible_clinical,
    make_case,
    screened_case,
)

ACTOR = "neoadj screen"


def _count(db: Database, model: type) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_import_records_each_input_with_its_relative_path_kind_and_hash(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case = make_case(tmp_path / "case-1", contents=(b"arterial", b"slide tile", b"variants"))
    with storage_db.transaction() as session:
        record_import(session, case, secret=site_secret, actor=ACTOR)
    with storage_db.session() as session:
        record = find_case(session, case.content_hash)
        assert record is not None
        assert record.status is CaseStatus.PENDING
        assert record.site_code == "site-1"
        assert record.synthetic
        stored = {(i.path, i.kind, i.sha256, i.size_bytes) for i in record.inputs}
    on_disk = {
        (
            p.relative_to(tmp_path / "case-1").as_posix(),
            p.parent.name,
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_size,
        )
        for p in (tmp_path / "case-1").rglob("*.bin")
    }
    assert stored == on_disk
    assert {path for path, *_ in stored} == {
        "mri/file0.bin",
        "slide/file1.bin",
        "genomics/file2.bin",
    }


def test_importing_the_same_inputs_again_returns_the_recorded_case(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case = make_case(tmp_path / "case-1")
    with storage_db.transaction() as session:
        first = record_import(session, case, secret=site_secret, actor=ACTOR)
    events = _count(storage_db, AuditEvent)
    with storage_db.transaction() as session:
        again = record_import(session, case, secret=site_secret, actor=ACTOR)
    assert again.id == first.id
    assert _count(storage_db, ScreeningCase) == 1
    assert _count(storage_db, AuditEvent) == events
    other = make_case(tmp_path / "case-2", contents=(b"other patient",), patient_id="MRN-2")
    with storage_db.transaction() as session:
        assert record_import(session, other, secret=site_secret, actor=ACTOR).id != first.id


def test_a_failed_case_is_recorded_once_and_completed_by_a_later_import(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case = make_case(tmp_path / "case-1")
    for _ in range(2):
        with storage_db.transaction() as session:
            failed = record_failure(
                session, content_sha256=case.content_hash, message="slide unreadable", actor=ACTOR
            )
    assert failed.status is CaseStatus.FAILED
    assert _count(storage_db, ScreeningCase) == 1
    with storage_db.transaction() as session:
        done = record_import(session, case, secret=site_secret, actor=ACTOR)
    assert done.id == failed.id
    with storage_db.session() as session:
        record = get_case(session, done.id)
        assert record.status is CaseStatus.PENDING
        assert record.failure_message is None
        assert len(record.inputs) == 3
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.case_id == done.id).order_by(AuditEvent.seq)
        ).all()
    assert actions == ["create", "update"]


def test_import_needs_a_site_and_inputs(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case = make_case(tmp_path / "case-1")
    no_site = replace(case, clinical=replace(case.clinical, site=None))  # type: ignore[type-var]
    with pytest.raises(RecordError, match="no site"), storage_db.transaction() as session:
        record_import(session, no_site, secret=site_secret, actor=ACTOR)
    with pytest.raises(RecordError, match="no inputs"), storage_db.transaction() as session:
        record_import(session, replace(case, inputs=[]), secret=site_secret, actor=ACTOR)
    with pytest.raises(RecordError, match="reviewer name"), storage_db.transaction() as session:
        record_import(session, case, secret=site_secret, actor="  ")


def test_a_site_keeps_its_secret(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    with storage_db.transaction() as session:
        record_import(session, make_case(tmp_path / "a"), secret=site_secret, actor=ACTOR)
    other = make_case(tmp_path / "b", contents=(b"b",), patient_id="MRN-B")
    with pytest.raises(SiteSecretError, match="site-1"), storage_db.transaction() as session:
        record_import(session, other, secret=SiteSecret(b"x" * 32), actor=ACTOR)


def test_prediction_is_stored_with_its_checkpoint_device_and_timings(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    given = FakePrediction(probability=0.37, threshold=0.42, modalities_missing=["slide"])
    with storage_db.transaction() as session:
        case = record_import(session, make_case(tmp_path / "c"), secret=site_secret, actor=ACTOR)
        record_prediction(session, case.id, given, actor=ACTOR)
    with storage_db.session() as session:
        row = session.scalars(select(Prediction)).one()
    assert (row.probability, row.threshold) == (0.37, 0.42)
    assert not row.recommends_treatment
    assert row.checkpoint_sha256 == hashlib.sha256(b"checkpoint weights").hexdigest()
    assert (row.checkpoint_name, row.checkpoint_version, row.synthetic) == (
        "neoadj-net-demo",
        "1.0.0",
        True,
    )
    assert row.timings_s == {"forward": 0.12, "total": 1.5}
    assert (row.device, row.modalities_missing) == ("cpu", ["slide"])


@pytest.mark.parametrize(
    ("prediction", "message"),
    [
        (FakePrediction(probability=1.5), "probability must be within 0-1"),
        (FakePrediction(probability=float("nan")), "probability must be within 0-1"),
        (FakePrediction(threshold=-0.1), "threshold must be within 0-1"),
        (FakePrediction(checkpoint=FakeCheckpoint(sha256="abc")), "not 64 lower-case hex"),
    ],
)
def test_bad_predictions_are_refused(
    storage_db: Database,
    site_secret: SiteSecret,
    tmp_path: Path,
    prediction: FakePrediction,
    message: str,
) -> None:
    with pytest.raises(RecordError, match=message), storage_db.transaction() as session:
        case = record_import(session, make_case(tmp_path / "c"), secret=site_secret, actor=ACTOR)
        record_prediction(session, case.id, prediction, actor=ACTOR)
    assert _count(storage_db, ScreeningCase) == 0


def test_explanation_artefacts_are_stored_with_their_hashes(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    out = tmp_path / "explain"
    (out / "mri").mkdir(parents=True)
    (out / "mri" / "saliency.npy").write_bytes(b"\x93NUMPY saliency")
    artefact = ArtefactInput.from_file(
        "mri_saliency", out / "mri" / "saliency.npy", out, {"method": "integrated_gradients"}
    )
    assert artefact.path == "mri/saliency.npy"
    assert artefact.sha256 == hashlib.sha256(b"\x93NUMPY saliency").hexdigest()
    with storage_db.transaction() as session:
        case = record_import(session, make_case(tmp_path / "c"), secret=site_secret, actor=ACTOR)
        prediction = record_prediction(session, case.id, FakePrediction(), actor=ACTOR)
        rows = record_explanation(
            session, case.id, [artefact], prediction_id=prediction.id, actor=ACTOR
        )
    assert [(r.kind, r.path, r.sha256, r.details) for r in rows] == [
        ("mri_saliency", "mri/saliency.npy", artefact.sha256, {"method": "integrated_gradients"})
    ]
    with pytest.raises(RecordError, match="not 64 lower-case hex"):
        ArtefactInput("mri_saliency", "x.npy", "XYZ")


def test_criteria_are_stored_in_protocol_order_with_value_and_source(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    clinical = eligible_clinical(biopsy_confirmed_hcc=None, ecog=1)
    expected = criteria_for(clinical)
    case_id = screened_case(
        storage_db, tmp_path, site_secret, patient_id="MRN-5", clinical=clinical
    )
    with storage_db.session() as session:
        case = get_case(session, case_id)
        stored = [(c.criterion_id, c.status.value, c.value, c.source.value) for c in case.criteria]
        assert case.bclc_stage == expected.bclc.stage == "C"  # ECOG 1 makes it BCLC-C
    assert stored == [(c.id, c.status, c.value, c.source) for c in expected.criteria]
    assert dict((cid, status) for cid, status, *_ in stored)["I7"] == "unknown"


def test_edited_criteria_log_old_and_new_and_send_a_decided_case_back_to_pending(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    clinical = eligible_clinical()
    case_id = screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-6")
    with storage_db.transaction() as session:
        record_decision(session, case_id, "eligible", reviewer="Dr A")
    edited = replace(clinical, active_infection=True)
    with storage_db.transaction() as session:
        record_criteria(
            session, case_id, criteria_for(edited), actor="Dr B", reason="CRP 180 mg/L today"
        )
    with storage_db.session() as session:
        case = get_case(session, case_id)
        assert case.status is CaseStatus.PENDING
        e4 = session.scalars(
            select(CriterionRecord).where(
                CriterionRecord.case_id == case_id, CriterionRecord.criterion_id == "E4"
            )
        ).one()
        assert e4.status.value == "fail"
        updates = session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.actor == "Dr B")
        ).all()
    criterion_events = [e for e in updates if e.entity == "criterion"]
    assert [e.field for e in criterion_events] == ["E4"]
    change = criterion_events[0]
    assert json.loads(change.old_value or "")["status"] == "pass"
    assert json.loads(change.new_value or "")["status"] == "fail"
    assert change.reason == "CRP 180 mg/L today"
    status_events = [e for e in updates if e.field == "status"]
    assert [(e.old_value, e.new_value) for e in status_events] == [('"eligible"', '"pending"')]


def test_criteria_of_a_failed_case_cannot_be_recorded(storage_db: Database, tmp_path: Path) -> None:
    with storage_db.transaction() as session:
        failed = record_failure(
            session, content_sha256="a" * 64, message="no MRI series found", actor=ACTOR
        )
    with pytest.raises(RecordError, match="failed"), storage_db.transaction() as session:
        record_criteria(session, failed.id, criteria_for(eligible_clinical()), actor=ACTOR)


def test_an_error_midway_leaves_no_partial_record(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case = make_case(tmp_path / "c")
    with pytest.raises(KeyboardInterrupt), storage_db.transaction() as session:
        record = record_import(session, case, secret=site_secret, actor=ACTOR)
        record_prediction(session, record.id, FakePrediction(), actor=ACTOR)
        raise KeyboardInterrupt
    assert _count(storage_db, ScreeningCase) == 0
    assert _count(storage_db, AuditEvent) == 0
    with storage_db.session() as session:
        assert session.get(AuditHead, 1).seq == 0  # type: ignore[union-attr]


_WRITER = """
import sys, time
from pathlib import Path
from app.pseudonym import SiteSecret
from app.storage import open_database, record_import, record_prediction
from tests.storage_fixtures import FakePrediction, make_case
db = open_database(sys.argv[1])
case = make_case(Path(sys.argv[2]), patient_id="MRN-KILL")
with db.transaction() as session:
    secret = SiteSecret(bytes(range(32)))
    record = record_import(session, case, secret=secret, actor="neoadj screen")
    record_prediction(session, record.id, FakePrediction(), actor="neoadj screen")
    session.flush()
    print("written", flush=True)
    time.sleep(120)
"""


def test_kill_9_in_the_middle_of_a_case_leaves_nothing_and_a_rerun_finishes(
    storage_url: str, site_secret: SiteSecret, tmp_path: Path
) -> None:
    from app.storage import open_database

    open_database(storage_url).dispose()  # migrated before the writer starts
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, storage_url, str(tmp_path / "case")],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "written"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    db = open_database(storage_url)
    try:
        assert _count(db, ScreeningCase) == 0
        assert _count(db, AuditEvent) == 0
        with db.session() as session:
            assert verify_chain(session).ok
        case = make_case(tmp_path / "case", patient_id="MRN-KILL")
        with db.transaction() as session:
            record = record_import(session, case, secret=site_secret, actor=ACTOR)
            record_prediction(session, record.id, FakePrediction(), actor=ACTOR)
        assert _count(db, ScreeningCase) == 1
        with db.session() as session:
            assert verify_chain(session).ok
    finally:
        db.dispose()
