"""``neoadj screen`` on SQLite and PostgreSQL: complete records, failures, re-runs, export.

Expected values come from independent runs: the content hash from hashlib over the files,
the probability from `predict_case` on the same case, the criteria from `evaluate_criteria`
on the case's clinical.json, the pseudonym from the site secret.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.case import Case, load_case
from app.cli import main
from app.clinical import ClinicalData
from app.commands.screen_model import CheckpointModel
from app.errors import Cancelled
from app.progress import ProgressFn
from app.pseudonym import pseudonymise
from app.rules import evaluate_criteria
from app.screening.batch import ACTOR, ModelResult, screen_batch
from app.screening.outcome import CaseOutcome, CaseState
from app.storage import (
    CriterionRecord,
    Decision,
    InputFileRecord,
    Prediction,
    ScreeningCase,
    find_case,
    open_database,
    verify_chain,
)
from inference.checkpoint import load_checkpoint
from inference.runner import predict_case
from tests.screen_fixtures import fixed_secret, input_hash, make_root, screen_args

CRITERIA = 14


def _counts(url: str) -> dict[str, int]:
    db = open_database(url, create=False)
    try:
        with db.session() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (ScreeningCase, InputFileRecord, Prediction, CriterionRecord, Decision)
            }
    finally:
        db.dispose()


def test_batch_records_every_case_completely_and_a_rerun_skips_them(
    storage_url: str,
    synthetic_cases: list[Path],
    tiny_checkpoint: Path,
    secret_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cases = synthetic_cases[:3]
    root = make_root(tmp_path / "root", cases, garbage=True, genes_only=True)
    args = screen_args(root, storage_url, tiny_checkpoint, secret_file, "--no-explain")

    assert main(args) == 1  # two cases fail
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["screened"] == 3 and summary["skipped"] == 0
    failed = {f["case"]: f["message"] for f in summary["failed"]}
    assert set(failed) == {"garbage", "genes-only"}
    assert "scan.dcm" in failed["garbage"]
    assert "no MRI and no slide" in failed["genes-only"]
    assert summary["cases_per_minute"] > 0
    for i, case in enumerate(sorted(p.name for p in root.iterdir()), start=1):
        assert f"[{i}/5] {case}: " in captured.err  # one plain progress line per case
    results = {r["case"]: r for r in summary["results"]}

    checkpoint = load_checkpoint(tiny_checkpoint)
    db = open_database(storage_url)
    try:
        with db.session() as session:
            for folder in cases:
                record = find_case(session, input_hash(folder))
                assert record is not None, folder.name
                clinical = ClinicalData.from_json_file(folder / "clinical.json")
                assert clinical.patient_id is not None
                assert record.pseudonym == pseudonymise(clinical.patient_id, fixed_secret())
                assert record.site_code == clinical.site and record.synthetic
                files = [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".tbi"]
                assert len(record.inputs) == len(files)

                expected_p = predict_case(load_case([folder]), checkpoint).probability
                (prediction,) = record.predictions
                assert prediction.probability == pytest.approx(expected_p, abs=1e-6)
                assert (
                    prediction.checkpoint_sha256
                    == hashlib.sha256(
                        (tiny_checkpoint / "model.safetensors").read_bytes()
                    ).hexdigest()
                )

                expected = evaluate_criteria(
                    clinical,
                    model_probability=expected_p,
                    model_threshold=0.5,
                    model_synthetic=True,
                )
                stored = {c.criterion_id: c.status.value for c in record.criteria}
                assert stored == {c.id: c.status for c in expected.criteria}
                assert len(stored) == CRITERIA

                (decision,) = record.decisions
                assert decision.outcome.value == "deferred" and decision.reviewer == ACTOR
                for cid in expected.failed:
                    assert cid in (decision.rationale or "")
                assert record.status.value == "deferred"

                result = results[folder.name]
                assert result["state"] == "screened" and result["decision"] == "deferred"
                assert result["status"] == expected.status
                assert result["failed_criteria"] == list(expected.failed)
                assert result["probability"] == pytest.approx(expected_p, abs=1e-6)
            failed_rows = session.scalars(
                select(ScreeningCase).where(ScreeningCase.status == "failed")
            ).all()
            assert len(failed_rows) == 2
            assert all(r.failure_message and not r.predictions for r in failed_rows)
            assert not verify_chain(session).problems
    finally:
        db.dispose()
    before = _counts(storage_url)
    assert before == {
        "screening_case": 5,
        "input_file": before["input_file"],
        "prediction": 3,
        "criterion_result": 3 * CRITERIA,
        "decision": 3,
    }

    assert main(args) == 1  # the re-run skips what is done and tries the failed cases again
    again = json.loads(capsys.readouterr().out)
    assert again["screened"] == 0 and again["skipped"] == 3 and len(again["failed"]) == 2
    assert {r["case"]: r["status"] for r in again["results"] if r["state"] == "skipped"} == {
        c.name: results[c.name]["status"] for c in cases
    }
    assert _counts(storage_url) == before

    out = tmp_path / "log.csv"
    assert main(["export-log", "--out", str(out), "--db", storage_url]) == 0
    capsys.readouterr()
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["status"] for r in rows) == ["deferred"] * 3 + ["failed"] * 2
    assert {r["reviewer"] for r in rows if r["status"] == "deferred"} == {ACTOR}
    counts = json.loads(out.with_suffix(".json").read_text())
    assert counts["screened"] == 3 and counts["not_processed"] == 2 and counts["deferred"] == 3


def test_no_patient_identifier_reaches_the_database_or_the_output(
    synthetic_cases: list[Path],
    tiny_checkpoint: Path,
    secret_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = synthetic_cases[0]
    patient_id = json.loads((folder / "clinical.json").read_text())["patient_id"]
    root = make_root(tmp_path / "root", [folder])
    db_file = tmp_path / "screen.db"
    url = f"sqlite:///{db_file}"
    assert main(screen_args(root, url, tiny_checkpoint, secret_file, "--no-explain")) == 0
    captured = capsys.readouterr()
    assert patient_id not in captured.out + captured.err
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("screen.db*"))
    assert patient_id.encode() not in stored
    assert pseudonymise(patient_id, fixed_secret()).encode() in stored


@pytest.mark.slow
def test_explanations_are_recorded_with_the_hashes_of_the_files_written(
    synthetic_cases: list[Path],
    tiny_checkpoint: Path,
    secret_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = synthetic_cases[1]
    root = make_root(tmp_path / "root", [folder])
    url = f"sqlite:///{tmp_path / 'screen.db'}"
    artefacts = tmp_path / "explanations"
    args = screen_args(root, url, tiny_checkpoint, secret_file, "--artefacts", str(artefacts))
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    explained = artefacts / input_hash(folder)
    manifest = json.loads((explained / "explanation.json").read_text())
    db = open_database(url)
    try:
        with db.session() as session:
            record = find_case(session, input_hash(folder))
            assert record is not None
            rows = list(record.saliency)
            (prediction,) = record.predictions
    finally:
        db.dispose()
    assert summary["results"][0]["artefacts"] == len(rows)
    assert {r.prediction_id for r in rows} == {prediction.id}
    by_path = {r.path: r for r in rows}
    listed = {a["path"]: a["sha256"] for a in manifest["artefacts"]}
    assert set(by_path) == set(listed) | {"explanation.json"}
    for path, row in by_path.items():
        assert row.sha256 == hashlib.sha256((explained / path).read_bytes()).hexdigest()
        assert row.details["explanation_dir"] == str(explained)
    kinds = {r.kind for r in rows}
    assert {"mri_saliency", "slide_heatmap", "gene_attribution", "explanation_manifest"} <= kinds
    assert manifest["prediction"] == pytest.approx(prediction.probability, abs=1e-5)


class _FailingModel:
    """The real model, but one case raises an unexpected error (a bug in a step)."""

    def __init__(self, model: CheckpointModel, failing_case_id: str) -> None:
        self.model, self.failing = model, failing_case_id

    def run(
        self,
        case: Case,
        *,
        explain_dir: Path | None,
        progress: ProgressFn,
        cancel: threading.Event | None,
    ) -> ModelResult:
        if case.case_id == self.failing:
            raise RuntimeError("boom")
        return self.model.run(case, explain_dir=explain_dir, progress=progress, cancel=cancel)


def test_an_unexpected_error_fails_one_case_and_the_batch_goes_on(
    synthetic_cases: list[Path], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    folders = synthetic_cases[:2]
    db = open_database(f"sqlite:///{tmp_path / 'screen.db'}")
    try:
        model = _FailingModel(CheckpointModel.load(tiny_checkpoint, "cpu"), folders[0].name)
        summary = screen_batch(folders, db=db, secret=fixed_secret(), model=model)
        first, second = summary.outcomes
        assert first.state is CaseState.FAILED and "RuntimeError" in (first.message or "")
        assert "boom" not in (first.message or "")
        assert second.state is CaseState.SCREENED
        with db.session() as session:
            failed = find_case(session, input_hash(folders[0]))
            assert failed is not None and failed.status.value == "failed"
            assert failed.failure_message == first.message
            assert not failed.predictions and not failed.criteria
        again = screen_batch(
            folders,
            db=db,
            secret=fixed_secret(),
            model=CheckpointModel.load(tiny_checkpoint, "cpu"),
        )
        assert [o.state for o in again.outcomes] == [CaseState.SCREENED, CaseState.SKIPPED]
        assert again.outcomes[0].record_id == first.record_id  # the failed case, completed
        with db.session() as session:
            assert not verify_chain(session).problems
    finally:
        db.dispose()


def test_cancel_stops_between_cases_and_records_nothing_half_done(
    synthetic_cases: list[Path], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    cancel = threading.Event()
    steps: list[tuple[int, int]] = []

    def stop_after_first(_outcome: CaseOutcome) -> None:
        cancel.set()

    folders = synthetic_cases[:3]
    db = open_database(f"sqlite:///{tmp_path / 'screen.db'}")
    try:
        with pytest.raises(Cancelled):
            screen_batch(
                folders,
                db=db,
                secret=fixed_secret(),
                model=CheckpointModel.load(tiny_checkpoint, "cpu"),
                progress=lambda done, total: steps.append((done, total)),
                cancel=cancel,
                on_case=stop_after_first,
            )
        with db.session() as session:
            cases = session.scalars(select(ScreeningCase).order_by(ScreeningCase.id)).all()
            # the whole batch was registered first; only the first case was screened
            assert [c.content_sha256 for c in cases] == [input_hash(f) for f in folders]
            assert [len(c.predictions) for c in cases] == [1, 0, 0]
            assert [len(c.criteria) for c in cases] == [CRITERIA, 0, 0]
            assert [c.status.value for c in cases] == ["deferred", "pending", "pending"]
            assert not any(c.decisions for c in cases[1:])
            assert not verify_chain(session).problems
    finally:
        db.dispose()
    assert steps[-1] == (3 * 10 + 90, 300)  # three registrations, then one whole case
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)  # progress never goes back
