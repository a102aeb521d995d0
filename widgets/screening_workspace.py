"""Screening in the main window: the Model and Screening tabs, the Screening menu, and the
writes to the screening record (prediction, criteria + decision, randomisation) and the report.

The record is opened lazily, on the first write of a case (so merely viewing a case writes
nothing). Database writes are short and run in the GUI thread; prediction, explanation and
the report run as `CoreTask`s. A stale version (`ConflictError`) opens a dialog that offers
to reload the case.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox, QSplitter

from app.case import Case
from app.errors import ScreeningError
from app.measurement import TumourMeasurement
from app.progress import ProgressFn, check_cancel
from app.pseudonym import SiteSecret, load_site_secret
from app.report import build_report, gather_report_data, read_record
from app.storage import ConflictError, Database, open_database
from explain.explanation import Explanation
from inference.runner import Prediction
from widgets.decision_panel import DecisionPanel
from widgets.model_panel import ModelPanel
from widgets.screening_form import ScreeningForm
from widgets.screening_record import CaseRecord
from widgets.tasks import CoreTask

if TYPE_CHECKING:
    from widgets.main_window import MainWindow

log = logging.getLogger(__name__)

CONFLICT_TITLE = "Changed by another reviewer"
DEFAULT_ACTOR = "workstation user"
REVIEWER_KEY = "screening/reviewer"


def write_report(
    case: Case,
    db: Database,
    prediction: Prediction | None,
    explanation: Explanation | None,
    measurement: TumourMeasurement | None,
    out: Path,
    *,
    progress: ProgressFn,
    cancel: threading.Event,
) -> Path:
    """Write the tumour-board PDF of `case` from its record (a `CoreTask` function).

    The recorded prediction is used when there is one; `prediction` fills in otherwise.
    """
    progress(0, 3)
    record = read_record(db, case.content_hash)
    check_cancel(cancel)
    progress(1, 3)
    recorded = record is not None and record.model is not None
    data = gather_report_data(
        case,
        record=record,
        prediction=None if recorded else prediction,
        explanation=explanation,
        measurement=measurement,
        cancel=cancel,
    )
    check_cancel(cancel)
    progress(2, 3)
    path = build_report(data, out)
    progress(3, 3)
    return path


class ScreeningWorkspace(QObject):
    """Adds screening to a `MainWindow`; owns the open case's `CaseRecord`."""

    report_written = Signal(object)  # Path

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.case: Case | None = None
        self.record: CaseRecord | None = None
        self._db: Database | None = None
        self._db_url: str | None = None
        self.report_task: CoreTask | None = None
        self.conflict_box: QMessageBox | None = None
        self.report_box: QMessageBox | None = None
        view = window.case_view
        self.model_panel = ModelPanel(
            window.tasks, view, checkpoint_dir=lambda: window.settings.checkpoint_dir
        )
        self.form = ScreeningForm()
        self.decision = DecisionPanel()
        self.decision.reviewer.setText(str(window.settings.store.value(REVIEWER_KEY, "", type=str)))
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("screeningSplitter")
        splitter.addWidget(self.form)
        splitter.addWidget(self.decision)
        splitter.setSizes([900, 600])
        self.screening_tab = splitter
        view.add_tab(self.model_panel, "Model")
        view.add_tab(splitter, "Screening")

        self.model_panel.error.connect(window.show_error)
        self.model_panel.message.connect(window.show_message)
        self.model_panel.predicted.connect(self._on_predicted)
        view.mri_view.tumour_measured.connect(self.form.set_measurement)
        self.form.changed.connect(self.decision.set_eligibility)
        self.decision.decide_requested.connect(self.decide)
        self.decision.randomise_requested.connect(self.randomise)
        self.decision.reload_requested.connect(self.reload)
        self.decision.report_requested.connect(self.report_dialog)
        view.case_changed.connect(self.set_case)
        self._build_menu()

    def _build_menu(self) -> None:
        menu = self.window.menuBar().addMenu("&Screening")
        for text, slot in (
            ("&Run Neoadj-Net", self.model_panel.run_model),
            ("&Explain", self.model_panel.explain),
            ("&Tumour-board report...", self.report_dialog),
        ):
            action = QAction(text, self.window)
            action.triggered.connect(lambda _=False, s=slot: s())
            menu.addAction(action)

    # --- case -----------------------------------------------------------------------
    def set_case(self, case: object) -> None:
        """Start screening a newly shown case (nothing is written until the first action)."""
        assert isinstance(case, Case)
        self.case = case
        self.record = None
        self.model_panel.set_case(case)
        self.form.set_clinical(case.clinical)
        self.decision.show_status("Not recorded yet.")
        self.decision.show_allocation(None, None)
        self.decision.show_history([])
        self.decision.set_case_status(None)
        if self._database_configured():
            self._open_record_if_recorded(case)

    def _database_configured(self) -> bool:
        return bool(self.window.settings.database_url)

    def _database(self) -> Database:
        url = self.window.settings.database_url or None
        if self._db is None or url != self._db_url:
            if self._db is not None:
                self._db.dispose()
            self._db = open_database(url)
            self._db_url = url
        return self._db

    def _open_record_if_recorded(self, case: Case) -> None:
        """Show the history of a case recorded before (a read, no write)."""
        try:
            stored = read_record(self._database(), case.content_hash)
        except ScreeningError as exc:
            self.window.show_error("Screening record", exc.user_message)
            return
        if stored is not None:
            self.record = CaseRecord(self._database(), stored.record_id, 0)
            self.record.reload()
            self._show_record()

    def _ensure_record(self) -> CaseRecord:
        """The open case's record, created on first use.

        Raises:
            ScreeningError: no case, no database, no site secret, or the case cannot be recorded.
        """
        if self.case is None:
            raise ScreeningError("Open a case first.")
        if self.record is None:
            self.record = CaseRecord.open(
                self._database(), self.case, secret=self._secret(), actor=self._actor()
            )
        return self.record

    def _secret(self) -> SiteSecret:
        return load_site_secret()

    def _actor(self) -> str:
        name = self.decision.reviewer.text().strip()
        return name or DEFAULT_ACTOR

    def _show_record(self) -> None:
        if self.record is None:
            return
        status = self.record.status
        self.decision.set_case_status(status)
        allocation = self.record.allocation()
        clinical = self.form.clinical() if self.case is not None else None
        self.decision.show_allocation(allocation, clinical.weight_kg if clinical else None)
        self.decision.show_history(self.record.history())
        if allocation is None:
            self.decision.show_status(f"Recorded; case status: {status}.")

    # --- actions --------------------------------------------------------------------
    def _on_predicted(self, prediction: object) -> None:
        assert isinstance(prediction, Prediction)
        self.form.set_model(
            prediction.probability, prediction.threshold, prediction.checkpoint.synthetic
        )
        self._write(lambda r: r.add_prediction(prediction, actor=self._actor()), "Prediction")

    def decide(self) -> None:
        """Record the form's criteria and the decision; refusals are shown, not raised."""
        eligibility = self.form.recompute()
        if eligibility is None:
            self.decision.show_status("Correct the form first.", error=True)
            return
        reviewer = self.decision.reviewer.text().strip()
        if not reviewer:
            self.decision.show_status("Enter the reviewer's name.", error=True)
            return
        self.window.settings.store.setValue(REVIEWER_KEY, reviewer)
        rationale = self.decision.rationale.toPlainText().strip() or None
        ok = self._write(
            lambda r: r.decide(
                eligibility,
                self.decision.chosen_outcome,
                reviewer=reviewer,
                rationale=rationale,
                failed_criteria=self.decision.failed_criteria(),
            ),
            "Decision",
        )
        if ok:
            self.decision.show_status(
                f"Decision recorded: {self.decision.outcome.currentText()} by {reviewer}."
            )

    def randomise(self) -> None:
        """Randomise a case recorded as eligible and show its arm."""
        reviewer = self.decision.reviewer.text().strip()
        if not reviewer:
            self.decision.show_status("Enter the reviewer's name.", error=True)
            return
        self._write(lambda r: r.randomise(reviewer=reviewer, secret=self._secret()), "Randomise")

    def reload(self) -> None:
        """Read the case's record again (the version the reviewer now sees)."""
        if self.record is not None:
            self.record.reload()
            self._show_record()
            self.decision.show_status("Reloaded: the record as stored now is shown.")

    def _write(self, action: object, title: str) -> bool:
        """Run one write on the record; show a conflict or refusal instead of raising."""
        assert callable(action)
        try:
            action(self._ensure_record())
        except ConflictError as exc:
            self._show_conflict(exc.user_message)
            return False
        except ScreeningError as exc:
            self.decision.show_status(exc.user_message, error=True)
            self.window.show_error(title, exc.user_message)
            return False
        self._show_record()
        self.window.refresh_worklist()
        return True

    def _show_conflict(self, text: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            CONFLICT_TITLE,
            f"This case was changed by another reviewer meanwhile; reload it before "
            f"deciding.\n\n{text}",
            QMessageBox.StandardButton.Ok,
            self.window,
        )
        reload_button = box.addButton("Reload", QMessageBox.ButtonRole.AcceptRole)
        reload_button.clicked.connect(self.reload)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.conflict_box = box
        self.decision.show_status(
            "Changed by another reviewer meanwhile: reload, check, and decide again.", error=True
        )

    # --- report ---------------------------------------------------------------------
    def report_dialog(self) -> None:
        """Ask where to save the report, then write it."""
        if self.case is None:
            return
        out, _ = QFileDialog.getSaveFileName(
            self.window, "Tumour-board report", "tumour-board-report.pdf", "PDF (*.pdf)"
        )
        if out:
            self.write_report(Path(out))

    def write_report(self, out: Path) -> CoreTask | None:
        """Write the report off the GUI thread, then offer to open it."""
        if self.case is None or self.report_task is not None:
            return None
        try:
            db = self._database()
        except ScreeningError as exc:
            self.window.show_error("Report", exc.user_message)
            return None
        task = CoreTask(
            "Writing report",
            write_report,
            self.case,
            db,
            self.model_panel.prediction,
            self.model_panel.explanation,
            self.window.case_view.mri_view.tumour_measurement,
            out,
        )
        task.signals.done.connect(self._on_report)
        task.signals.failed.connect(lambda text: self.window.show_error("Report", text))
        task.signals.finished.connect(lambda: setattr(self, "report_task", None))
        self.report_task = task
        self.window.tasks.start(task)
        return task

    def _on_report(self, path: object) -> None:
        assert isinstance(path, Path)
        self.report_written.emit(path)
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Report written",
            f"The tumour-board report was written to\n{path}",
            QMessageBox.StandardButton.Close,
            self.window,
        )
        open_button = box.addButton("Open", QMessageBox.ButtonRole.AcceptRole)
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.report_box = box
