"""Sanity checks stored with every explanation; a failed check marks its map unreliable.

Cascading model-parameter randomisation (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018): the layers on a map's path are re-initialised from the top (output) down, one
layer at a time, cumulatively, and the map is recomputed after each step. A map that explains
the trained model must change when what the model learned is destroyed. The figure is the
Spearman rank correlation between the magnitude (absolute value) of the original map and of the
map of the fully randomised model, over a stated region (for MRI: the body, see
`explain.explanation.BODY_REGION`); the check passes when it is below
`RANDOMISATION_MAX_SPEARMAN`. A map that stays similar is driven by the input (edges,
intensities), not by the model, and is shown as unreliable. Re-initialisation uses each layer's
own ``reset_parameters`` under a fixed seed, so the check is reproducible.

Completeness (Integrated Gradients' axiom): ``|sum(attributions) - (f(input) -
f(baseline))|`` in logit units must be below `IG_TOLERANCE_LOGIT`. Effect: the amount IG
distributes, ``|f(input) - f(baseline)|``, must reach `MIN_EFFECT_LOGIT` for the MRI and
slide maps, else the map shows what the model hardly uses. Additivity of the modality
Shapley values (probability units) must hold to `SHAPLEY_TOLERANCE`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import spearmanr
from torch import nn

from app.progress import check_cancel
from explain.integrated import IG_TOLERANCE_LOGIT, IgResult
from explain.modality_shapley import ModalityShapley
from inference.model import NeoadjNet

RANDOMISATION_MAX_SPEARMAN = 0.5
"""A map passes when its rank correlation with the fully randomised model's map is below this.

A choice, stated here: at 0.5 or above, the map of a network that learned nothing already
reproduces most of the trained map's rank order, so what the map shows is driven by the
input (intensities, edges, the body outline) rather than by what the model learned."""
MIN_EFFECT_LOGIT = 0.05
"""Least logit change between input and baseline for an IG map to mean something: about 1.2
percentage points of probability around 0.5. Below it the model barely depends on the content
the map shows (e.g. a branch that gives nearly the same embedding for every scan)."""
SHAPLEY_TOLERANCE = 1e-9
"""Largest accepted additivity error of the modality Shapley values (probability units)."""
RANDOMISATION_SEED = 20181203
"""Seed of the re-initialisation (fixed, so that the check is reproducible)."""

LayerGroup = tuple[str, tuple[str, ...]]
"""(label, dotted names of the modules re-initialised together)."""


@dataclass(frozen=True)
class SanityCheck:
    """The outcome of one check.

    Attributes:
        name: "randomisation", "completeness", "effect" or "additivity".
        target: The explanation it vouches for ("mri_integrated_gradients", "mri_gradcam",
            "slide_attribution", "gene_attribution", "modality_shapley").
        figure: The measured number (Spearman rho, or an amount in the stated units).
        threshold: What the figure is compared with.
        rule: "<" (passes when ``figure < threshold``) or ">=".
        units: Units of ``figure``.
        detail: Extra numbers (per-step correlations...).
    """

    name: str
    target: str
    figure: float
    threshold: float
    rule: Literal["<", ">="]
    units: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the figure satisfies the rule (NaN never does)."""
        if self.rule == "<":
            return bool(self.figure < self.threshold)
        return bool(self.figure >= self.threshold)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "name": self.name,
            "target": self.target,
            "figure": self.figure,
            "threshold": self.threshold,
            "rule": self.rule,
            "passed": self.passed,
            "units": self.units,
            "detail": self.detail,
        }


def completeness_check(target: str, ig: IgResult) -> SanityCheck:
    """IG completeness of one run (logit units)."""
    return SanityCheck(
        "completeness",
        target,
        ig.delta,
        IG_TOLERANCE_LOGIT,
        "<",
        "logit",
        {
            "n_steps": ig.n_steps,
            "logit_input": ig.logit_input,
            "logit_baseline": ig.logit_baseline,
        },
    )


def effect_check(target: str, ig: IgResult) -> SanityCheck:
    """The input's content must move the logit by at least `MIN_EFFECT_LOGIT` (vs baseline).

    IG distributes ``f(input) - f(baseline)``; when that is tiny the model barely depends on
    what the map shows, and the map is mostly numerical noise.
    """
    return SanityCheck(
        "effect",
        target,
        abs(ig.logit_input - ig.logit_baseline),
        MIN_EFFECT_LOGIT,
        ">=",
        "logit",
        {"logit_input": ig.logit_input, "logit_baseline": ig.logit_baseline},
    )


