"""The tumour-board report on a small synthetic demo case with a tiny synthetic checkpoint.

The case is screened into a temporary SQLite record through app.storage's services (import,
prediction, explanation artefacts, criteria, an eligible decision, randomisation); the report
is then written by ``neoadj report`` and by the builder, its text extracted with pypdf and its
pages rendered in grey with pdftoppm (kept under test-artifacts/report/). Expected values come
from the record, the runner, the protocol's arm table and the case files, not from the report
code.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pypdf import PdfReader

from app.case import Case, load_case
from app.cli import main
from app.hashing import sha256_file
from app.measurement import TumourMeasurement
from app.pseudonym import SiteSecret
from app.randomisation import ARMS
from app.report import DRAFT_TITLE, build_report, gather_report_data, read_record
from app.rules import CRITERION_LABELS, evaluate_criteria
from app.storage import (
    AllocationResult,
    ArtefactInput,
    get_case,
    open_database,
    randomise,
    record_criteria,
    record_decision,
    record_explanation,
    record_import,
    record_prediction,
)
from app.synth.cohort import generate_demo
from explain.explanation import Explanation, explain_case, write_explanation
from inference.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from inference.input_spec import InputSpec
from inference.model import ArchitectureConfig, NeoadjNet
from inference.runner import Prediction, predict_case

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts" / "report"
SPEC = InputSpec(
    grid_shape_zyx=(8, 16, 16),
    grid_spacing_mm_zyx=(24.0, 20.0, 20.0),
    tile_size_px=16,
    tile_mpp=2.0,
    max_tiles=8,
)
ARCH = ArchitectureConfig(
    mri_channels=(4, 8), tile_channels=(4, 8), embed_dim=8, attention_dim=8, fusion_hidden=8
)
REVIEWER = "Dr A. Reviewer"
RATIONALE = "Board agrees: BCLC-C by macrovascular invasion, Child-Pugh A, model predicts benefit."


@dataclass
class Screened:
    case_dir: Path
    case: Case
    checkpoint: Checkpoint
    prediction: Prediction
    explanation: Explanation
    db_url: str
    record_id: int
    allocation: AllocationResult
    patient_id: str
    case_name: str


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> Screened:
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("report")
    generate_demo(root / "demo", slide_size_px=1024)
    torch.manual_seed(0)
    save_checkpoint(
        NeoadjNet(ARCH).eval(),
        root / "ckpt",
        name="tiny-report-test",
        version="0.0.1",
        input_spec=SPEC,
        threshold=0.5,
        training_cohort={},
        metrics={},
        synthetic=True,
    )
    checkpoint = load_checkpoint(root / "ckpt")
    case_dir = root / "demo" / "case"
    case = load_case([case_dir])
    assert case.clinical is not None
    prediction = predict_case(case, checkpoint)
    explanation = explain_case(case, checkpoint)
    manifest, written = write_explanation(explanation, root / "explanation")
    folder = {"explanation_dir": str(root / "explanation")}
    artefacts = [ArtefactInput(a.kind, a.path, a.sha256, folder) for a in written]
    artefacts.append(
        ArtefactInput("explanation_manifest", manifest.name, sha256_file(manifest), folder)
    )
    eligibility = evaluate_criteria(
        case.clinical,
        model_probability=prediction.probability,
        model_threshold=prediction.threshold,
        model_synthetic=True,
    )
    url = f"sqlite:///{root / 'neoadj.db'}"
    db = open_database(url)
    secret = SiteSecret(b"report-test-site-secret-32-bytes")
    with db.transaction() as session:
        record = record_import(session, case, secret=secret, actor=REVIEWER)
        row = record_prediction(session, record.id, prediction, actor=REVIEWER)
        record_explanation(session, record.id, artefacts, prediction_id=row.id, actor=REVIEWER)
        record_criteria(session, record.id, eligibility, actor=REVIEWER)
        record_id = record.id
    outcome = "eligible" if eligibility.status == "eligible" else "deferred"
    with db.transaction() as session:
        record_decision(session, record_id, outcome, reviewer=REVIEWER, rationale=RATIONALE)
    assert outcome == "eligible", "the demo case with this checkpoint should be eligible"
    allocation = randomise(db, record_id, reviewer=REVIEWER, secret=secret)
    db.dispose()
    return Screened(
        case_dir,
        case,
        checkpoint,
        prediction,
        explanation,
        url,
        record_id,
        allocation,
        case.clinical.patient_id or "",
        str(case.meta["case_id"]),
    )


def _text(pdf: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(pdf).pages)


def _render(pdf: Path, name: str) -> list[Path]:
    """Pages in grey at 60 dpi, kept under test-artifacts/report/<name>-N.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-gray", "-r", "60", "-png", str(pdf), str(ARTIFACTS / name)], check=True
    )
    pages = sorted(ARTIFACTS.glob(f"{name}-*.png"))
    shutil.copy(pdf, ARTIFACTS / f"{name}.pdf")
    return pages


def _assert_pages_drawn(pages: list[Path]) -> None:
    assert pages
    for page in pages:
        grey = np.asarray(Image.open(page).convert("L"), dtype=np.float64)
        ink = grey < 128
        assert ink.mean() > 0.01, f"{page.name} is almost blank"
        assert grey.std() > 20, f"{page.name} has no contrast"


