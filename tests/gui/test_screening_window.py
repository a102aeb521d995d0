"""Screening in the window, end to end on a small synthetic demo case with a tiny checkpoint:
import, run (cancelled, then again), explain, measure, fill the form, decide (an override
without rationale refused), a conflicting change by another reviewer, randomise, the record in
the database, and the tumour-board report written from the window. Screenshots of the model
panel, the explanation views, the form and the decision panel go to test-artifacts.

Expected values come from the core called directly (predict_case, evaluate_criteria,
child_pugh), the protocol's arm table and the database, not from the widgets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from pypdf import PdfReader
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from app.case import Case, load_case
from app.pseudonym import create_site_secret
from app.randomisation import ARMS, Arm
from app.rules.child_pugh import child_pugh
from app.storage import (
    case_history,
    get_allocation,
    latest_decision,
    open_database,
    record_decision,
)
from app.synth.cohort import generate_demo
from inference.checkpoint import load_checkpoint, save_checkpoint
from inference.input_spec import InputSpec
from inference.model import ArchitectureConfig, NeoadjNet
from inference.runner import predict_case
from tests.gui.conftest import assert_not_blank, grab_widget, save_screenshot, show_main_window
from widgets.main_window import MainWindow
from widgets.screening_workspace import CONFLICT_TITLE
from widgets.settings import AppSettings

pytestmark = pytest.mark.gui

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
REVIEWER = "Dr B. Surgeon"
OTHER_REVIEWER = "Dr C. Other"
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(case folder, tiny synthetic checkpoint folder)."""
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("screening-gui")
    generate_demo(root / "demo", slide_size_px=1024)
    torch.manual_seed(0)
    save_checkpoint(
        NeoadjNet(ARCH).eval(),
        root / "ckpt",
        name="tiny-gui-test",
        version="0.0.2",
        input_spec=SPEC,
        threshold=0.5,
        training_cohort={},
        metrics={},
        synthetic=True,
    )
    return root / "demo" / "case", root / "ckpt"


