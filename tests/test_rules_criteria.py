"""Every inclusion and exclusion criterion of protocol V1.1 at its edges, and the summary."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

import pytest

from app.clinical import ClinicalData
from app.rules import CRITERION_LABELS, RuleInputError, evaluate_criteria
from app.rules.criteria import EligibilityResult

SCREENING = date(2025, 4, 10)
ALL_IDS = [f"I{i}" for i in range(1, 9)] + [f"E{i}" for i in range(1, 7)]


def eligible_patient(**overrides: Any) -> ClinicalData:
    """A patient who meets every criterion: 60 years, Child-Pugh 5, single 62 mm nodule."""
    base = ClinicalData(
        date_of_birth=date(1965, 1, 15),
        sex="F",
        weight_kg=58.0,
        bilirubin=15.0,
        albumin=42.0,
        inr=1.05,
        ascites="none",
        encephalopathy="none",
        ecog=0,
        nodule_count=1,
        largest_diameter_mm=62.0,
        macrovascular_invasion=False,
        extrahepatic_spread=False,
        prior_hcc_treatment=False,
        biopsy_confirmed_hcc=True,
        serious_organ_disease=False,
        pregnant_or_lactating=False,
        absorption_disorder=False,
        gi_bleeding_risk=False,
        active_infection=False,
        other_safety_abnormality=False,
        unable_to_follow_protocol=False,
    )
    return dataclasses.replace(base, **overrides)


def evaluate(clinical: ClinicalData, **kwargs: Any) -> EligibilityResult:
    kwargs.setdefault("model_probability", 0.81)
    kwargs.setdefault("model_threshold", 0.5)
    kwargs.setdefault("screening_date", SCREENING)
    return evaluate_criteria(clinical, **kwargs)


def test_eligible_patient_passes_everything() -> None:
    result = evaluate(eligible_patient())
    assert [c.id for c in result.criteria] == ALL_IDS
    assert [c.status for c in result.criteria] == ["pass"] * 14
    assert result.status == "eligible"
    assert result.failed == () and result.unknown == ()
    assert result.bclc.stage == "A"
    assert result.child_pugh.total == 5
    assert result.age_years == 60
    for criterion in result.criteria:
        assert criterion.label == CRITERION_LABELS[criterion.id]
        assert criterion.value


@pytest.mark.parametrize(
    ("dob", "status", "age"),
    [
        (date(2007, 4, 11), "fail", 17),  # 18th birthday tomorrow
        (date(2007, 4, 10), "pass", 18),  # 18th birthday today
        (date(1949, 4, 11), "pass", 75),  # 76th birthday tomorrow
        (date(1949, 4, 10), "fail", 76),  # 76th birthday today
    ],
)
def test_age_criterion(dob: date, status: str, age: int) -> None:
    result = evaluate(eligible_patient(date_of_birth=dob))
    i1 = result.criterion("I1")
    assert (i1.status, i1.source, i1.raw["age_years"]) == (status, "computed", age)
    assert f"{age} years" in i1.value


def test_age_uses_the_clinical_screening_date_when_none_is_given() -> None:
    clinical = eligible_patient(date_of_birth=date(2007, 4, 11), screening_date=date(2025, 4, 11))
    assert evaluate_criteria(clinical).criterion("I1").status == "pass"
    # An explicit screening date takes precedence.
    assert evaluate_criteria(clinical, screening_date=SCREENING).criterion("I1").status == "fail"


@pytest.mark.parametrize(
    ("overrides", "kwargs", "value"),
    [
        ({"date_of_birth": None}, {}, "date of birth not recorded"),
        ({}, {"screening_date": None}, "screening date not recorded"),
    ],
)
def test_age_unknown(overrides: dict[str, Any], kwargs: dict[str, Any], value: str) -> None:
    result = evaluate(eligible_patient(**overrides), **kwargs)
    assert result.criterion("I1").status == "unknown"
    assert result.criterion("I1").value == value
    assert result.status == "incomplete"


# Child-Pugh items giving 7 and 8 points (each middle band scores 2).
@pytest.mark.parametrize(
    ("overrides", "status", "value"),
    [
        ({"bilirubin": 34.0, "inr": 1.7}, "pass", "7 (class B)"),
        ({"bilirubin": 50.0, "albumin": 28.0}, "pass", "7 (class B)"),
        ({"bilirubin": 2.0, "bilirubin_unit": "mg/dL", "ascites": "mild"}, "pass", "7 (class B)"),
        ({"bilirubin": 34.0, "inr": 1.7, "ascites": "mild"}, "fail", "8 (class B)"),
        ({"bilirubin": 50.1, "albumin": 28.0}, "fail", "8 (class B)"),
        ({"bilirubin": 3.01, "bilirubin_unit": "mg/dL", "ascites": "mild"}, "fail", "8 (class B)"),
        ({"albumin": 2.8, "albumin_unit": "g/dL", "inr": 2.3}, "pass", "7 (class B)"),
        ({"albumin": 2.79, "albumin_unit": "g/dL", "inr": 2.3}, "fail", "8 (class B)"),
        (
            {"albumin": 3.51, "albumin_unit": "g/dL", "inr": 2.31, "ascites": "mild"},
            "fail",
            "8 (class B)",
        ),
    ],
)
def test_child_pugh_criterion(overrides: dict[str, Any], status: str, value: str) -> None:
    i3 = evaluate(eligible_patient(**overrides)).criterion("I3")
    assert (i3.status, i3.value, i3.source) == (status, value, "computed")


@pytest.mark.parametrize("item", ["bilirubin", "albumin", "inr", "ascites", "encephalopathy"])
def test_child_pugh_item_missing_is_unknown(item: str) -> None:
    result = evaluate(eligible_patient(**{item: None}))
    i3 = result.criterion("I3")
    assert i3.status == "unknown"
    assert item in i3.value
    assert i3.raw["min_total"] == 5 and i3.raw["max_total"] == 7
    assert result.status == "incomplete"
    assert "I3" in result.unknown


def test_child_pugh_fails_when_known_items_already_exceed_seven() -> None:
    # bilirubin 3 + albumin 3 + ascites 2 = 8 known points, INR missing.
    clinical = eligible_patient(bilirubin=60.0, albumin=25.0, ascites="mild", inr=None)
    result = evaluate(clinical)
    assert result.criterion("I3").status == "fail"
    assert result.status == "ineligible"


def test_child_pugh_with_a_missing_item_never_passes() -> None:
    # The known items total 4, so at most 7 whatever the missing INR: still unknown.
    assert evaluate(eligible_patient(inr=None)).criterion("I3").status == "unknown"


@pytest.mark.parametrize(
    ("ecog", "i4", "stage"),
    [
        (0, "pass", "A"),
        (1, "pass", "C"),
        (2, "fail", "C"),
        (3, "fail", "D"),
        (None, "unknown", None),
    ],
)
def test_ecog_criterion(ecog: int | None, i4: str, stage: str | None) -> None:
    result = evaluate(eligible_patient(ecog=ecog))
    assert result.criterion("I4").status == i4
    assert result.criterion("I4").source == "entered"
    assert result.bclc.stage == stage


@pytest.mark.parametrize(
    ("overrides", "stage", "status"),
    [
        ({"largest_diameter_mm": 49.0}, "A", "fail"),  # 4.9 cm
        ({"largest_diameter_mm": 49.9}, "A", "fail"),
        ({"largest_diameter_mm": 50.0}, "A", "pass"),  # 5.0 cm
        ({"largest_diameter_mm": 18.0}, "0", "fail"),
        ({"nodule_count": 3, "largest_diameter_mm": 30.0}, "A", "fail"),
        ({"nodule_count": 3, "largest_diameter_mm": 31.0}, "B", "pass"),
        ({"nodule_count": 6, "largest_diameter_mm": 20.0}, "B", "pass"),
        ({"macrovascular_invasion": True, "largest_diameter_mm": 30.0}, "C", "pass"),
        ({"ecog": 1, "largest_diameter_mm": 30.0}, "C", "pass"),
        ({"extrahepatic_spread": True}, "C", "fail"),
        ({"extrahepatic_spread": True, "macrovascular_invasion": True}, "C", "fail"),
        ({"ecog": 3}, "D", "fail"),
        ({"bilirubin": 60.0, "albumin": 25.0, "ascites": "mild", "inr": 1.8}, "D", "fail"),
        ({"largest_diameter_mm": None}, None, "unknown"),
        ({"nodule_count": None}, None, "unknown"),
        ({"macrovascular_invasion": None}, None, "unknown"),
        ({"extrahepatic_spread": None}, None, "unknown"),
        # Stage C by invasion, but distant metastasis not recorded:
        ({"macrovascular_invasion": True, "extrahepatic_spread": None}, "C", "unknown"),
        # Extrahepatic spread fails even when the stage is open:
        ({"extrahepatic_spread": True, "ecog": None}, None, "fail"),
    ],
)
def test_tumour_criterion(overrides: dict[str, Any], stage: str | None, status: str) -> None:
    result = evaluate(eligible_patient(**overrides))
    i6 = result.criterion("I6")
    assert result.bclc.stage == stage
    assert i6.status == status
    assert i6.raw["bclc_stage"] == stage
    assert i6.source == "computed"
    if overrides.get("extrahepatic_spread"):
        assert "distant metastasis" in i6.value


@pytest.mark.parametrize(
    ("entered", "measured", "status", "used"),
    [
        (45.0, 50.0, "pass", 50.0),  # the MRI measurement takes precedence
        (55.0, 49.0, "fail", 49.0),
        (None, 50.0, "pass", 50.0),
        (None, 49.9, "fail", 49.9),
    ],
)
def test_measured_diameter_takes_precedence(
    entered: float | None, measured: float, status: str, used: float
) -> None:
    result = evaluate(
        eligible_patient(largest_diameter_mm=entered),
        measured_diameter_mm=measured,
        measured_source="arterial phase, slice 14",
    )
    i6 = result.criterion("I6")
    assert i6.status == status
    assert i6.source == "measured"
    assert i6.raw["diameter_mm"] == used
    assert i6.raw["entered_diameter_mm"] == entered
    assert result.diameter_mm == used
    assert result.diameter_source == "measured on MRI: arterial phase, slice 14"
    assert "arterial phase, slice 14" in i6.value
    if entered is not None:
        assert f"entered {entered:g} mm" in i6.value


def test_measured_diameter_changes_the_stage() -> None:
    # Entered 3 nodules of up to 28 mm (BCLC-A); the MRI shows the largest is 34 mm (BCLC-B).
    clinical = eligible_patient(nodule_count=3, largest_diameter_mm=28.0)
    assert evaluate(clinical).bclc.stage == "A"
    result = evaluate(clinical, measured_diameter_mm=34.0)
    assert result.bclc.stage == "B"
    assert result.criterion("I6").status == "pass"
    assert result.diameter_source == "measured on MRI: MRI measurement"


@pytest.mark.parametrize(
    ("probability", "threshold", "status"),
    [(0.5, 0.5, "pass"), (0.4999, 0.5, "fail"), (0.93, 0.5, "pass"), (0.2, 0.35, "fail")],
)
def test_model_criterion(probability: float, threshold: float, status: str) -> None:
    i8 = evaluate(
        eligible_patient(), model_probability=probability, model_threshold=threshold
    ).criterion("I8")
    assert (i8.status, i8.source) == (status, "model")
    assert i8.raw == {"probability": probability, "threshold": threshold, "synthetic": False}
    assert ">=" in i8.value if status == "pass" else "<" in i8.value
    assert "SYNTHETIC" not in i8.value


def test_near_threshold_value_does_not_look_equal() -> None:
    i8 = evaluate(eligible_patient(), model_probability=0.4999, model_threshold=0.5).criterion("I8")
    probability_text, threshold_text = i8.value.split(" < threshold ")
    assert probability_text != threshold_text


def test_synthetic_checkpoint_is_flagged() -> None:
    i8 = evaluate(eligible_patient(), model_synthetic=True).criterion("I8")
    assert i8.status == "pass"
    assert "SYNTHETIC" in i8.value
    assert i8.raw["synthetic"] is True


def test_model_not_run_is_unknown() -> None:
    result = evaluate(eligible_patient(), model_probability=None, model_threshold=None)
    assert result.criterion("I8").status == "unknown"
    assert result.status == "incomplete"
    assert result.unknown == ("I8",)


@pytest.mark.parametrize(
    ("criterion_id", "field", "passing"),
    [
        ("I2", "prior_hcc_treatment", False),
        ("I5", "serious_organ_disease", False),
        ("I7", "biopsy_confirmed_hcc", True),
        ("E1", "pregnant_or_lactating", False),
        ("E2", "absorption_disorder", False),
        ("E3", "gi_bleeding_risk", False),
        ("E4", "active_infection", False),
        ("E5", "other_safety_abnormality", False),
        ("E6", "unable_to_follow_protocol", False),
    ],
)
@pytest.mark.parametrize("answer", [True, False, None])
def test_entered_yes_no_criteria(
    criterion_id: str, field: str, passing: bool, answer: bool | None
) -> None:
    result = evaluate(eligible_patient(**{field: answer}))
    criterion = result.criterion(criterion_id)
    assert criterion.source == "entered"
    assert criterion.raw[field] == answer
    others = [c.status for c in result.criteria if c.id != criterion_id]
    assert others == ["pass"] * 13
    if answer is None:
        assert (criterion.status, result.status) == ("unknown", "incomplete")
        assert result.unknown == (criterion_id,)
    elif answer == passing:
        assert (criterion.status, result.status) == ("pass", "eligible")
    else:
        assert (criterion.status, result.status) == ("fail", "ineligible")
        assert result.failed == (criterion_id,)


@pytest.mark.parametrize(
    ("sex", "answer", "status"),
    [("M", None, "pass"), ("F", None, "unknown"), (None, None, "unknown"), ("M", True, "fail")],
)
def test_pregnancy_for_male_patients(sex: str | None, answer: bool | None, status: str) -> None:
    e1 = evaluate(eligible_patient(sex=sex, pregnant_or_lactating=answer)).criterion("E1")
    assert e1.status == status
    if status == "pass":
        assert e1.value == "not applicable (male)"


def test_nothing_known_is_incomplete_never_eligible() -> None:
    result = evaluate_criteria(ClinicalData(), screening_date=SCREENING)
    assert result.status == "incomplete"
    assert result.unknown == tuple(ALL_IDS)
    assert all(c.status == "unknown" for c in result.criteria)


def test_fail_outranks_unknown_and_lists_all_failures() -> None:
    clinical = eligible_patient(ecog=2, active_infection=True, biopsy_confirmed_hcc=None)
    result = evaluate(clinical)
    assert result.status == "ineligible"
    assert result.failed == ("I4", "E4")
    assert result.unknown == ("I7",)


def test_json_round_trips_and_holds_every_criterion() -> None:
    result = evaluate(
        eligible_patient(inr=None), measured_diameter_mm=51.5, measured_source="portal phase"
    )
    data = json.loads(result.to_json())
    assert data == result.to_dict()
    assert data["protocol_version"] == "Neoadj-Net01 V1.1"
    assert data["status"] == "incomplete"
    assert data["unknown"] == ["I3"]
    assert data["screening_date"] == "2025-04-10"
    assert data["child_pugh"]["points"]["inr"] is None
    # Child-Pugh 5-7 leaves liver function open, but a 51.5 mm single nodule is A either way.
    assert data["bclc"]["stage"] == "A"
    assert data["criteria"][5]["status"] == "pass"
    assert [c["id"] for c in data["criteria"]] == ALL_IDS
    assert {c["source"] for c in data["criteria"]} == {"entered", "measured", "computed", "model"}


def test_no_patient_identifier_in_the_output() -> None:
    clinical = eligible_patient(patient_id="MRN-0042-SECRET", site="site-1")
    assert "MRN-0042-SECRET" not in evaluate(clinical).to_json()


@pytest.mark.parametrize(
    ("overrides", "kwargs", "message"),
    [
        ({"albumin": 40.0, "albumin_unit": "g/dL"}, {}, "albumin 40 g/dL"),
        ({"ecog": 6}, {}, "ECOG"),
        ({"nodule_count": 0}, {}, "nodule count"),
        ({"largest_diameter_mm": -3.0}, {}, "diameter"),
        ({}, {"measured_diameter_mm": 0.0}, "MRI measurement"),
        ({}, {"measured_diameter_mm": float("nan")}, "MRI measurement"),
        ({"date_of_birth": date(2030, 1, 1)}, {}, "date of birth"),
        ({}, {"model_probability": 1.2}, "probability must be between 0 and 1"),
        ({}, {"model_threshold": float("nan")}, "threshold must be between 0 and 1"),
        ({}, {"model_threshold": None}, "go together"),
        ({"ascites": "lots"}, {}, "ascites 'lots'"),
    ],
)
def test_bad_input_raises_a_clear_error(
    overrides: dict[str, Any], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(RuleInputError, match=message):
        evaluate(eligible_patient(**overrides), **kwargs)
