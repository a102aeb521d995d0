"""The decision panel: the recommendation, the reviewer's decision with its rationale,
randomisation of a confirmed eligible patient, the case's audit history, and the report button.

The panel only collects and shows; `widgets.screening_workspace` writes through the storage
layer and puts any refusal (an override without rationale, a stale version) back here.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.randomisation import ARMS, Arm, lenvatinib_dose_mg
from app.rules.criteria import CRITERION_LABELS, EligibilityResult
from app.storage import AllocationResult, AuditEvent

OUTCOMES = {
    "eligible": "Eligible",
    "screen_failure": "Screen failure",
    "deferred": "Deferred (more information needed)",
}
RECOMMENDED = {"eligible": "eligible", "ineligible": "screen_failure", "incomplete": "deferred"}
AUDIT_COLUMNS = ("Time (UTC)", "Who", "What", "Change", "Reason")


class DecisionPanel(QWidget):
    """Collects a decision; shows the allocation and the audit trail."""

    decide_requested = Signal()
    randomise_requested = Signal()
    reload_requested = Signal()
    report_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.eligibility: EligibilityResult | None = None
        self.recommendation_label = QLabel("No criteria evaluated yet.")
        self.recommendation_label.setObjectName("recommendationLabel")
        self.recommendation_label.setWordWrap(True)
        self.outcome = QComboBox()
        for key, label in OUTCOMES.items():
            self.outcome.addItem(label, key)
        self.outcome.currentIndexChanged.connect(self._refresh)
        self.failed_list = QListWidget()
        self.failed_list.setMaximumHeight(110)
        for cid, label in CRITERION_LABELS.items():
            item = QListWidgetItem(f"{cid}  {label}")
            item.setData(Qt.ItemDataRole.UserRole, cid)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.failed_list.addItem(item)
        self.override_label = QLabel()
        self.override_label.setObjectName("overrideNote")
        self.override_label.setWordWrap(True)
        self.override_label.setStyleSheet("color:#8a5a00; font-weight:bold;")
        self.rationale = QPlainTextEdit()
        self.rationale.setPlaceholderText("Rationale (required when overriding the recommendation)")
        self.rationale.setMaximumHeight(80)
        self.reviewer = QLineEdit()
        self.reviewer.setPlaceholderText("Reviewer name")
        self.decide_button = QPushButton("Record decision")
        self.decide_button.clicked.connect(self.decide_requested)
        self.status_label = QLabel("Not recorded yet.")
        self.status_label.setObjectName("decisionStatus")
        self.status_label.setWordWrap(True)
        self.randomise_button = QPushButton("Randomise")
        self.randomise_button.setToolTip(
            "Only for a patient whose decision is recorded as eligible"
        )
        self.randomise_button.setEnabled(False)
        self.randomise_button.clicked.connect(self.randomise_requested)
        self.arm_label = QLabel("Not randomised.")
        self.arm_label.setObjectName("armLabel")
        self.arm_label.setWordWrap(True)
        self.arm_label.setTextFormat(Qt.TextFormat.RichText)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Read the case again (after another reviewer changed it)")
        self.reload_button.clicked.connect(self.reload_requested)
        self.report_button = QPushButton("Tumour-board report...")
        self.report_button.clicked.connect(self.report_requested)

        form = QFormLayout()
        form.addRow("Decision", self.outcome)
        form.addRow("Failed criteria", self.failed_list)
        form.addRow("Rationale", self.rationale)
        form.addRow("Reviewer", self.reviewer)
        decision_box = QGroupBox("Decision")
        box_layout = QVBoxLayout(decision_box)
        box_layout.addWidget(self.recommendation_label)
        box_layout.addLayout(form)
        box_layout.addWidget(self.override_label)
        buttons = QHBoxLayout()
        for b in (self.decide_button, self.reload_button, self.report_button):
            buttons.addWidget(b)
        box_layout.addLayout(buttons)
        box_layout.addWidget(self.status_label)
        arm_box = QGroupBox("Randomisation")
        arm_layout = QVBoxLayout(arm_box)
        arm_layout.addWidget(self.randomise_button)
        arm_layout.addWidget(self.arm_label)
        self.audit_table = QTableWidget(0, len(AUDIT_COLUMNS))
        self.audit_table.setObjectName("auditTable")
        self.audit_table.setHorizontalHeaderLabels(AUDIT_COLUMNS)
        self.audit_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.audit_table.verticalHeader().setVisible(False)
        header = self.audit_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        audit_box = QGroupBox("Audit history of this case")
        QVBoxLayout(audit_box).addWidget(self.audit_table)
        layout = QVBoxLayout(self)
        layout.addWidget(decision_box)
        layout.addWidget(arm_box)
        layout.addWidget(audit_box, 1)
        self._refresh()

    # --- inputs ---------------------------------------------------------------------
    @property
    def chosen_outcome(self) -> str:
        """ "eligible", "screen_failure" or "deferred"."""
        return str(self.outcome.currentData())

    def set_outcome(self, outcome: str) -> None:
        """Choose an outcome (as the reviewer would)."""
        self.outcome.setCurrentIndex(self.outcome.findData(outcome))

    def failed_criteria(self) -> list[str] | None:
        """Ticked criteria for a screen failure (None: not a screen failure)."""
        if self.chosen_outcome != "screen_failure":
            return None
        items = (self.failed_list.item(i) for i in range(self.failed_list.count()))
        return [
            str(i.data(Qt.ItemDataRole.UserRole))
            for i in items
            if i.checkState() == Qt.CheckState.Checked
        ]

    def set_eligibility(self, result: EligibilityResult) -> None:
        """The form's current evaluation: recommend, and tick the failed criteria."""
        self.eligibility = result
        recommended = RECOMMENDED[result.status]
        detail = {
            "eligible": "every criterion is met",
            "screen_failure": "failed: " + ", ".join(result.failed),
            "deferred": "unknown: " + ", ".join(result.unknown),
        }[recommended]
        self.recommendation_label.setText(
            f"Recommendation from the criteria and the model: <b>{OUTCOMES[recommended]}</b> "
            f"({detail})."
        )
        for i in range(self.failed_list.count()):
            item = self.failed_list.item(i)
            cid = item.data(Qt.ItemDataRole.UserRole)
            item.setCheckState(
                Qt.CheckState.Checked if cid in result.failed else Qt.CheckState.Unchecked
            )
        self._refresh()

    def _refresh(self) -> None:
        self.failed_list.setEnabled(self.chosen_outcome == "screen_failure")
        if self.eligibility is None:
            self.override_label.setText("")
            return
        recommended = RECOMMENDED[self.eligibility.status]
        self.override_label.setText(
            ""
            if recommended == self.chosen_outcome
            else f"This overrides the recommendation ({OUTCOMES[recommended]}): "
            "a rationale is required."
        )

    # --- results --------------------------------------------------------------------
    def show_status(self, text: str, *, error: bool = False) -> None:
        """A line under the buttons: what was recorded, or why not."""
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color:#b00000; font-weight:bold;" if error else "")

    def set_case_status(self, status: str | None) -> None:
        """Enable Randomise only for a case recorded as eligible."""
        self.randomise_button.setEnabled(status == "eligible")

    def show_allocation(self, result: AllocationResult | None, weight_kg: float | None) -> None:
        """The allocated arm with its regimen (and the lenvatinib dose by weight)."""
        if result is None:
            self.arm_label.setText("Not randomised.")
            return
        arm = ARMS[Arm(result.arm)]
        steps = "".join(f"<li>{step}</li>" for step in arm.regimen)
        dose = ""
        if Arm(result.arm) is Arm.NEOADJUVANT:
            dose = (
                f"<br><b>Lenvatinib {lenvatinib_dose_mg(weight_kg)} mg once daily</b> "
                f"(body weight {weight_kg:g} kg)."
                if weight_kg
                else "<br><b>Body weight not recorded: enter it to set the lenvatinib dose "
                "(12 mg >= 60 kg, 8 mg below).</b>"
            )
        self.arm_label.setText(
            f"<span style='font-size:13pt'>Arm: <b>{arm.label}</b></span> ({arm.role}); "
            f"stratum {result.site} / BCLC-{result.bclc_stage}, randomised by "
            f"{result.allocated_by} at {result.allocated_at:%Y-%m-%d %H:%M} UTC.<ol>{steps}</ol>"
            + dose
        )

    def show_history(self, events: list[AuditEvent]) -> None:
        """The audit events of the case, newest first."""
        self.audit_table.setRowCount(len(events))
        for row, e in enumerate(reversed(events)):
            what = f"{e.action} {e.entity}" + (f" {e.field}" if e.field else "")
            cells = (
                f"{e.occurred_at:%Y-%m-%d %H:%M:%S}",
                e.actor,
                what,
                _change(e.old_value, e.new_value),
                e.reason or "",
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.audit_table.setItem(row, col, item)


def _change(old: str | None, new: str | None) -> str:
    """A short one-line summary of an event's old -> new values."""

    def short(text: str | None) -> str:
        if text is None:
            return ""
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text[:80]
        if isinstance(value, dict):
            keys = ("outcome", "arm", "probability", "status", "value", "pseudonym")
            picked = {k: value[k] for k in keys if k in value}
            value = picked or value
            text = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            text = f"{len(value)} item(s)"
        else:
            text = str(value)
        return text[:80] + ("..." if len(text) > 80 else "")

    old_text, new_text = short(old), short(new)
    return f"{old_text} -> {new_text}" if old_text else new_text
