"""Randomisation of trial Neoadj-Net01, without a database.

- `arms`: the two arms, their regimens and the lenvatinib dose rule.
- `sequence`: the concealed per-stratum allocation sequence (permuted blocks 2/4/6 derived
  by HMAC-SHA256 from the site secret) and its verification.
"""

from app.randomisation.arms import (
    ARMS,
    LENVATINIB_WEIGHT_CUTOFF_KG,
    Arm,
    ArmDescription,
    lenvatinib_dose_mg,
)
from app.randomisation.sequence import (
    BLOCK_SIZES,
    MIN_SECRET_BYTES,
    SCHEME,
    Allocation,
    AllocationSequence,
    Mismatch,
    MismatchKind,
    RandomisationError,
    Stratum,
    StratumStage,
)

__all__ = [
    "ARMS",
    "BLOCK_SIZES",
    "LENVATINIB_WEIGHT_CUTOFF_KG",
    "MIN_SECRET_BYTES",
    "SCHEME",
    "Allocation",
    "AllocationSequence",
    "Arm",
    "ArmDescription",
    "Mismatch",
    "MismatchKind",
    "RandomisationError",
    "Stratum",
    "StratumStage",
    "lenvatinib_dose_mg",
]
