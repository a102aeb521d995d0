"""The two arms of trial Neoadj-Net01 and their regimens, as shown with an allocation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from app.rules.errors import RuleInputError


class Arm(StrEnum):
    """A randomised arm; the value is what the database stores."""

    NEOADJUVANT = "neoadjuvant"
    DIRECT_SURGERY = "direct_surgery"


@dataclass(frozen=True)
class ArmDescription:
    """What an arm means for the patient.

    Attributes:
        label: Short name, e.g. "Neoadjuvant therapy, then surgery".
        role: "experimental" or "active comparator".
        regimen: The treatment steps in order, one plain-language line each.
    """

    label: str
    role: str
    regimen: tuple[str, ...]


LENVATINIB_WEIGHT_CUTOFF_KG = 60.0
"""Lenvatinib: 12 mg at or above this body weight, 8 mg below."""

_ADJUVANT = (
    "Adjuvant tislelizumab 200 mg IV every 21 days for 8 cycles, "
    "starting about 1 month after surgery"
)

ARMS: dict[Arm, ArmDescription] = {
    Arm.NEOADJUVANT: ArmDescription(
        label="Neoadjuvant HAIC + lenvatinib + tislelizumab, then surgery",
        role="experimental",
        regimen=(
            "HAIC-FOLFOX (folinic acid + 5-fluorouracil + oxaliplatin): 2 cycles, "
            "21 days apart (window +/- 3 days)",
            "Lenvatinib orally once daily, 12 mg if body weight >= 60 kg, 8 mg below: "
            "started before HAIC, paused during HAIC, stopped about 2 weeks before surgery",
            "Tislelizumab 200 mg IV 0-1 day after each HAIC (2 doses, 21 days apart)",
            "Re-assessment of tumour status and surgical safety, then liver resection",
            _ADJUVANT,
        ),
    ),
    Arm.DIRECT_SURGERY: ArmDescription(
        label="Direct surgery",
        role="active comparator",
        regimen=("Liver resection", _ADJUVANT),
    ),
}
"""Each arm's description, in the order the protocol lists them."""


def lenvatinib_dose_mg(weight_kg: float) -> Literal[8, 12]:
    """Daily lenvatinib dose of the neoadjuvant arm by body weight.

    Args:
        weight_kg: Body weight in kg (20-400).

    Returns:
        12 (mg) at 60 kg or more, 8 (mg) below.

    Raises:
        RuleInputError: if the weight is not a plausible body weight.
    """
    if not (math.isfinite(weight_kg) and 20.0 <= weight_kg <= 400.0):
        raise RuleInputError(
            f"Clinical data: body weight {weight_kg:g} kg is outside 20-400 kg; check the value."
        )
    return 12 if weight_kg >= LENVATINIB_WEIGHT_CUTOFF_KG else 8
