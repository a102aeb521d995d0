"""Protocol rules of trial Neoadj-Net01 V1.1, without Qt or a database.

- `child_pugh`: Child-Pugh item points, total (or range) and class.
- `bclc`: BCLC 2022 stage with its reason.
- `age`: completed years on the screening date.
- `criteria`: inclusion I1-I8 and exclusion E1-E6 to pass / fail / unknown, and the summary.
"""

from app.rules.age import age_on
from app.rules.bclc import (
    LIVER_FUNCTION_BY_CLASS,
    BclcResult,
    BclcStage,
    LiverFunction,
    bclc_stage,
    bclc_stage_from_child_pugh,
)
from app.rules.child_pugh import (
    CHILD_PUGH_ITEMS,
    ChildPughClass,
    ChildPughItem,
    ChildPughResult,
    albumin_points,
    ascites_points,
    bilirubin_points,
    child_pugh,
    child_pugh_class,
    encephalopathy_points,
    inr_points,
)
from app.rules.criteria import (
    CRITERION_LABELS,
    PROTOCOL_VERSION,
    CriterionResult,
    CriterionSource,
    CriterionStatus,
    EligibilityResult,
    EligibilityStatus,
    JsonValue,
    evaluate_criteria,
)
from app.rules.errors import RuleInputError

__all__ = [
    "CHILD_PUGH_ITEMS",
    "CRITERION_LABELS",
    "LIVER_FUNCTION_BY_CLASS",
    "PROTOCOL_VERSION",
    "BclcResult",
    "BclcStage",
    "ChildPughClass",
    "ChildPughItem",
    "ChildPughResult",
    "CriterionResult",
    "CriterionSource",
    "CriterionStatus",
    "EligibilityResult",
    "EligibilityStatus",
    "JsonValue",
    "LiverFunction",
    "RuleInputError",
    "age_on",
    "albumin_points",
    "ascites_points",
    "bclc_stage",
    "bclc_stage_from_child_pugh",
    "bilirubin_points",
    "child_pugh",
    "child_pugh_class",
    "encephalopathy_points",
    "evaluate_criteria",
    "inr_points",
]