def additivity_check(shapley: ModalityShapley) -> SanityCheck:
    """Shapley values add up to prediction - baseline (probability units)."""
    return SanityCheck(
        "additivity",
        "modality_shapley",
        shapley.additivity_error,
        SHAPLEY_TOLERANCE,
        "<",
        "probability",
    )


def rank_correlation(a: NDArray[np.floating[Any]], b: NDArray[np.floating[Any]]) -> float:
    """Spearman rho of two equally shaped maps; 0 when either is constant (no rank order)."""
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"maps differ in size: {x.size} vs {y.size}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    rho = float(spearmanr(x, y).statistic)
    return 0.0 if np.isnan(rho) else rho


def randomise_layers(model: NeoadjNet, names: Sequence[str], seed: int) -> None:
    """Re-initialise, in place, every parameterised module under the given dotted names."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in names:
            for module in model.get_submodule(name).modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()


def cascading_randomisation(
    model: NeoadjNet,
    saliency: Callable[[NeoadjNet], NDArray[np.float32]],
    groups: Sequence[LayerGroup],
    *,
    target: str,
    region: NDArray[np.bool_] | None = None,
    region_name: str = "whole map",
    cancel: threading.Event | None = None,
) -> SanityCheck:
    """Adebayo et al.'s cascading randomisation test of one saliency map.

    Args:
        model: The trained model (not modified: a copy is randomised).
        saliency: Computes the map for a model; compared by magnitude.
        groups: Layer groups from the output down to the input.
        target: Name of the explanation checked.
        region: Bool mask (map's shape) of the elements compared; None for all.
        region_name: What ``region`` is, for the record.
        cancel: Checked before each step.

    Returns:
        The check; ``detail["steps"]`` has the correlation after each cumulative step and
        ``detail["spearman_whole_map"]`` the final one over every element. A map of the
        trained model that is constant (no rank order at all) fails.
    """
    original = np.abs(saliency(model))
    inside = np.ones(original.shape, dtype=bool) if region is None else region
    randomised = copy.deepcopy(model).eval()
    steps: list[dict[str, Any]] = []
    rho, whole = 1.0, 1.0
    for i, (label, names) in enumerate(groups):
        check_cancel(cancel)
        randomise_layers(randomised, names, RANDOMISATION_SEED + i)
        current = np.abs(saliency(randomised))
        rho = rank_correlation(original[inside], current[inside])
        steps.append({"randomised_down_to": label, "spearman": rho})
        whole = rank_correlation(original, current)
    detail: dict[str, Any] = {
        "steps": steps,
        "region": region_name,
        "region_elements": int(inside.sum()),
        "spearman_whole_map": whole,
    }
    if np.ptp(original[inside]) == 0:
        detail["note"] = "the map of the trained model is constant: it ranks nothing"
        rho = 1.0
    return SanityCheck(
        "randomisation",
        target,
        rho,
        RANDOMISATION_MAX_SPEARMAN,
        "<",
        "spearman",
        detail,
    )


BRANCHES = ("mri_branch", "slide_branch", "gene_branch")
TRAINING_AIDS = ("aux_heads", "feature_heads")
"""Heads that only training reads: off the logit's path, so never randomised."""


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _top_down(module: nn.Module, prefix: str) -> list[LayerGroup]:
    """Layers with parameters under ``module``, last registered (= last run) first.

    A module holding parameters of its own is one layer; a container (no parameters of its
    own: Sequential, a branch's sub-network) is opened.
    """
    groups: list[LayerGroup] = []
    for name, child in reversed(list(module.named_children())):
        path = f"{prefix}.{name}"
        if name in TRAINING_AIDS or not _has_parameters(child):
            continue
        if any(True for _ in child.parameters(recurse=False)):
            groups.append((path, (path,)))
        else:
            groups.extend(_top_down(child, path))
    return groups


def _fusion_group(model: NeoadjNet) -> LayerGroup:
    """Everything above the branches that the fused logit depends on (head, absent vectors)."""
    names = tuple(
        name
        for name, child in model.named_children()
        if name not in BRANCHES and name not in TRAINING_AIDS and _has_parameters(child)
    )
    return ("fusion head", names)


def mri_layer_groups(model: NeoadjNet) -> list[LayerGroup]:
    """Layers on the MRI maps' path, output first: fusion head, then the 3D CNN top down."""
    return [_fusion_group(model), *_top_down(model.mri_branch, "mri_branch")]


def slide_layer_groups(model: NeoadjNet) -> list[LayerGroup]:
    """Layers on the slide maps' path, output first: fusion head, attention, tile encoder."""
    return [_fusion_group(model), *_top_down(model.slide_branch, "slide_branch")]
