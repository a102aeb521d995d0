"""Exact Shapley values of the three modalities, in probability space.

The value of a coalition S of modalities is the benefit probability the model gives when only
the modalities in S are present (the others take the model's learned "absent" embedding),
v(S) = sigmoid(logit(mask = S)). With three modalities all 2^3 = 8 coalitions are evaluated in
one batch, and

    phi_i = sum over S not containing i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S)),

so that phi_mri + phi_slide + phi_genes = v(all present) - v(none present) exactly: the
prediction minus the no-modality baseline. A modality the case lacks is never present, so its
value is 0 and the others share the whole difference.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch

from explain.tensors import CaseTensors
from inference.model import MODALITIES


@dataclass(frozen=True)
class ModalityShapley:
    """Shapley values of the modalities for one case (probability units).

    Attributes:
        values: Modality name -> Shapley value.
        prediction: v(every modality the case has) = the predicted probability.
        baseline: v(no modality) = the model's probability with every modality absent.
        coalitions: "mri+genes"-style key ("none" for the empty one) -> v(S).
        present: Modality name -> whether the case has it.
    """

    values: dict[str, float]
    prediction: float
    baseline: float
    coalitions: dict[str, float]
    present: dict[str, bool]

    @property
    def additivity_error(self) -> float:
        """|sum of values - (prediction - baseline)|."""
        return abs(sum(self.values.values()) - (self.prediction - self.baseline))

    def to_json(self) -> dict[str, Any]:
        """``{"values", "prediction", "baseline", "units", "coalitions", "present"}``."""
        return {
            "values": dict(self.values),
            "prediction": self.prediction,
            "baseline": self.baseline,
            "units": "probability",
            "coalitions": dict(self.coalitions),
            "present": dict(self.present),
        }


def coalition_key(members: tuple[str, ...]) -> str:
    """ "mri+slide"-style name of a coalition; "none" for the empty one."""
    return "+".join(members) if members else "none"


def modality_shapley(case: CaseTensors) -> ModalityShapley:
    """Evaluate the 8 coalitions in one batch and combine them into Shapley values."""
    n = len(MODALITIES)
    present = [bool(v) for v in case.modality_mask[0].tolist()]
    subsets = [s for k in range(n + 1) for s in itertools.combinations(range(n), k)]
    masks = torch.zeros((len(subsets), n), dtype=torch.bool)
    for row, subset in enumerate(subsets):
        for m in subset:
            masks[row, m] = present[m]
    with torch.no_grad():
        logits = case.logits(modality_mask=masks.to(case.modality_mask.device))
    probs = torch.sigmoid(logits.double()).cpu().tolist()
    value = {frozenset(s): float(p) for s, p in zip(subsets, probs, strict=True)}
    phi: dict[str, float] = {}
    for i, name in enumerate(MODALITIES):
        total = 0.0
        for subset in subsets:
            if i in subset:
                continue
            weight = math.factorial(len(subset)) * math.factorial(n - len(subset) - 1)
            total += (
                weight
                / math.factorial(n)
                * (value[frozenset((*subset, i))] - value[frozenset(subset)])
            )
        phi[name] = total
    coalitions = {
        coalition_key(tuple(MODALITIES[m] for m in s)): value[frozenset(s)] for s in subsets
    }
    return ModalityShapley(
        values=phi,
        prediction=value[frozenset(range(n))],
        baseline=value[frozenset()],
        coalitions=coalitions,
        present=dict(zip(MODALITIES, present, strict=True)),
    )
