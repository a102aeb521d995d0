"""The screening form: the protocol's criteria, pre-filled from what is known, re-evaluated live.

Clinical items start from the case's ``clinical.json`` (source "entered"; "edited" once the
reviewer changes them), the tumour diameter from the MRI view's measurement, Child-Pugh and
BCLC are computed, and criterion I8 comes from the model. Every change re-runs
`app.rules.evaluate_criteria`; unknown criteria are shown as UNKNOWN, never as passed.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.clinical import ClinicalData
from app.errors import ScreeningError
from app.measurement import TumourMeasurement
from app.rules.criteria import EligibilityResult, evaluate_criteria

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
CRITERIA_COLUMNS = ("Criterion", "Result", "Value", "Source")
STATUS_COLOURS = {"pass": "#d8f0d8", "fail": "#f6d0d0", "unknown": "#fff1b8"}
STATUS_TEXT = {"pass": "pass", "fail": "FAIL", "unknown": "UNKNOWN"}
BILIRUBIN_UMOL_PER_MG_DL = 17.1
ALBUMIN_G_L_PER_G_DL = 10.0

YES_NO_FIELDS = {
    "prior_hcc_treatment": "Previous local/systemic HCC treatment (I2)",
    "serious_organ_disease": "Serious heart, lung, brain or kidney disease (I5)",
    "biopsy_confirmed_hcc": "HCC confirmed by biopsy (I7)",
    "macrovascular_invasion": "Macrovascular invasion",
    "extrahepatic_spread": "Extrahepatic spread / distant metastasis",
    "pregnant_or_lactating": "Pregnant or lactating (E1)",
    "absorption_disorder": "Absorption/clearance disorder (E2)",
    "gi_bleeding_risk": "GI bleeding < 4 weeks or untreated risk (E3)",
    "active_infection": "Active infection (E4)",
    "other_safety_abnormality": "Other safety abnormality (E5)",
    "unable_to_follow_protocol": "Unable to follow the schedule (E6)",
}
CRITERION_FIELDS: dict[str, tuple[str, ...]] = {
    "I1": ("date_of_birth", "screening_date"),
    "I2": ("prior_hcc_treatment",),
    "I3": (
        "bilirubin",
        "bilirubin_unit",
        "albumin",
        "albumin_unit",
        "inr",
        "ascites",
        "encephalopathy",
    ),
    "I4": ("ecog",),
    "I5": ("serious_organ_disease",),
    "I6": (
        "nodule_count",
        "largest_diameter_mm",
        "macrovascular_invasion",
        "extrahepatic_spread",
        "ecog",
        "bilirubin",
        "albumin",
        "inr",
        "ascites",
        "encephalopathy",
    ),
    "I7": ("biopsy_confirmed_hcc",),
    "E1": ("pregnant_or_lactating", "sex"),
    "E2": ("absorption_disorder",),
    "E3": ("gi_bleeding_risk",),
    "E4": ("active_infection",),
    "E5": ("other_safety_abnormality",),
    "E6": ("unable_to_follow_protocol",),
}
"""The clinical fields each criterion reads (to tell "entered" from "edited")."""


def _choice(items: list[tuple[str, Any]]) -> QComboBox:
    combo = QComboBox()
    for label, data in items:
        combo.addItem(label, data)
    return combo


def _number(maximum: float, decimals: int, suffix: str, step: float) -> QDoubleSpinBox:
    """A number box whose lowest value (0) reads "unknown"."""
    box = QDoubleSpinBox()
    box.setRange(0.0, maximum)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setSuffix(f" {suffix}" if suffix else "")
    box.setSpecialValueText(UNKNOWN)
    return box


class ScreeningForm(QWidget):
    """Editable clinical items and the 14 criteria, recomputed on every change."""

    changed = Signal(object)  # EligibilityResult

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = ClinicalData()
        self._loading = False
        self.measurement: TumourMeasurement | None = None
        self.model: tuple[float, float, bool] | None = None  # probability, threshold, synthetic
        self.eligibility: EligibilityResult | None = None

        self.dob = QLineEdit()
        self.dob.setPlaceholderText("YYYY-MM-DD (unknown)")
        self.screening_date = QLineEdit()
        self.screening_date.setPlaceholderText("YYYY-MM-DD (unknown)")
        self.sex = _choice([(UNKNOWN, None), ("female", "F"), ("male", "M")])
        self.weight = _number(400.0, 1, "kg", 1.0)
        self.bilirubin = _number(1000.0, 1, "", 1.0)
        self.bilirubin_unit = _choice([("µmol/L", "umol/L"), ("mg/dL", "mg/dL")])
        self.albumin = _number(70.0, 1, "", 1.0)
        self.albumin_unit = _choice([("g/L", "g/L"), ("g/dL", "g/dL")])
        self.inr = _number(20.0, 2, "", 0.1)
        self.ascites = _choice(
            [
                (UNKNOWN, None),
                ("none", "none"),
                ("mild", "mild"),
                ("moderate/severe", "moderate_severe"),
            ]
        )
        self.encephalopathy = _choice(
            [
                (UNKNOWN, None),
                ("none", "none"),
                ("grade 1-2", "grade_1_2"),
                ("grade 3-4", "grade_3_4"),
            ]
        )
        self.ecog = _choice([(UNKNOWN, None)] + [(str(i), i) for i in range(5)])
        self.nodules = QSpinBox()
        self.nodules.setRange(0, 50)
        self.nodules.setSpecialValueText(UNKNOWN)
        self.diameter = _number(1000.0, 1, "mm", 1.0)
        self.diameter_note = QLabel("not measured on the MRI")
        self.diameter_note.setWordWrap(True)
        self.yes_no: dict[str, QComboBox] = {
            name: _choice([(UNKNOWN, None), ("yes", True), ("no", False)]) for name in YES_NO_FIELDS
        }

        patient = QFormLayout()
        patient.addRow("Date of birth", self.dob)
        patient.addRow("Screening date", self.screening_date)
        patient.addRow("Sex", self.sex)
        patient.addRow("Weight", self.weight)
        liver = QFormLayout()
        liver.addRow("Bilirubin", _row(self.bilirubin, self.bilirubin_unit))
        liver.addRow("Albumin", _row(self.albumin, self.albumin_unit))
        liver.addRow("INR", self.inr)
        liver.addRow("Ascites", self.ascites)
        liver.addRow("Encephalopathy", self.encephalopathy)
        liver.addRow("ECOG", self.ecog)
        tumour = QFormLayout()
        tumour.addRow("Nodules", self.nodules)
        tumour.addRow("Largest diameter (entered)", self.diameter)
        tumour.addRow("MRI measurement", self.diameter_note)
        history = QFormLayout()
        for name, label in YES_NO_FIELDS.items():
            history.addRow(label, self.yes_no[name])

        grid = QGridLayout()
        grid.addWidget(_boxed("Patient", patient), 0, 0)
        grid.addWidget(_boxed("Liver function", liver), 1, 0)
        grid.addWidget(_boxed("Tumour", tumour), 2, 0)
        grid.addWidget(_boxed("History and exclusions", history), 0, 1, 3, 1)

        self.scores_label = QLabel()
        self.scores_label.setObjectName("scoresLabel")
        self.scores_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setObjectName("formError")
        self.error_label.setStyleSheet("color:#b00000; font-weight:bold;")
        self.error_label.setWordWrap(True)
        self.table = QTableWidget(0, len(CRITERIA_COLUMNS))
        self.table.setObjectName("criteriaTable")
        self.table.setHorizontalHeaderLabels(CRITERIA_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)  # one line per criterion; the full text is the tooltip
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setMinimumHeight(300)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.scores_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.table, 1)

        for w in (self.dob, self.screening_date):
            w.textChanged.connect(self._on_edit)
        for box in (self.weight, self.bilirubin, self.albumin, self.inr, self.diameter):
            box.valueChanged.connect(self._on_edit)
        self.nodules.valueChanged.connect(self._on_edit)
        for combo in (
            self.sex,
            self.ascites,
            self.encephalopathy,
            self.ecog,
            *self.yes_no.values(),
        ):
            combo.currentIndexChanged.connect(self._on_edit)
        self.bilirubin_unit.currentIndexChanged.connect(self._on_bilirubin_unit)
        self.albumin_unit.currentIndexChanged.connect(self._on_albumin_unit)
        self._bilirubin_unit_seen = "umol/L"
        self._albumin_unit_seen = "g/L"
        self.set_clinical(None)

    # --- inputs ---------------------------------------------------------------------
    def set_clinical(self, clinical: ClinicalData | None) -> None:
        """Pre-fill from a case's clinical data (screening date today when not recorded)."""
        base = clinical if clinical is not None else ClinicalData()
        if base.screening_date is None:
            base = replace(base, screening_date=date.today())
        self._base = base
        self.measurement = None
        self.model = None
        self._loading = True
        try:
            self._fill(base)
        finally:
            self._loading = False
        self.recompute()

    def set_measurement(self, measurement: TumourMeasurement | None) -> None:
        """The tumour diameter measured on the MRI (takes precedence over the entered one)."""
        self.measurement = measurement
        self.diameter_note.setText(
            "not measured on the MRI"
            if measurement is None
            else f"{measurement.diameter_mm:.1f} mm, {measurement.where} (used for I6)"
        )
        self.recompute()

    def set_model(self, probability: float | None, threshold: float, synthetic: bool) -> None:
        """The model's result for criterion I8 (None: not run)."""
        self.model = None if probability is None else (probability, threshold, synthetic)
        self.recompute()

    def _fill(self, c: ClinicalData) -> None:
        self.dob.setText(c.date_of_birth.isoformat() if c.date_of_birth else "")
        self.screening_date.setText(c.screening_date.isoformat() if c.screening_date else "")
        _select(self.sex, c.sex)
        self.weight.setValue(c.weight_kg or 0.0)
        _select(self.bilirubin_unit, c.bilirubin_unit)
        self._bilirubin_unit_seen = c.bilirubin_unit
        self.bilirubin.setValue(c.bilirubin or 0.0)
        _select(self.albumin_unit, c.albumin_unit)
        self._albumin_unit_seen = c.albumin_unit
        self.albumin.setValue(c.albumin or 0.0)
        self.inr.setValue(c.inr or 0.0)
        _select(self.ascites, c.ascites)
        _select(self.encephalopathy, c.encephalopathy)
        _select(self.ecog, c.ecog)
        self.nodules.setValue(c.nodule_count or 0)
        self.diameter.setValue(c.largest_diameter_mm or 0.0)
        for name, combo in self.yes_no.items():
            _select(combo, getattr(c, name))

    def clinical(self) -> ClinicalData:
        """The clinical items as now entered (identifiers and site kept from the case).

        Raises:
            ScreeningError: if a date is not YYYY-MM-DD.
        """
        values: dict[str, Any] = {
            "date_of_birth": _date(self.dob.text(), "Date of birth"),
            "screening_date": _date(self.screening_date.text(), "Screening date"),
            "sex": self.sex.currentData(),
            "weight_kg": self.weight.value() or None,
            "bilirubin": self.bilirubin.value() or None,
            "bilirubin_unit": self.bilirubin_unit.currentData(),
            "albumin": self.albumin.value() or None,
            "albumin_unit": self.albumin_unit.currentData(),
            "inr": self.inr.value() or None,
            "ascites": self.ascites.currentData(),
            "encephalopathy": self.encephalopathy.currentData(),
            "ecog": self.ecog.currentData(),
            "nodule_count": self.nodules.value() or None,
            "largest_diameter_mm": self.diameter.value() or None,
        }
        values.update({name: combo.currentData() for name, combo in self.yes_no.items()})
        return replace(self._base, **values)

    def edited_fields(self) -> set[str]:
        """Clinical fields the reviewer changed from the case's clinical data."""
        try:
            now = self.clinical().to_dict()
        except ScreeningError:
            return set()
        base = self._base.to_dict()
        return {k for k, v in now.items() if base.get(k) != v}

    def _on_bilirubin_unit(self) -> None:
        new = str(self.bilirubin_unit.currentData())
        if not self._loading and self.bilirubin.value() and new != self._bilirubin_unit_seen:
            factor = BILIRUBIN_UMOL_PER_MG_DL if new == "umol/L" else 1 / BILIRUBIN_UMOL_PER_MG_DL
            self.bilirubin.setValue(round(self.bilirubin.value() * factor, 1))
        self._bilirubin_unit_seen = new
        self._on_edit()

    def _on_albumin_unit(self) -> None:
        new = str(self.albumin_unit.currentData())
        if not self._loading and self.albumin.value() and new != self._albumin_unit_seen:
            factor = ALBUMIN_G_L_PER_G_DL if new == "g/L" else 1 / ALBUMIN_G_L_PER_G_DL
            self.albumin.setValue(round(self.albumin.value() * factor, 1))
        self._albumin_unit_seen = new
        self._on_edit()

    def _on_edit(self, *_: object) -> None:
        if not self._loading:
            self.recompute()

    # --- evaluation -----------------------------------------------------------------
    def recompute(self) -> EligibilityResult | None:
        """Evaluate every criterion from the form; a bad value is shown, not raised."""
        try:
            clinical = self.clinical()
            m = self.measurement
            probability, threshold, synthetic = self.model or (None, None, False)
            result = evaluate_criteria(
                clinical,
                measured_diameter_mm=None if m is None else m.diameter_mm,
                measured_source=None if m is None else m.where,
                model_probability=probability,
                model_threshold=threshold,
                model_synthetic=synthetic,
            )
        except ScreeningError as exc:
            self.error_label.setText(exc.user_message)
            self.error_label.setVisible(True)
            return None
        self.error_label.setVisible(False)
        self.eligibility = result
        self._show(result)
        self.changed.emit(result)
        return result

    def _show(self, result: EligibilityResult) -> None:
        cp, bclc = result.child_pugh, result.bclc
        summary = {
            "eligible": "<b style='color:#006400'>all criteria met</b>",
            "ineligible": "<b style='color:#b00000'>not eligible: "
            + ", ".join(result.failed)
            + " failed</b>",
            "incomplete": "<b style='color:#8a5a00'>incomplete: "
            + ", ".join(result.unknown)
            + " unknown</b>",
        }[result.status]
        self.scores_label.setText(
            f"Child-Pugh (computed): <b>{cp.describe()}</b> &nbsp;&nbsp; "
            f"BCLC (computed): <b>{bclc.describe()}</b> &nbsp;&nbsp; Overall: {summary}"
        )
        edited = self.edited_fields()
        self.table.setRowCount(len(result.criteria))
        for row, c in enumerate(result.criteria):
            source: str = c.source
            if source == "entered":
                changed = edited & set(CRITERION_FIELDS.get(c.id, ()))
                source = "entered (edited here)" if changed else "entered (clinical data)"
            cells = (f"{c.id}  {c.label}", STATUS_TEXT[c.status], c.value, source)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if col == 1:
                    item.setBackground(QColor(STATUS_COLOURS[c.status]))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)


def _date(text: str, what: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ScreeningError(f"{what}: '{text}' is not a date (YYYY-MM-DD).") from exc


def _select(combo: QComboBox, data: object) -> None:
    index = combo.findData(data)
    combo.setCurrentIndex(max(index, 0))


def _row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        row.addWidget(w)
    return holder


def _boxed(title: str, form: QFormLayout) -> QGroupBox:
    box = QGroupBox(title)
    box.setLayout(form)
    return box
