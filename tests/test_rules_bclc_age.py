"""BCLC 2022 staging at each boundary and age on the screening date."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta

from app.rules import (
    ChildPughResult,
    RuleInputError,
    age_on,
    bclc_stage,
    bclc_stage_from_child_pugh,
)
from app.rules.bclc import LiverFunction

# (nodules, largest mm, macrovascular, extrahepatic, ECOG, liver) -> expected stage, worked
# out by hand from the BCLC 2022 definitions in docs/trial.md.
STAGE_CASES = [
    ((1, 20.0, False, False, 0, "preserved"), "0"),
    ((1, 20.1, False, False, 0, "preserved"), "A"),
    ((1, 49.0, False, False, 0, "preserved"), "A"),
    ((1, 50.0, False, False, 0, "preserved"), "A"),
    ((1, 120.0, False, False, 0, "preserved"), "A"),
    ((1, 15.0, False, False, 0, "impaired"), "A"),
    ((2, 30.0, False, False, 0, "preserved"), "A"),
    ((3, 30.0, False, False, 0, "preserved"), "A"),
    ((3, 30.1, False, False, 0, "preserved"), "B"),
    ((2, 45.0, False, False, 0, "impaired"), "B"),
    ((4, 12.0, False, False, 0, "preserved"), "B"),
    ((1, 40.0, False, False, 1, "preserved"), "C"),
    ((1, 40.0, False, False, 2, "preserved"), "C"),
    ((1, 40.0, True, False, 0, "preserved"), "C"),
    ((5, 40.0, False, True, 0, "preserved"), "C"),
    ((1, 40.0, True, True, 0, "impaired"), "C"),
    ((1, 40.0, False, False, 3, "preserved"), "D"),
    ((1, 40.0, False, False, 4, "preserved"), "D"),
    ((1, 40.0, False, False, 0, "end_stage"), "D"),
    ((1, 40.0, True, True, 1, "end_stage"), "D"),
]


def _stage(args: tuple[object, ...]) -> tuple[str | None, str]:
    count, diameter, macro, spread, ecog, liver = args
    result = bclc_stage(
        nodule_count=count,  # type: ignore[arg-type]
        largest_diameter_mm=diameter,  # type: ignore[arg-type]
        macrovascular_invasion=macro,  # type: ignore[arg-type]
        extrahepatic_spread=spread,  # type: ignore[arg-type]
        ecog=ecog,  # type: ignore[arg-type]
        liver=liver,  # type: ignore[arg-type]
    )
    return result.stage, result.reason


@pytest.mark.parametrize(("args", "expected"), STAGE_CASES)
def test_bclc_stage(args: tuple[object, ...], expected: str) -> None:
    stage, reason = _stage(args)
    assert stage == expected
    assert reason


def test_child_pugh_b_staging_is_explained() -> None:
    _, reason = _stage((2, 45.0, False, False, 0, "impaired"))
    assert "Child-Pugh B" in reason


# Missing inputs: the stage is given only when the missing item cannot change it.
MISSING_CASES = [
    ((1, 40.0, False, False, None, "preserved"), None, "ECOG"),
    ((1, 40.0, False, False, 0, None), None, "liver function"),
    ((1, 40.0, None, False, 0, "preserved"), None, "macrovascular"),
    ((1, 40.0, False, None, 0, "preserved"), None, "extrahepatic"),
    ((None, 40.0, False, False, 0, "preserved"), None, "nodule count"),
    ((1, None, False, False, 0, "preserved"), None, "diameter"),
    ((2, None, False, False, 0, "preserved"), None, "diameter"),
    # Decided despite the gap:
    ((1, 40.0, False, False, 3, None), "D", "ECOG 3"),
    ((None, None, None, None, None, "end_stage"), "D", "end-stage"),
    ((None, None, True, None, 0, "preserved"), "C", "macrovascular"),
    ((None, None, False, False, 1, "preserved"), "C", "ECOG 1"),
    ((4, None, False, False, 0, "preserved"), "B", "4 nodules"),
    ((1, None, False, False, 0, "impaired"), "A", "single nodule"),
]


@pytest.mark.parametrize(("args", "expected", "reason_part"), MISSING_CASES)
def test_bclc_with_missing_inputs(
    args: tuple[object, ...], expected: str | None, reason_part: str
) -> None:
    stage, reason = _stage(args)
    assert stage == expected
    assert reason_part in reason


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 40.0, False, False, 0, "preserved"), "nodule count"),
        ((1, 0.0, False, False, 0, "preserved"), "diameter"),
        ((1, -5.0, False, False, 0, "preserved"), "diameter"),
        ((1, float("nan"), False, False, 0, "preserved"), "diameter"),
        ((1, 40.0, False, False, 5, "preserved"), "ECOG"),
        ((1, 40.0, False, False, -1, "preserved"), "ECOG"),
    ],
)
def test_bclc_rejects_impossible_input(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(RuleInputError, match=message):
        _stage(args)


def test_liver_function_categories() -> None:
    liver: LiverFunction
    for liver in ("preserved", "impaired", "end_stage"):
        assert _stage((4, 10.0, False, False, 0, liver))[0] == (
            "D" if liver == "end_stage" else "B"
        )


def _points(**items: int | None) -> ChildPughResult:
    points: dict[str, int | None] = {
        "bilirubin": 1,
        "albumin": 1,
        "inr": 1,
        "ascites": 1,
        "encephalopathy": 1,
    }
    points.update(items)
    return ChildPughResult.from_points(points)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("child_pugh", "count", "diameter", "ecog", "expected", "reason_part"),
    [
        (_points(), 1, 15.0, 0, "0", "single nodule of 15 mm"),
        (_points(bilirubin=2, inr=2), 1, 15.0, 0, "A", "Child-Pugh B"),
        # Missing INR: total 5-7, preserved or impaired.
        (_points(inr=None), 1, 15.0, 0, None, "liver function not known (Child-Pugh 5-7"),
        (_points(inr=None), 1, 52.0, 0, "A", "whatever the Child-Pugh 5-7"),
        (_points(inr=None), 4, 52.0, 0, "B", "4 nodules"),
        (_points(inr=None), 1, 52.0, 1, "C", "ECOG 1"),
        # Missing INR with 8 known points: 9-11, impaired or end-stage.
        (_points(inr=None, bilirubin=3, albumin=3), 4, 52.0, 0, None, "9-11"),
        (_points(inr=None, bilirubin=3, albumin=3), 4, 52.0, 3, "D", "ECOG 3"),
        (_points(bilirubin=3, albumin=3, inr=3, ascites=2), 1, 15.0, 0, "D", "end-stage"),
        # ECOG missing under every possible category: the ECOG reason is kept.
        (_points(inr=None), 1, 52.0, None, None, "ECOG not recorded"),
    ],
)
def test_bclc_from_incomplete_child_pugh(
    child_pugh: ChildPughResult,
    count: int,
    diameter: float,
    ecog: int | None,
    expected: str | None,
    reason_part: str,
) -> None:
    result = bclc_stage_from_child_pugh(
        nodule_count=count,
        largest_diameter_mm=diameter,
        macrovascular_invasion=False,
        extrahepatic_spread=False,
        ecog=ecog,
        child_pugh=child_pugh,
    )
    assert result.stage == expected
    assert reason_part in result.reason


SCREENING = date(2025, 4, 10)


@pytest.mark.parametrize(
    ("dob", "on", "expected"),
    [
        (date(2007, 4, 10), SCREENING, 18),  # 18th birthday today
        (date(2007, 4, 11), SCREENING, 17),  # 18th birthday tomorrow
        (date(1950, 4, 10), SCREENING, 75),  # 75th birthday today
        (date(1949, 4, 11), SCREENING, 75),  # 76th birthday tomorrow
        (date(1949, 4, 10), SCREENING, 76),  # 76th birthday today
        (date(2007, 4, 9), SCREENING, 18),
        (date(2025, 4, 10), SCREENING, 0),
        # Born on 29 February: a year is completed on 1 March in common years.
        (date(2004, 2, 29), date(2022, 2, 28), 17),
        (date(2004, 2, 29), date(2022, 3, 1), 18),
        (date(2004, 2, 29), date(2024, 2, 28), 19),
        (date(2004, 2, 29), date(2024, 2, 29), 20),
        (date(1950, 2, 28), date(2025, 2, 28), 75),
    ],
)
def test_age_on(dob: date, on: date, expected: int) -> None:
    assert age_on(dob, on) == expected


def test_age_agrees_with_dateutil() -> None:
    rng = random.Random(6)
    for _ in range(2000):
        dob = date(1930, 1, 1) + timedelta(days=rng.randrange(30000))
        on = dob + timedelta(days=rng.randrange(36000))
        if (dob.month, dob.day) == (2, 29):
            continue  # dateutil completes the year on 28 February; we document 1 March.
        assert age_on(dob, on) == relativedelta(on, dob).years


def test_date_of_birth_after_screening_is_rejected() -> None:
    with pytest.raises(RuleInputError, match="date of birth is after the screening date"):
        age_on(date(2025, 4, 11), SCREENING)