@pytest.fixture
def window(
    qtbot: QtBot,
    app_settings: AppSettings,
    tmp_path: Path,
    demo: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[MainWindow]:
    secret_file = tmp_path / "site_secret.key"
    create_site_secret(secret_file)
    monkeypatch.setenv("NEOADJ_SITE_SECRET_FILE", str(secret_file))
    app_settings.database_url = f"sqlite:///{tmp_path / 'screening.db'}"
    app_settings.checkpoint_dir = demo[1]
    win = show_main_window(qtbot, app_settings)
    yield win
    win.close()


def _wait_task(qtbot: QtBot, win: MainWindow, task: object) -> None:
    qtbot.waitUntil(lambda: task not in win.tasks.running, timeout=WAIT_MS)


def _shot(qtbot: QtBot, win: MainWindow, tab: str, name: str) -> None:
    win.case_view.show_tab(tab)
    qtbot.wait(300)
    pixels = grab_widget(win)
    save_screenshot(name, pixels)
    assert_not_blank(pixels)


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def test_screening_end_to_end(
    qtbot: QtBot, window: MainWindow, demo: tuple[Path, Path], tmp_path: Path
) -> None:
    win, (case_dir, ckpt_dir) = window, demo
    ws = win.screening
    panel = ws.model_panel

    # import
    task = win.open_case([case_dir])
    assert task is not None
    _wait_task(qtbot, win, task)
    qtbot.waitUntil(lambda: not win.case_view.mri_view.building, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.case_view.slide_view.reader is not None, timeout=WAIT_MS)
    case = win.case_view.case
    assert isinstance(case, Case) and case.clinical is not None

    # a cancelled run leaves no result, and the GUI keeps turning meanwhile
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    run = panel.run_model()
    assert run is not None
    win.tasks.indicator(run).cancel_button.click()
    _wait_task(qtbot, win, run)
    qtbot.wait(100)
    timer.stop()
    assert len(ticks) >= 3 and float(np.diff(ticks).max()) < 1.0
    assert panel.prediction is None
    assert "cancelled" in panel.result_label.text()
    assert ws.record is None  # nothing was written for the cancelled run
    assert panel.run_button.isEnabled()

    # run again
    run = panel.run_model()
    assert run is not None
    _wait_task(qtbot, win, run)
    expected = predict_case(load_case([case_dir]), load_checkpoint(ckpt_dir))
    assert panel.prediction is not None
    assert abs(panel.prediction.probability - expected.probability) < 1e-6
    shown = panel.result_label.text()
    assert f"{expected.probability:.3f}" in shown
    assert expected.checkpoint.sha256 in shown and "tiny-gui-test" in shown
    assert "0.0.2" in shown and "SYNTHETIC" in shown
    assert not panel.synthetic_label.isHidden()
    assert ws.record is not None
    db = open_database(win.settings.database_url)
    with db.session() as session:
        events = case_history(session, ws.record.case_id)
    assert [e.entity for e in events] == ["case", "prediction"]
    _shot(qtbot, win, "Model", "screening_model_panel")

    # explain
    explain = panel.explain()
    assert explain is not None
    _wait_task(qtbot, win, explain)
    explanation = panel.explanation
    assert explanation is not None
    shapley = explanation.shapley
    assert abs(shapley.baseline + sum(shapley.values.values()) - shapley.prediction) < 1e-9
    assert abs(shapley.prediction - expected.probability) < 1e-5
    assert explanation.genes is not None
    top = np.argsort(-np.abs(explanation.genes.attribution))[0]
    labels = [t.get_text() for t in panel.gene_chart.figure.axes[0].get_yticklabels()]
    assert labels[0].startswith(explanation.genes.genes[top])  # largest magnitude on top
    text = panel.sanity_label.text()
    for check in explanation.sanity:
        assert ("UNRELIABLE" in text) == (not explanation.reliable)
        assert check.passed or "UNRELIABLE" in text
    mri = win.case_view.mri_view
    with_maps = [v for v in mri.viewers if v.saliency_layer is not None]
    assert len(with_maps) == len(explanation.series) > 0
    assert win.case_view.volume_view.saliency
    slide_view = win.case_view.slide_view
    assert slide_view.heatmap_layer is not None
    heat = explanation.slide_heatmap
    assert heat is not None
    shown_attention = np.asarray(slide_view.heatmap_layer.data)
    np.testing.assert_allclose(shown_attention, np.nan_to_num(heat.attention, nan=0.0))
    panel.slide_map_combo.setCurrentIndex(panel.slide_map_combo.findData("attribution"))
    assert slide_view.heatmap_layer is not None
    assert "attribution" in slide_view.heatmap_layer.name
    np.testing.assert_allclose(
        np.asarray(slide_view.heatmap_layer.data), np.nan_to_num(np.abs(heat.attribution), nan=0.0)
    )
    _shot(qtbot, win, "Slide", "screening_slide_attribution")
    panel.slide_map_combo.setCurrentIndex(panel.slide_map_combo.findData("attention"))
    assert panel.variant_table.rowCount() == sum(len(p.variants) for p in case.genomics)
    _shot(qtbot, win, "Model", "screening_explanation_charts")
    _shot(qtbot, win, "MRI", "screening_mri_saliency")
    _shot(qtbot, win, "Slide", "screening_slide_heatmap")

    # measure the tumour on the MRI and use it for the form
    viewer = mri.viewers[0]
    point = np.asarray(viewer.model.dims.point, dtype=np.float64)
    half = np.array([0.0, 0.0, 30.0])  # a 60 mm line along x on the current slice
    viewer.add_line_world_mm(point - half, point + half)
    qtbot.waitUntil(lambda: mri.use_button.isEnabled(), timeout=5_000)
    measurement = mri.use_as_tumour_diameter()
    assert measurement is not None and abs(measurement.diameter_mm - 60.0) < 0.5
    form = ws.form
    assert form.eligibility is not None
    assert form.eligibility.diameter_mm == pytest.approx(measurement.diameter_mm)
    assert form.eligibility.criterion("I6").source == "measured"
    assert form.eligibility.criterion("I8").source == "model"

    # edits recompute live; a unit change converts the value, Child-Pugh stays the same
    before = child_pugh(case.clinical).describe()
    assert before in form.scores_label.text()
    if case.clinical.bilirubin is not None:
        form.bilirubin_unit.setCurrentIndex(form.bilirubin_unit.findData("mg/dL"))
        assert form.bilirubin.value() == pytest.approx(case.clinical.bilirubin / 17.1, abs=0.06)
        form.bilirubin_unit.setCurrentIndex(form.bilirubin_unit.findData("umol/L"))
    form.ecog.setCurrentIndex(form.ecog.findData(2))
    assert form.eligibility.criterion("I4").status == "fail"
    assert "I4" in ws.decision.recommendation_label.text()
    form.ecog.setCurrentIndex(form.ecog.findData(case.clinical.ecog))
    form.yes_no["active_infection"].setCurrentIndex(0)
    assert form.eligibility.criterion("E4").status == "unknown"
    assert "UNKNOWN" in [form.table.item(r, 1).text() for r in range(form.table.rowCount())]
    form.yes_no["active_infection"].setCurrentIndex(
        form.yes_no["active_infection"].findData(case.clinical.active_infection)
    )
    assert form.eligibility.status == "eligible", form.eligibility.unknown
    _shot(qtbot, win, "Screening", "screening_form")

    # an override without rationale is refused with the storage layer's message
    decision = ws.decision
    decision.reviewer.setText(REVIEWER)
    decision.set_outcome("deferred")
    assert "rationale is required" in decision.override_label.text()
    ws.decide()
    assert "give a rationale" in decision.status_label.text()
    assert not decision.randomise_button.isEnabled()

    # decide eligible
    decision.set_outcome("eligible")
    decision.rationale.setPlainText("Board agrees with the criteria and the model.")
    ws.decide()
    assert decision.randomise_button.isEnabled(), decision.status_label.text()

    # another reviewer defers the case meanwhile: Randomise reports the conflict
    record_id = ws.record.case_id
    with db.transaction() as session:
        record_decision(
            session, record_id, "deferred", reviewer=OTHER_REVIEWER, rationale="Await biopsy."
        )
    ws.randomise()
    assert ws.conflict_box is not None and ws.conflict_box.windowTitle() == CONFLICT_TITLE
    assert "another reviewer" in ws.conflict_box.text()
    ws.conflict_box.close()
    ws.reload()
    assert not decision.randomise_button.isEnabled()  # now deferred
    ws.decide()  # eligible again, on the version now seen
    assert decision.randomise_button.isEnabled()
    ws.randomise()
    with db.session() as session:
        allocation = get_allocation(session, record_id)
        stored = latest_decision(session, record_id)
        events = case_history(session, record_id)
    assert allocation is not None and stored is not None
    assert stored.outcome == "eligible" and stored.reviewer == REVIEWER
    arm = ARMS[Arm(allocation.arm)]
    assert arm.label in decision.arm_label.text()
    if Arm(allocation.arm) is Arm.NEOADJUVANT and case.clinical.weight_kg:
        dose = 12 if case.clinical.weight_kg >= 60 else 8
        assert f"Lenvatinib {dose} mg" in decision.arm_label.text()
    entities = [e.entity for e in events]
    assert entities.count("decision") == 3 and entities[-1] == "allocation"
    assert "criteria" in entities
    assert decision.audit_table.rowCount() == len(events)
    assert not decision.randomise_button.isEnabled()
    _shot(qtbot, win, "Screening", "screening_decision_panel")

    # the report, written from the window off the GUI thread
    out = tmp_path / "board.pdf"
    report = ws.write_report(out)
    assert report is not None
    written: list[Path] = []
    ws.report_written.connect(written.append)
    _wait_task(qtbot, win, report)
    qtbot.waitUntil(lambda: bool(written), timeout=5_000)
    assert ws.report_box is not None
    text = _pdf_text(out)
    flat = " ".join(text.split())
    assert "ELIGIBLE" in text and REVIEWER in text
    assert arm.label.split(",")[0] in flat or arm.label in flat
    assert expected.checkpoint.sha256[:12] in text
    for cid in ("I1", "I6", "I8", "E4"):
        assert cid in text
    assert case.clinical.patient_id is None or case.clinical.patient_id not in text
    db.dispose()


def test_model_panel_shows_a_checkpoint_error(
    qtbot: QtBot, window: MainWindow, demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """A missing checkpoint folder is reported in words and leaves no prediction."""
    win = window
    win.settings.checkpoint_dir = tmp_path / "nowhere"
    case = load_case([demo[0]])
    win.screening.model_panel.set_case(case)
    run = win.screening.model_panel.run_model()
    assert run is not None
    _wait_task(qtbot, win, run)
    qtbot.waitUntil(lambda: win.last_error is not None, timeout=5_000)
    assert win.last_error is not None and "nowhere" in win.last_error.text()
    assert win.screening.model_panel.prediction is None
