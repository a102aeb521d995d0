"""Child-Pugh score and class from its five items (standard definition, see docs/trial.md).

Item points:

=================  ==========================  ===============  ============
item               1 point                     2 points         3 points
=================  ==========================  ===============  ============
bilirubin µmol/L   < 34                        34-50            > 50
bilirubin mg/dL    < 2                         2-3              > 3
albumin g/dL       > 3.5                       2.8-3.5          < 2.8
albumin g/L        > 35                        28-35            < 28
INR                < 1.7                       1.7-2.3          > 2.3
ascites            none                        mild             moderate_severe
encephalopathy     none                        grade_1_2        grade_3_4
=================  ==========================  ===============  ============

The middle band includes both of its ends (bilirubin exactly 34 or 50 µmol/L scores 2).
Each laboratory value is scored **in the unit it was entered in**, against that unit's own
published cut-offs: the µmol/L cut-offs are the rounded conversions of 2 and 3 mg/dL
(x 17.1 µmol/L per mg/dL = 34.2 and 51.3), so converting first would score 3.0 mg/dL as
51.3 µmol/L = 3 points, against the mg/dL table's 2 points. Albumin g/L is g/dL x 10.

A missing item makes the total a range (each missing item counts 1 to 3 points).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from app.clinical import AlbuminUnit, Ascites, BilirubinUnit, ClinicalData, Encephalopathy
from app.rules._checks import check_choice, check_range

ChildPughItem = Literal["bilirubin", "albumin", "inr", "ascites", "encephalopathy"]
ChildPughClass = Literal["A", "B", "C"]

CHILD_PUGH_ITEMS: tuple[ChildPughItem, ...] = get_args(ChildPughItem)

# (low, high) cut-offs per unit: < low = 1 point, low..high = 2 points, > high = 3 points.
_BILIRUBIN_CUTOFFS: dict[str, tuple[float, float]] = {"umol/L": (34.0, 50.0), "mg/dL": (2.0, 3.0)}
# Plausible ranges: wider than any patient, narrow enough to catch a wrong unit.
_BILIRUBIN_RANGE: dict[str, tuple[float, float]] = {"umol/L": (0.0, 1000.0), "mg/dL": (0.0, 60.0)}
# (low, high) cut-offs: > high = 1 point, low..high = 2 points, < low = 3 points.
_ALBUMIN_CUTOFFS: dict[str, tuple[float, float]] = {"g/L": (28.0, 35.0), "g/dL": (2.8, 3.5)}
_ALBUMIN_RANGE: dict[str, tuple[float, float]] = {"g/L": (5.0, 70.0), "g/dL": (0.5, 7.0)}
_INR_RANGE = (0.5, 20.0)
_ASCITES_POINTS: dict[str, int] = {"none": 1, "mild": 2, "moderate_severe": 3}
_ENCEPHALOPATHY_POINTS: dict[str, int] = {"none": 1, "grade_1_2": 2, "grade_3_4": 3}


def bilirubin_points(value: float, unit: BilirubinUnit) -> int:
    """Child-Pugh points for total bilirubin.

    Args:
        value: Total serum bilirubin in ``unit``.
        unit: "umol/L" (cut-offs 34 and 50) or "mg/dL" (cut-offs 2 and 3).

    Returns:
        1, 2 or 3; a value equal to a cut-off scores 2.

    Raises:
        RuleInputError: for an unknown unit, or a value outside 0-1000 µmol/L (0-60 mg/dL).
    """
    check_choice("bilirubin unit", unit, _BILIRUBIN_CUTOFFS)
    low, high = _BILIRUBIN_CUTOFFS[unit]
    check_range("bilirubin", value, *_BILIRUBIN_RANGE[unit], unit=unit)
    return 1 if value < low else 2 if value <= high else 3


def albumin_points(value: float, unit: AlbuminUnit) -> int:
    """Child-Pugh points for serum albumin.

    Args:
        value: Serum albumin in ``unit``.
        unit: "g/L" (cut-offs 28 and 35) or "g/dL" (cut-offs 2.8 and 3.5).

    Returns:
        1 above 3.5 g/dL, 2 from 2.8 to 3.5 g/dL inclusive, 3 below 2.8 g/dL.

    Raises:
        RuleInputError: for an unknown unit, or a value outside 5-70 g/L (0.5-7 g/dL),
            which is nearly always the wrong unit.
    """
    check_choice("albumin unit", unit, _ALBUMIN_CUTOFFS)
    low, high = _ALBUMIN_CUTOFFS[unit]
    check_range("albumin", value, *_ALBUMIN_RANGE[unit], unit=unit)
    return 1 if value > high else 2 if value >= low else 3


def inr_points(inr: float) -> int:
    """Child-Pugh points for the INR: 1 below 1.7, 2 from 1.7 to 2.3 inclusive, 3 above 2.3.

    Raises:
        RuleInputError: for an INR outside 0.5-20.
    """
    check_range("INR", inr, *_INR_RANGE)
    return 1 if inr < 1.7 else 2 if inr <= 2.3 else 3


def ascites_points(ascites: Ascites) -> int:
    """Child-Pugh points for ascites: none 1, mild (or diuretic-controlled) 2, moderate-severe 3.

    Raises:
        RuleInputError: for a grade other than "none", "mild", "moderate_severe".
    """
    return _ASCITES_POINTS[check_choice("ascites", ascites, _ASCITES_POINTS)]


def encephalopathy_points(grade: Encephalopathy) -> int:
    """Child-Pugh points for hepatic encephalopathy: none 1, grade 1-2 2, grade 3-4 3.

    Raises:
        RuleInputError: for a grade other than "none", "grade_1_2", "grade_3_4".
    """
    return _ENCEPHALOPATHY_POINTS[check_choice("encephalopathy", grade, _ENCEPHALOPATHY_POINTS)]


def child_pugh_class(total_points: int) -> ChildPughClass:
    """Child-Pugh class from the summed score.

    Args:
        total_points: Sum of the five item points, 5 to 15.

    Returns:
        "A" for 5-6, "B" for 7-9, "C" for 10-15.

    Raises:
        ValueError: if the total is outside 5-15.
    """
    if not 5 <= total_points <= 15:
        raise ValueError(f"Child-Pugh total must be 5-15, got {total_points}")
    return "A" if total_points <= 6 else "B" if total_points <= 9 else "C"


@dataclass(frozen=True)
class ChildPughResult:
    """Child-Pugh points per item and the total, as a range when items are missing.

    Attributes:
        points: Points (1-3) of each of the five items; ``None`` where the item is missing.
        min_total: Lowest possible total (each missing item counted as 1 point), 5-15.
        max_total: Highest possible total (each missing item counted as 3 points), 5-15.
    """

    points: dict[ChildPughItem, int | None]
    min_total: int
    max_total: int

    @classmethod
    def from_points(cls, points: dict[ChildPughItem, int | None]) -> ChildPughResult:
        """Sum item points (1-3 or ``None``) over all five items into a result."""
        if set(points) != set(CHILD_PUGH_ITEMS):
            raise ValueError(f"Child-Pugh needs exactly the items {CHILD_PUGH_ITEMS}")
        known = [p for p in points.values() if p is not None]
        if any(not 1 <= p <= 3 for p in known):
            raise ValueError(f"Child-Pugh item points must be 1-3, got {points}")
        missing = len(points) - len(known)
        return cls(dict(points), sum(known) + missing, sum(known) + 3 * missing)

    @property
    def missing(self) -> tuple[ChildPughItem, ...]:
        """Items without a value, in the standard order."""
        return tuple(item for item in CHILD_PUGH_ITEMS if self.points[item] is None)

    @property
    def total(self) -> int | None:
        """The score 5-15, or ``None`` while any item is missing."""
        return self.min_total if not self.missing else None

    @property
    def child_class(self) -> ChildPughClass | None:
        """Class "A"/"B"/"C" when the possible totals all fall in one class, else ``None``."""
        low, high = child_pugh_class(self.min_total), child_pugh_class(self.max_total)
        return low if low == high else None

    def describe(self) -> str:
        """Short display text, e.g. "7 (class B)" or "6-8 (albumin missing)"."""
        if self.total is not None:
            return f"{self.total} (class {child_pugh_class(self.total)})"
        return f"{self.min_total}-{self.max_total} ({', '.join(self.missing)} missing)"


def child_pugh(clinical: ClinicalData) -> ChildPughResult:
    """Score the five Child-Pugh items of ``clinical`` (missing items stay ``None``).

    Raises:
        RuleInputError: for an implausible value, unknown unit or unknown grade.
    """
    points: dict[ChildPughItem, int | None] = {
        "bilirubin": None
        if clinical.bilirubin is None
        else bilirubin_points(clinical.bilirubin, clinical.bilirubin_unit),
        "albumin": None
        if clinical.albumin is None
        else albumin_points(clinical.albumin, clinical.albumin_unit),
        "inr": None if clinical.inr is None else inr_points(clinical.inr),
        "ascites": None if clinical.ascites is None else ascites_points(clinical.ascites),
        "encephalopathy": None
        if clinical.encephalopathy is None
        else encephalopathy_points(clinical.encephalopathy),
    }
    return ChildPughResult.from_points(points)
