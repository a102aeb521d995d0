"""Eligibility of one patient under protocol Neoadj-Net01 V1.1 (inclusion I1-I8, exclusion E1-E6).

Each criterion is evaluated to "pass", "fail" or "unknown" with a display value, the raw
values behind it and its source. Missing data gives "unknown", never "pass". For an
exclusion criterion, "pass" means the excluding condition is absent.

Readings of the protocol that the text leaves open (see also `app.rules.bclc`):

- I1: age in completed years on the screening date, 18 to 75 inclusive (75 passes until the
  76th birthday).
- I3: Child-Pugh <= 7 passes only with all five items known; it fails as soon as the known
  items cannot total 7 or less (each missing item counted as 1 point).
- I6: "BCLC-A with tumour diameter >= 5 cm, or BCLC-B, or BCLC-C, and no distant metastasis".
  Extrahepatic spread counts as distant metastasis and fails, whatever the stage. BCLC-C by
  macrovascular invasion or by ECOG 1-2 passes when extrahepatic spread is recorded as absent
  (ECOG 2 then fails I4). BCLC-A passes from a largest diameter of 50.0 mm. BCLC-0 and D fail.
  Technical resectability is the tumour board's judgement and is not computed.
- Tumour diameter: a diameter measured on the MRI takes precedence over the entered
  ``largest_diameter_mm`` (the criterion is defined on the enhanced MRI); both are kept in the
  raw values, and the source says which was used.
- I8: passes when the model's benefit probability is >= its decision threshold. A synthetic
  (demo) checkpoint is flagged in the value and the raw values.
- E1: a male patient with pregnancy not recorded passes as "not applicable".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Literal, TypeAlias

from app.clinical import ClinicalData
from app.rules._checks import check_int_range
from app.rules.age import age_on
from app.rules.bclc import BclcResult, bclc_stage_from_child_pugh
from app.rules.child_pugh import CHILD_PUGH_ITEMS, ChildPughResult, child_pugh
from app.rules.errors import RuleInputError

PROTOCOL_VERSION = "Neoadj-Net01 V1.1"

CriterionStatus = Literal["pass", "fail", "unknown"]
CriterionSource = Literal["entered", "measured", "computed", "model"]
EligibilityStatus = Literal["eligible", "ineligible", "incomplete"]
JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

MIN_AGE_YEARS = 18
MAX_AGE_YEARS = 75
MAX_CHILD_PUGH = 7
MAX_ECOG = 1
BCLC_A_MIN_DIAMETER_MM = 50.0

CRITERION_LABELS: dict[str, str] = {
    "I1": "Age 18-75 years",
    "I2": "No previous local or systemic treatment for HCC",
    "I3": "Child-Pugh score 7 or less",
    "I4": "ECOG performance status 0-1",
    "I5": "No serious heart, lung, brain or kidney disease",
    "I6": "High-risk resectable on MRI (BCLC-A >= 5 cm, B or C), no distant metastasis",
    "I7": "HCC confirmed by biopsy",
    "I8": "Model predicts benefit from HAIC + lenvatinib + PD-1 inhibitor",
    "E1": "Pregnant or lactating",
    "E2": "Condition affecting absorption or clearance of the study drugs",
    "E3": "GI bleeding in the last 4 weeks or untreated bleeding risk",
    "E4": "Active infection",
    "E5": "Other abnormality affecting the safety evaluation",
    "E6": "Unable to follow the treatment or follow-up schedule",
}
"""Criterion id -> short plain-language label, in protocol order."""

# Entered yes/no criteria: id -> (ClinicalData field, the answer that passes).
_YES_NO_CRITERIA: dict[str, tuple[str, bool]] = {
    "I2": ("prior_hcc_treatment", False),
    "I5": ("serious_organ_disease", False),
    "I7": ("biopsy_confirmed_hcc", True),
    "E1": ("pregnant_or_lactating", False),
    "E2": ("absorption_disorder", False),
    "E3": ("gi_bleeding_risk", False),
    "E4": ("active_infection", False),
    "E5": ("other_safety_abnormality", False),
    "E6": ("unable_to_follow_protocol", False),
}


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's outcome.

    Attributes:
        id: "I1".."I8" (inclusion) or "E1".."E6" (exclusion).
        label: Short plain-language statement of the criterion.
        status: "pass", "fail" or "unknown"; for an exclusion, "pass" = condition absent.
        value: What was found, for display (e.g. "7 (class B)", "not recorded").
        source: "entered", "measured" (on the MRI), "computed" or "model".
        raw: JSON-ready values behind ``value`` (numbers in the units of their keys).
    """

    id: str
    label: str
    status: CriterionStatus
    value: str
    source: CriterionSource
    raw: dict[str, JsonValue]

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready mapping of all fields."""
        return {
            "id": self.id,
            "label": self.label,
            "status": self.status,
            "value": self.value,
            "source": self.source,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class EligibilityResult:
    """All criteria of one patient, with the scores computed on the way.

    Attributes:
        criteria: The 14 criteria in protocol order (I1-I8, E1-E6).
        child_pugh: Child-Pugh points and total (a range while items are missing).
        bclc: BCLC stage and its reason.
        age_years: Completed years on ``screening_date``; ``None`` if not computable.
        screening_date: The date the criteria were evaluated for.
        diameter_mm: Largest tumour diameter used (mm), ``None`` if unknown.
        diameter_source: "measured on MRI: <description>" or "entered"; ``None`` if unknown.
    """

    criteria: tuple[CriterionResult, ...]
    child_pugh: ChildPughResult
    bclc: BclcResult
    age_years: int | None
    screening_date: date | None
    diameter_mm: float | None
    diameter_source: str | None

    @property
    def failed(self) -> tuple[str, ...]:
        """Ids of the failed criteria, in protocol order."""
        return tuple(c.id for c in self.criteria if c.status == "fail")

    @property
    def unknown(self) -> tuple[str, ...]:
        """Ids of the criteria that lack data, in protocol order."""
        return tuple(c.id for c in self.criteria if c.status == "unknown")

    @property
    def status(self) -> EligibilityStatus:
        """ "ineligible" if any criterion fails, else "incomplete" if any is unknown,
        else "eligible"."""
        if self.failed:
            return "ineligible"
        return "incomplete" if self.unknown else "eligible"

    def criterion(self, criterion_id: str) -> CriterionResult:
        """The result of one criterion by id ("I1".."E6")."""
        for result in self.criteria:
            if result.id == criterion_id:
                return result
        raise KeyError(criterion_id)

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready mapping: summary, scores and every criterion."""
        return {
            "protocol_version": PROTOCOL_VERSION,
            "status": self.status,
            "failed": list(self.failed),
            "unknown": list(self.unknown),
            "screening_date": None
            if self.screening_date is None
            else self.screening_date.isoformat(),
            "age_years": self.age_years,
            "diameter_mm": self.diameter_mm,
            "diameter_source": self.diameter_source,
            "child_pugh": _child_pugh_raw(self.child_pugh),
            "bclc": {
                "stage": self.bclc.stage,
                "reason": self.bclc.reason,
                "liver_function": self.bclc.liver_function,
            },
            "criteria": [c.to_dict() for c in self.criteria],
        }

    def to_json(self) -> str:
        """``to_dict()`` as compact JSON text (UTF-8 safe, keys in a stable order)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def evaluate_criteria(
    clinical: ClinicalData,
    *,
    measured_diameter_mm: float | None = None,
    measured_source: str | None = None,
    model_probability: float | None = None,
    model_threshold: float | None = None,
    model_synthetic: bool = False,
    screening_date: date | None = None,
) -> EligibilityResult:
    """Evaluate every inclusion and exclusion criterion of protocol V1.1.

    Args:
        clinical: The entered clinical items; ``None`` fields make their criteria unknown.
        measured_diameter_mm: Largest tumour diameter measured on the MRI (mm, > 0); takes
            precedence over ``clinical.largest_diameter_mm``. Default: None (not measured).
        measured_source: Where it was measured, e.g. "arterial phase, slice 14". Default:
            None ("MRI measurement").
        model_probability: Benefit probability from Neoadj-Net, 0-1. Default: None (not run).
        model_threshold: The checkpoint's decision threshold, 0-1; needed with the probability.
        model_synthetic: True when the checkpoint was trained on synthetic data (demo).
        screening_date: Date of screening; Default: None (``clinical.screening_date``).

    Returns:
        The 14 criteria, the overall status and the Child-Pugh and BCLC results.

    Raises:
        RuleInputError: for an impossible or implausible value (wrong unit, negative
            diameter, probability outside 0-1, date of birth after screening...).
    """
    on = screening_date if screening_date is not None else clinical.screening_date
    cp = child_pugh(clinical)
    diameter, diameter_origin = _diameter(clinical, measured_diameter_mm, measured_source)
    bclc = bclc_stage_from_child_pugh(
        nodule_count=clinical.nodule_count,
        largest_diameter_mm=diameter,
        macrovascular_invasion=clinical.macrovascular_invasion,
        extrahepatic_spread=clinical.extrahepatic_spread,
        ecog=clinical.ecog,
        child_pugh=cp,
    )
    age = (
        None if clinical.date_of_birth is None or on is None else age_on(clinical.date_of_birth, on)
    )

    computed = {
        "I1": _age_criterion(clinical.date_of_birth, on, age),
        "I3": _child_pugh_criterion(cp),
        "I4": _ecog_criterion(clinical.ecog),
        "I6": _tumour_criterion(bclc, diameter, diameter_origin, clinical),
        "I8": _model_criterion(model_probability, model_threshold, model_synthetic),
    }
    criteria = tuple(
        computed[cid] if cid in computed else _yes_no(cid, clinical) for cid in CRITERION_LABELS
    )
    return EligibilityResult(
        criteria=criteria,
        child_pugh=cp,
        bclc=bclc,
        age_years=age,
        screening_date=on,
        diameter_mm=diameter,
        diameter_source=None if diameter_origin is None else diameter_origin[1],
    )


def _result(
    cid: str,
    status: CriterionStatus,
    value: str,
    source: CriterionSource,
    raw: dict[str, JsonValue],
) -> CriterionResult:
    return CriterionResult(cid, CRITERION_LABELS[cid], status, value, source, raw)


def _diameter(
    clinical: ClinicalData, measured_mm: float | None, measured_source: str | None
) -> tuple[float | None, tuple[CriterionSource, str] | None]:
    """The diameter to use (mm) and its (source, description): measured first, then entered."""
    if measured_mm is not None:
        if not (math.isfinite(measured_mm) and 0 < measured_mm <= 1000):
            raise RuleInputError(
                f"MRI measurement: tumour diameter must be 0-1000 mm, got {measured_mm}."
            )
        return float(measured_mm), (
            "measured",
            f"measured on MRI: {measured_source or 'MRI measurement'}",
        )
    if clinical.largest_diameter_mm is not None:
        return clinical.largest_diameter_mm, ("entered", "entered")
    return None, None


def _age_criterion(dob: date | None, on: date | None, age: int | None) -> CriterionResult:
    raw: dict[str, JsonValue] = {
        "age_years": age,
        "screening_date": None if on is None else on.isoformat(),
    }
    if dob is None:
        return _result("I1", "unknown", "date of birth not recorded", "computed", raw)
    if age is None:
        return _result("I1", "unknown", "screening date not recorded", "computed", raw)
    status: CriterionStatus = "pass" if MIN_AGE_YEARS <= age <= MAX_AGE_YEARS else "fail"
    return _result("I1", status, f"{age} years on {on}", "computed", raw)


def _child_pugh_raw(cp: ChildPughResult) -> dict[str, JsonValue]:
    points: dict[str, JsonValue] = {item: cp.points[item] for item in CHILD_PUGH_ITEMS}
    return {
        "points": points,
        "min_total": cp.min_total,
        "max_total": cp.max_total,
        "total": cp.total,
        "class": cp.child_class,
    }


def _child_pugh_criterion(cp: ChildPughResult) -> CriterionResult:
    raw = _child_pugh_raw(cp)
    if cp.min_total > MAX_CHILD_PUGH:
        status: CriterionStatus = "fail"
    elif cp.total is not None:
        status = "pass"
    else:
        status = "unknown"
    return _result("I3", status, cp.describe(), "computed", raw)


def _ecog_criterion(ecog: int | None) -> CriterionResult:
    if ecog is None:
        return _result("I4", "unknown", "not recorded", "entered", {"ecog": None})
    check_int_range("ECOG performance status", ecog, 0, 4)
    status: CriterionStatus = "pass" if ecog <= MAX_ECOG else "fail"
    return _result("I4", status, f"ECOG {ecog}", "entered", {"ecog": ecog})


def _tumour_criterion(
    bclc: BclcResult,
    diameter: float | None,
    origin: tuple[CriterionSource, str] | None,
    clinical: ClinicalData,
) -> CriterionResult:
    spread = clinical.extrahepatic_spread
    raw: dict[str, JsonValue] = {
        "bclc_stage": bclc.stage,
        "bclc_reason": bclc.reason,
        "diameter_mm": diameter,
        "diameter_source": None if origin is None else origin[1],
        "entered_diameter_mm": clinical.largest_diameter_mm,
        "nodule_count": clinical.nodule_count,
        "macrovascular_invasion": clinical.macrovascular_invasion,
        "extrahepatic_spread": spread,
    }
    source: CriterionSource = (
        "measured" if origin is not None and origin[0] == "measured" else "computed"
    )
    stage = bclc.describe()
    if origin is not None and diameter is not None:
        stage += f"; largest diameter {diameter:g} mm, {origin[1]}"
        entered = clinical.largest_diameter_mm
        if origin[0] == "measured" and entered is not None and entered != diameter:
            stage += f" (entered {entered:g} mm)"

    def result(status: CriterionStatus, value: str) -> CriterionResult:
        return _result("I6", status, value, source, raw)

    if spread:
        return result("fail", f"{stage}; distant metastasis (extrahepatic spread)")
    if bclc.stage is None:
        return result("unknown", f"BCLC {stage}")
    if bclc.stage in ("0", "D"):
        return result("fail", f"{stage}; not a high-risk resectable stage")
    if bclc.stage == "A":
        if diameter is None:
            return result("unknown", f"{stage}; tumour diameter not recorded")
        if diameter >= BCLC_A_MIN_DIAMETER_MM:
            return result("pass", f"{stage}; >= 50 mm")
        return result("fail", f"{stage}; < 50 mm")
    if spread is None:
        return result("unknown", f"{stage}; extrahepatic spread not recorded")
    return result("pass", f"{stage}; no distant metastasis")


def _model_criterion(
    probability: float | None, threshold: float | None, synthetic: bool
) -> CriterionResult:
    raw: dict[str, JsonValue] = {
        "probability": probability,
        "threshold": threshold,
        "synthetic": synthetic,
    }
    if probability is None and threshold is None:
        return _result("I8", "unknown", "model not run", "model", raw)
    if probability is None or threshold is None:
        raise RuleInputError("Model result: the probability and the threshold go together.")
    for name, number in (("probability", probability), ("threshold", threshold)):
        if not (math.isfinite(number) and 0.0 <= number <= 1.0):
            raise RuleInputError(f"Model result: {name} must be between 0 and 1, got {number}.")
    benefit = probability >= threshold
    p_text, t_text = _distinct_texts(probability, threshold)
    value = f"{p_text} {'>=' if benefit else '<'} threshold {t_text}"
    if synthetic:
        value += " (SYNTHETIC checkpoint: demo only)"
    return _result("I8", "pass" if benefit else "fail", value, "model", raw)


def _distinct_texts(a: float, b: float) -> tuple[str, str]:
    """Format two numbers with 3 decimals, or more when 3 would show unequal numbers as equal."""
    for digits in (3, 6):
        a_text, b_text = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if (a_text == b_text) == (a == b):
            return a_text, b_text
    return repr(a), repr(b)


def _yes_no(cid: str, clinical: ClinicalData) -> CriterionResult:
    field, passing = _YES_NO_CRITERIA[cid]
    answer: bool | None = getattr(clinical, field)
    raw: dict[str, JsonValue] = {field: answer}
    if answer is None:
        if cid == "E1" and clinical.sex == "M":
            raw["sex"] = "M"
            return _result(cid, "pass", "not applicable (male)", "entered", raw)
        return _result(cid, "unknown", "not recorded", "entered", raw)
    status: CriterionStatus = "pass" if answer == passing else "fail"
    return _result(cid, status, "yes" if answer else "no", "entered", raw)
