"""The arms as data and the weight-based lenvatinib dose."""

from __future__ import annotations

import pytest

from app.randomisation import ARMS, Arm, lenvatinib_dose_mg
from app.rules import RuleInputError


@pytest.mark.parametrize(
    ("weight_kg", "dose_mg"),
    [(40.0, 8), (59.9, 8), (59.999, 8), (60.0, 12), (60.1, 12), (95.0, 12)],
)
def test_lenvatinib_dose_at_the_60_kg_boundary(weight_kg: float, dose_mg: int) -> None:
    assert lenvatinib_dose_mg(weight_kg) == dose_mg


@pytest.mark.parametrize("weight_kg", [0.0, -60.0, 5.0, 1000.0, float("nan"), float("inf")])
def test_implausible_weight_is_rejected(weight_kg: float) -> None:
    with pytest.raises(RuleInputError, match="body weight"):
        lenvatinib_dose_mg(weight_kg)


def test_both_arms_are_described() -> None:
    assert set(ARMS) == set(Arm)
    assert {arm.value for arm in Arm} == {"neoadjuvant", "direct_surgery"}
    assert ARMS[Arm.NEOADJUVANT].role == "experimental"
    assert ARMS[Arm.DIRECT_SURGERY].role == "active comparator"


def test_regimens_state_the_protocol_facts() -> None:
    neoadjuvant = " ".join(ARMS[Arm.NEOADJUVANT].regimen)
    for fact in (
        "HAIC-FOLFOX",
        "2 cycles",
        "21 days apart",
        "+/- 3 days",
        "12 mg if body weight >= 60 kg, 8 mg below",
        "paused during HAIC",
        "2 weeks before surgery",
        "Tislelizumab 200 mg IV 0-1 day after each HAIC",
        "liver resection",
    ):
        assert fact in neoadjuvant
    for description in ARMS.values():
        assert "every 21 days for 8 cycles" in description.regimen[-1]
        assert "1 month after surgery" in description.regimen[-1]
    assert "Liver resection" in ARMS[Arm.DIRECT_SURGERY].regimen
