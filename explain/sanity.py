"""Sanity checks stored with every explanation; a failed check marks its map unreliable.

Cascading model-parameter randomisation (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018): the layers on a map's path are re-initialised from the top (output) down, one
group at a time, cumulatively, and the map is recomputed after each step. A map that explains
the trained model must change when what the model learned is destroyed. The figure is the
Spearman rank correlation between the magnitude (absolute value) of the original map and of the
map of the fully randomised model; the check passes when it is below
`RANDOMISATION_MAX_SPEARMAN`. A map that stays similar is driven by the input (edges,
intensities), not by the model, and is shown as unreliable. Re-initialisation uses each layer's
own ``reset_parameters`` under a fixed seed, so the check is reproducible.

Completeness (Integrated Gradients' axiom): ``|sum(attributions) - (f(input) -
f(baseline))|`` in logit units must be below `IG_TOLERANCE_LOGIT`. Additivity of the modality
Shapley values (probability units) must hold to `SHAPLEY_TOLERANCE`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import spearmanr

from app.progress import check_cancel
from explain.integrated import IG_TOLERANCE_LOGIT, IgResult
from explain.modality_shapley import ModalityShapley
from inference.model import NeoadjNet

RANDOMISATION_MAX_SPEARMAN = 0.5
"""A map passes when its rank correlation with the fully randomised model's map is below this:
it then shares less rank order with a network that learned nothing than with itself by chance
alone would allow a structure-only (edge-detector-like) map; Adebayo et al. report 0.6-0.9 for
such input-driven maps and below 0.3 for maps that depend on the weights."""
SHAPLEY_TOLERANCE = 1e-9
"""Largest accepted additivity error of the modality Shapley values (probability units)."""
RANDOMISATION_SEED = 20181203
"""Seed of the re-initialisation (NeurIPS 2018 opened on 3 December 2018)."""

LayerGroup = tuple[str, tuple[str, ...]]
"""(label, dotted names of the modules re-initialised together)."""


@dataclass(frozen=True)
class SanityCheck:
    """The outcome of one check.

    Attributes:
        name: e.g. "randomisation", "completeness", "additivity".
        target: The explanation it vouches for ("mri_integrated_gradients", "mri_gradcam",
            "slide_attribution", "gene_attribution", "modality_shapley").
        figure: The measured number (Spearman rho, or an error in the stated units).
        threshold: The figure must be strictly below this to pass.
        passed: ``figure < threshold``.
        units: Units of ``figure``.
        detail: Extra numbers (per-step correlations...).
    """

    name: str
    target: str
    figure: float
    threshold: float
    passed: bool
    units: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "name": self.name,
            "target": self.target,
            "figure": self.figure,
            "threshold": self.threshold,
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
        ig.delta < IG_TOLERANCE_LOGIT,
        "logit",
        {
            "n_steps": ig.n_steps,
            "logit_input": ig.logit_input,
            "logit_baseline": ig.logit_baseline,
        },
    )


def additivity_check(shapley: ModalityShapley) -> SanityCheck:
    """Shapley values add up to prediction - baseline (probability units)."""
    err = shapley.additivity_error
    return SanityCheck(
        "additivity",
        "modality_shapley",
        err,
        SHAPLEY_TOLERANCE,
        err < SHAPLEY_TOLERANCE,
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
    cancel: threading.Event | None = None,
) -> SanityCheck:
    """Adebayo et al.'s cascading randomisation test of one saliency map.

    Args:
        model: The trained model (not modified: a copy is randomised).
        saliency: Computes the map for a model; compared by magnitude.
        groups: Layer groups from the output down to the input.
        target: Name of the explanation checked.
        cancel: Checked before each step.

    Returns:
        The check; ``detail["steps"]`` has the correlation after each cumulative step.
    """
    original = np.abs(saliency(model))
    randomised = copy.deepcopy(model).eval()
    steps: list[dict[str, Any]] = []
    rho = 1.0
    for i, (label, names) in enumerate(groups):
        check_cancel(cancel)
        randomise_layers(randomised, names, RANDOMISATION_SEED + i)
        rho = rank_correlation(original, np.abs(saliency(randomised)))
        steps.append({"randomised_down_to": label, "spearman": rho})
    detail: dict[str, Any] = {"steps": steps}
    if np.ptp(original) == 0:
        detail["note"] = "the map of the trained model is constant"
        rho = 1.0
    return SanityCheck(
        "randomisation",
        target,
        rho,
        RANDOMISATION_MAX_SPEARMAN,
        rho < RANDOMISATION_MAX_SPEARMAN,
        "spearman",
        detail,
    )


def mri_layer_groups(model: NeoadjNet) -> list[LayerGroup]:
    """Layers on the MRI maps' path, output first: head, projection, last conv, blocks."""
    groups: list[LayerGroup] = [
        ("head", ("head",)),
        ("mri projection", ("mri_branch.project",)),
        ("mri last conv block", ("mri_branch.last_act", "mri_branch.last_conv")),
    ]
    for k in reversed(range(len(model.mri_branch.blocks))):
        groups.append((f"mri conv block {k}", (f"mri_branch.blocks.{k}",)))
    return groups


def slide_layer_groups() -> list[LayerGroup]:
    """Layers on the slide maps' path, output first: head, attention, tile encoder."""
    return [
        ("head", ("head",)),
        (
            "MIL attention",
            ("slide_branch.attn_w", "slide_branch.attn_u", "slide_branch.attn_v"),
        ),
        ("tile projection", ("slide_branch.encoder.project",)),
        ("tile conv layers", ("slide_branch.encoder.features",)),
    ]