def test_cli_report_of_a_decided_randomised_case(screened: Screened, tmp_path: Path) -> None:
    out = tmp_path / "board.pdf"
    code = main(["report", str(screened.case_dir), "--out", str(out), "--db", screened.db_url])
    assert code == 0
    text = _text(out)
    flat = " ".join(text.split())
    for cid in CRITERION_LABELS:
        assert f"\n{cid}" in text or f" {cid} " in flat, cid
    assert "ELIGIBLE" in text
    assert DRAFT_TITLE not in text
    assert REVIEWER in text
    assert " ".join(RATIONALE.split()) in flat
    arm = ARMS[screened.allocation.arm]
    assert arm.label in flat
    assert " ".join(arm.regimen[0].split()) in flat
    assert screened.checkpoint.info.sha256[:12] in text
    assert "tiny-report-test" in text and "0.0.1" in text
    assert f"{screened.prediction.probability:.3f}" in text
    assert "SYNTHETIC" in text
    with open_database(screened.db_url).session() as session:
        pseudonym = get_case(session, screened.record_id).pseudonym
    assert pseudonym is not None and pseudonym[:12] in text
    assert screened.patient_id not in text and screened.case_name not in text
    assert "NCT06420440" in text and "V1.1" in text
    pages = PdfReader(out).pages
    assert f"page {len(pages)} of {len(pages)}" in text
    assert "recorded with the screening (hashes checked)" in flat
    for page in pages:
        assert "SYNTHETIC" in (page.extract_text() or "")
    _assert_pages_drawn(_render(out, "decided"))


def test_builder_draft_with_measurement_and_unreliable_map(
    screened: Screened, tmp_path: Path
) -> None:
    explanation = screened.explanation
    arterial = next(s for s in screened.case.mri if s.phase == "arterial")
    z = arterial.shape_zyx[0] // 2
    start = (arterial.affine_zyx @ np.array([z, 40.0, 30.0, 1.0]))[:3]
    end = (arterial.affine_zyx @ np.array([z, 40.0, 45.0, 1.0]))[:3]
    measurement = TumourMeasurement.from_endpoints(arterial, start, end)
    data = gather_report_data(
        screened.case,
        prediction=screened.prediction,
        explanation=explanation,
        measurement=measurement,
    )
    key = next(k for k in data.mri if k.phase == "arterial")
    assert key.slice_index == z and key.reason == "measured tumour"
    assert key.line is not None
    assert key.line.diameter_mm == pytest.approx(15 * arterial.spacing_mm_zyx[2])
    out = build_report(data, tmp_path / "draft.pdf")
    text = _text(out)
    flat = " ".join(text.split())
    assert DRAFT_TITLE in text
    assert "not in the screening record" in flat
    assert "evaluated for this report from clinical.json" in flat
    unreliable = [c for c in explanation.sanity if not c.passed]
    if unreliable:
        assert "UNRELIABLE" in text and "do not read it as the reason" in flat
    assert screened.patient_id not in text
    _assert_pages_drawn(_render(out, "draft"))


def test_cli_draft_when_no_decision_is_recorded(screened: Screened, tmp_path: Path) -> None:
    out = tmp_path / "draft.pdf"
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    open_database(empty).dispose()
    ckpt = str(screened.checkpoint.info.path)
    args = ["report", str(screened.case_dir), "--out", str(out), "--db", empty]
    code = main([*args, "--checkpoint", ckpt, "--no-explain"])
    assert code == 0
    text = _text(out)
    assert DRAFT_TITLE in text
    assert screened.checkpoint.info.sha256[:12] in text
    db = open_database(empty)
    try:
        assert read_record(db, screened.case.content_hash) is None, "a report writes nothing"
    finally:
        db.dispose()


def test_missing_case_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r.pdf")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err


def test_unwritable_output_is_one_line_exit_2(
    screened: Screened, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no-such-folder" / "r.pdf"
    code = main(["report", str(screened.case_dir), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no-such-folder" in err


def test_output_that_is_not_a_pdf_is_refused(
    screened: Screened, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", str(screened.case_dir), "--out", str(tmp_path / "r.txt")])
    assert code == 2
    assert ".pdf" in capsys.readouterr().err


def test_deferred_decision_is_not_called_an_override(
    screened: Screened, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`neoadj screen` leaves each case deferred; the report says so, not "OVERRIDES"."""
    cases = tmp_path / "cases"
    shutil.copytree(screened.case_dir, cases / "demo")
    db = f"sqlite:///{tmp_path / 'board.db'}"
    monkeypatch.setenv("NEOADJ_SITE_SECRET_FILE", str(tmp_path / "secret"))
    ckpt = str(screened.checkpoint.info.path)
    assert main(["screen", str(cases), "--db", db, "--checkpoint", ckpt, "--no-explain"]) == 0
    out = tmp_path / "deferred.pdf"
    code = main(["report", str(cases / "demo"), "--out", str(out), "--db", db])
    assert code == 0
    text = " ".join(_text(out).split())
    assert "deferred: not yet taken" in text
    assert "OVERRIDES" not in text
