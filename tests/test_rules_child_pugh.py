"""Child-Pugh item points at every published cut-off, in both units, and the totals."""

from __future__ import annotations

import pytest

from app.clinical import ClinicalData
from app.errors import ScreeningError
from app.rules import (
    RuleInputError,
    albumin_points,
    ascites_points,
    bilirubin_points,
    child_pugh,
    child_pugh_class,
    encephalopathy_points,
    inr_points,
)

# Expected points read off the standard table (docs/trial.md): < 34, 34-50, > 50 µmol/L;
# < 2, 2-3, > 3 mg/dL. The band's ends belong to the middle band.
BILIRUBIN_CASES = [
    (5.0, "umol/L", 1),
    (33.9, "umol/L", 1),
    (34.0, "umol/L", 2),
    (42.0, "umol/L", 2),
    (50.0, "umol/L", 2),
    (50.1, "umol/L", 3),
    (300.0, "umol/L", 3),
    (0.0, "umol/L", 1),
    (1.99, "mg/dL", 1),
    (2.0, "mg/dL", 2),
    (3.0, "mg/dL", 2),
    (3.01, "mg/dL", 3),
    # 2 mg/dL is 34.2 µmol/L and 3 mg/dL is 51.3 µmol/L: each unit uses its own cut-offs.
    (34.2, "umol/L", 2),
    (51.3, "umol/L", 3),
]


@pytest.mark.parametrize(("value", "unit", "expected"), BILIRUBIN_CASES)
def test_bilirubin_points(value: float, unit: str, expected: int) -> None:
    assert bilirubin_points(value, unit) == expected  # type: ignore[arg-type]


ALBUMIN_CASES = [
    (3.6, "g/dL", 1),
    (3.51, "g/dL", 1),
    (3.5, "g/dL", 2),
    (2.8, "g/dL", 2),
    (2.79, "g/dL", 3),
    (36.0, "g/L", 1),
    (35.1, "g/L", 1),
    (35.0, "g/L", 2),
    (28.0, "g/L", 2),
    (27.9, "g/L", 3),
    (15.0, "g/L", 3),
]


@pytest.mark.parametrize(("value", "unit", "expected"), ALBUMIN_CASES)
def test_albumin_points(value: float, unit: str, expected: int) -> None:
    assert albumin_points(value, unit) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("inr", "expected"),
    [(0.9, 1), (1.69, 1), (1.7, 2), (2.0, 2), (2.3, 2), (2.31, 3), (4.0, 3)],
)
def test_inr_points(inr: float, expected: int) -> None:
    assert inr_points(inr) == expected


@pytest.mark.parametrize(("grade", "expected"), [("none", 1), ("mild", 2), ("moderate_severe", 3)])
def test_ascites_points(grade: str, expected: int) -> None:
    assert ascites_points(grade) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("grade", "expected"), [("none", 1), ("grade_1_2", 2), ("grade_3_4", 3)])
def test_encephalopathy_points(grade: str, expected: int) -> None:
    assert encephalopathy_points(grade) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("total", "expected"),
    [(5, "A"), (6, "A"), (7, "B"), (8, "B"), (9, "B"), (10, "C"), (15, "C")],
)
def test_child_pugh_class(total: int, expected: str) -> None:
    assert child_pugh_class(total) == expected


@pytest.mark.parametrize("total", [4, 16])
def test_child_pugh_class_rejects_impossible_totals(total: int) -> None:
    with pytest.raises(ValueError, match="5-15"):
        child_pugh_class(total)


def _complete(**overrides: object) -> ClinicalData:
    items: dict[str, object] = {
        "bilirubin": 20.0,
        "albumin": 40.0,
        "inr": 1.1,
        "ascites": "none",
        "encephalopathy": "none",
    }
    items.update(overrides)
    return ClinicalData(**items)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "total", "klass"),
    [
        ({}, 5, "A"),
        ({"bilirubin": 34.0}, 6, "A"),
        ({"bilirubin": 34.0, "inr": 1.7}, 7, "B"),
        (
            {"bilirubin": 2.0, "bilirubin_unit": "mg/dL", "albumin": 3.5, "albumin_unit": "g/dL"},
            7,
            "B",
        ),
        ({"bilirubin": 34.0, "inr": 1.7, "ascites": "mild"}, 8, "B"),
        ({"bilirubin": 51.0, "albumin": 27.0, "inr": 2.4, "ascites": "mild"}, 12, "C"),
        (
            {
                "bilirubin": 60.0,
                "albumin": 25.0,
                "inr": 3.0,
                "ascites": "moderate_severe",
                "encephalopathy": "grade_3_4",
            },
            15,
            "C",
        ),
    ],
)
def test_child_pugh_total_and_class(overrides: dict[str, object], total: int, klass: str) -> None:
    result = child_pugh(_complete(**overrides))
    assert result.total == total
    assert (result.min_total, result.max_total) == (total, total)
    assert result.child_class == klass
    assert result.missing == ()
    assert result.describe() == f"{total} (class {klass})"


@pytest.mark.parametrize("item", ["bilirubin", "albumin", "inr", "ascites", "encephalopathy"])
def test_each_missing_item_gives_a_range(item: str) -> None:
    result = child_pugh(_complete(**{item: None}))
    assert result.total is None
    assert result.missing == (item,)
    assert result.points[item] is None  # type: ignore[index]
    # Four known items at 1 point each; the missing one may be 1 to 3.
    assert (result.min_total, result.max_total) == (5, 7)
    assert result.child_class is None
    assert item in result.describe()


def test_missing_item_with_class_already_decided() -> None:
    # Known: 3 + 3 + 3 + 1 = 10 points, so the class is C whatever the missing INR is.
    result = child_pugh(
        _complete(bilirubin=60.0, albumin=25.0, ascites="moderate_severe", inr=None)
    )
    assert (result.min_total, result.max_total) == (11, 13)
    assert result.child_class == "C"
    assert result.total is None


def test_nothing_known() -> None:
    result = child_pugh(ClinicalData())
    assert (result.min_total, result.max_total) == (5, 15)
    assert len(result.missing) == 5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"albumin": 35.0, "albumin_unit": "g/dL"}, "albumin 35 g/dL"),
        ({"albumin": 3.5, "albumin_unit": "g/L"}, "albumin 3.5 g/L"),
        ({"bilirubin": -1.0}, "bilirubin"),
        ({"bilirubin": float("nan")}, "bilirubin"),
        ({"bilirubin": 80.0, "bilirubin_unit": "mg/dL"}, "bilirubin 80 mg/dL"),
        ({"inr": 0.0}, "INR"),
        ({"inr": float("inf")}, "INR"),
        ({"bilirubin_unit": "mmol/L"}, "bilirubin unit 'mmol/L'"),
        ({"albumin_unit": "mg/dL"}, "albumin unit 'mg/dL'"),
        ({"ascites": "severe"}, "ascites 'severe'"),
        ({"encephalopathy": "grade_2"}, "encephalopathy 'grade_2'"),
    ],
)
def test_bad_values_raise_a_clear_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(RuleInputError, match=message) as info:
        child_pugh(_complete(**overrides))
    assert isinstance(info.value, ScreeningError)
    assert message in info.value.user_message


def test_bad_value_from_a_clinical_file_is_caught() -> None:
    # ClinicalData.from_dict keeps free text for categories; the rules must reject it.
    clinical = ClinicalData.from_dict({"ascites": "massive", "albumin": 30})
    with pytest.raises(RuleInputError, match="ascites 'massive'"):
        child_pugh(clinical)
