"""BCLC stage (2022 update) from tumour burden, performance status and liver function.

Rules, applied in this order (first match wins):

1. **D**: ECOG > 2, or end-stage liver function (Child-Pugh C).
2. **C**: macrovascular (portal) invasion or extrahepatic spread, or ECOG 1-2.
3. ECOG 0, no invasion, no spread:
   **0** a single nodule <= 20 mm with preserved liver function;
   **A** a single nodule (any size), or 2-3 nodules each <= 30 mm;
   **B** 2-3 nodules with one > 30 mm, or 4 or more nodules.

"Each nodule <= 30 mm" is tested on the largest diameter, which is equivalent.

Liver function (our reading of BCLC 2022, documented because the 2022 paper leaves it to
clinical judgement): *preserved* = Child-Pugh A (5-6); *end-stage* = Child-Pugh C (10-15);
Child-Pugh B (7-9) is *impaired*: not end-stage, so staged by tumour burden and ECOG as the
2018 BCLC did for Child-Pugh A-B (the trial admits Child-Pugh <= 7), except that stage 0 needs
preserved function, so a single nodule <= 20 mm with Child-Pugh B is stage A. The result
says so in its reason.

A stage is reported only when the missing data cannot change it; otherwise the stage is
``None`` and the reason names what is missing. `bclc_stage_from_child_pugh` stages over every
liver-function category that an incomplete Child-Pugh score still allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from app.rules._checks import check_int_range
from app.rules.child_pugh import ChildPughClass, ChildPughResult, child_pugh_class
from app.rules.errors import RuleInputError

BclcStage = Literal["0", "A", "B", "C", "D"]
LiverFunction = Literal["preserved", "impaired", "end_stage"]

VERY_EARLY_MAX_MM = 20.0
"""Stage 0: a single nodule of at most 20 mm."""
EARLY_MULTINODULAR_MAX_MM = 30.0
"""Stage A: 2-3 nodules each of at most 30 mm."""
EARLY_MAX_NODULES = 3
LIVER_FUNCTION_BY_CLASS: dict[ChildPughClass, LiverFunction] = {
    "A": "preserved",
    "B": "impaired",
    "C": "end_stage",
}
"""Our reading of BCLC 2022 liver function by Child-Pugh class (see the module docstring)."""


@dataclass(frozen=True)
class BclcResult:
    """A BCLC stage with the reason it was given (or the reason it is unknown).

    Attributes:
        stage: "0", "A", "B", "C", "D", or ``None`` when missing data could change it.
        reason: Plain-language basis, e.g. "4 nodules" or "ECOG not recorded".
        liver_function: The liver-function category used, ``None`` if unknown.
    """

    stage: BclcStage | None
    reason: str
    liver_function: LiverFunction | None

    def describe(self) -> str:
        """Display text, e.g. "BCLC-B (4 nodules)" or "unknown (ECOG not recorded)"."""
        head = f"BCLC-{self.stage}" if self.stage is not None else "unknown"
        return f"{head} ({self.reason})"


def bclc_stage(
    *,
    nodule_count: int | None,
    largest_diameter_mm: float | None,
    macrovascular_invasion: bool | None,
    extrahepatic_spread: bool | None,
    ecog: int | None,
    liver: LiverFunction | None,
) -> BclcResult:
    """Stage a patient by BCLC 2022 (see the module docstring for the rules).

    Args:
        nodule_count: Number of HCC nodules, >= 1.
        largest_diameter_mm: Largest nodule diameter in mm, > 0.
        macrovascular_invasion: Portal or other macrovascular invasion present.
        extrahepatic_spread: Extrahepatic spread (nodes or distant metastasis) present.
        ecog: ECOG performance status, 0-4.
        liver: Liver-function category (see `LIVER_FUNCTION_BY_CLASS`); None if unknown.

    Returns:
        The stage and its reason; stage ``None`` when a missing input could change it.

    Raises:
        RuleInputError: for a count < 1, a non-positive diameter or an ECOG outside 0-4.
    """
    if nodule_count is not None:
        check_int_range("nodule count", nodule_count, 1, 1000)
    if largest_diameter_mm is not None and not (
        math.isfinite(largest_diameter_mm) and 0 < largest_diameter_mm <= 1000
    ):
        raise RuleInputError(
            f"Clinical data: largest tumour diameter must be 0-1000 mm, got {largest_diameter_mm}."
        )
    if ecog is not None:
        check_int_range("ECOG performance status", ecog, 0, 4)

    def unknown(reason: str) -> BclcResult:
        return BclcResult(None, reason, liver)

    def staged(stage: BclcStage, reason: str) -> BclcResult:
        if liver == "impaired" and stage in ("A", "B"):
            reason += "; Child-Pugh B, staged by tumour burden"
        return BclcResult(stage, reason, liver)

    if ecog is not None and ecog > 2:
        return staged("D", f"ECOG {ecog}")
    if liver == "end_stage":
        return staged("D", "end-stage liver function (Child-Pugh C)")
    if ecog is None:
        return unknown("ECOG not recorded")
    if liver is None:
        return unknown("liver function not known (Child-Pugh incomplete)")
    if macrovascular_invasion and extrahepatic_spread:
        return staged("C", "macrovascular invasion and extrahepatic spread")
    if macrovascular_invasion:
        return staged("C", "macrovascular invasion")
    if extrahepatic_spread:
        return staged("C", "extrahepatic spread")
    if macrovascular_invasion is None:
        return unknown("macrovascular invasion not recorded")
    if extrahepatic_spread is None:
        return unknown("extrahepatic spread not recorded")
    if ecog > 0:
        return staged("C", f"ECOG {ecog}")
    if nodule_count is None:
        return unknown("nodule count not recorded")
    if nodule_count > EARLY_MAX_NODULES:
        return staged("B", f"{nodule_count} nodules")
    if nodule_count == 1:
        if liver != "preserved":
            size = "" if largest_diameter_mm is None else f" of {largest_diameter_mm:g} mm"
            return staged("A", f"single nodule{size}")
        if largest_diameter_mm is None:
            return unknown("single nodule, diameter not recorded (0 or A)")
        if largest_diameter_mm <= VERY_EARLY_MAX_MM:
            return staged("0", f"single nodule of {largest_diameter_mm:g} mm")
        return staged("A", f"single nodule of {largest_diameter_mm:g} mm")
    if largest_diameter_mm is None:
        return unknown(f"{nodule_count} nodules, diameter not recorded (A or B)")
    if largest_diameter_mm <= EARLY_MULTINODULAR_MAX_MM:
        return staged("A", f"{nodule_count} nodules, largest {largest_diameter_mm:g} mm")
    return staged("B", f"{nodule_count} nodules, largest {largest_diameter_mm:g} mm > 30 mm")


def bclc_stage_from_child_pugh(
    *,
    nodule_count: int | None,
    largest_diameter_mm: float | None,
    macrovascular_invasion: bool | None,
    extrahepatic_spread: bool | None,
    ecog: int | None,
    child_pugh: ChildPughResult,
) -> BclcResult:
    """`bclc_stage` with liver function from a Child-Pugh result, possibly incomplete.

    When missing Child-Pugh items leave more than one liver-function category possible, the
    patient is staged under each; a stage is returned only if they all agree (e.g. 4 nodules
    with Child-Pugh 5-7 is B either way).

    Raises:
        RuleInputError: as `bclc_stage`.
    """
    options: list[LiverFunction] = []
    for total in range(child_pugh.min_total, child_pugh.max_total + 1):
        category = LIVER_FUNCTION_BY_CLASS[child_pugh_class(total)]
        if category not in options:
            options.append(category)
    results = [
        bclc_stage(
            nodule_count=nodule_count,
            largest_diameter_mm=largest_diameter_mm,
            macrovascular_invasion=macrovascular_invasion,
            extrahepatic_spread=extrahepatic_spread,
            ecog=ecog,
            liver=liver,
        )
        for liver in options
    ]
    if len(results) == 1:
        return results[0]
    stages = {r.stage for r in results}
    if len(stages) == 1 and results[0].stage is not None:
        reason = f"{results[0].reason}; whatever the Child-Pugh {child_pugh.describe()}"
        return BclcResult(results[0].stage, reason, None)
    if stages == {None} and len({r.reason for r in results}) == 1:
        return BclcResult(None, results[0].reason, None)
    return BclcResult(None, f"liver function not known (Child-Pugh {child_pugh.describe()})", None)
