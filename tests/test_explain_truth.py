"""Explanations against the planted truth of external-centre synthetic patients (slow).

Twelve patients of the external centre are generated exactly as the cohort generates them
(seed 1, the stream indices after the 536 training patients) and explained with the demo
checkpoint; the tumour masks, slide masks and planted genes come from the generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from app.synth import layout
from app.synth.centres import EXTERNAL_CENTRE
from app.synth.cohort import DEFAULT_TRAIN_PATIENTS
from app.synth.patient import PatientRequest, generate_patient
from explain.truth import evaluate_cases, summarise
from inference.checkpoint import default_checkpoint_dir, load_checkpoint

PATIENTS = 12
SEED = 1

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("external")
    cases: list[tuple[str, Path, Path]] = []
    for k in range(PATIENTS):
        index = DEFAULT_TRAIN_PATIENTS + k
        case_id = layout.cohort_case_id(index)
        request = PatientRequest(case_id, EXTERNAL_CENTRE.code, "external", SEED, index)
        case_dir, truth_dir = root / "cases" / case_id, root / "truth" / case_id
        generate_patient(request, case_dir, truth_dir)
        cases.append((case_id, case_dir, truth_dir))
    rows = evaluate_cases(cases, load_checkpoint(default_checkpoint_dir()))
    return summarise(rows)


def test_mri_attribution_mass_concentrates_in_the_tumours(summary: dict[str, Any]) -> None:
    ig = summary["mri_integrated_gradients"]
    assert ig["enrichment_of_means"] >= 5.0, ig


def test_mri_pointing_game(summary: dict[str, Any]) -> None:
    """The strongest |IG| voxel lies at a tumour in most patients.

    Not in all: since demo checkpoint 0.5.0 the thrombus map works, and the model reads the
    portal-venous region for macrovascular invasion through that map's maximum, whose gradient
    sits on single voxels. In 3 of these 12 patients (no invasion) the peak lies 9-12 mm from
    the portal and caval vessels, outside the liver; one with invasion peaks 6 mm from its
    thrombus. The attribution mass still concentrates in the tumours (the test above).
    """
    ig = summary["mri_integrated_gradients"]
    assert ig["pointing_game_tolerant"] >= 0.6, ig


def test_slide_heatmaps_prefer_tumour_and_immune_tiles(summary: dict[str, Any]) -> None:
    slide = summary["slide"]  # AUROC 0.5 = blind to the tile's content
    assert slide["auroc_attention_tumour"] >= 0.6, slide  # where the MIL pooling looks
    # what pushed the logit: tumour tiles and immune infiltrate (the latter is read through the
    # per-tile fractions, not the attention, so attention alone need not prefer it)
    assert slide["auroc_attribution_tumour"] >= 0.6, slide
    assert slide["auroc_attribution_immune"] >= 0.6, slide


def test_planted_genes_rank_first(summary: dict[str, Any]) -> None:
    genes = summary["genes"]
    ranks = genes["planted_ranks"]
    assert set(ranks) == {"TP53", "CTNNB1", "FGF19", "VEGFA"}
    importance = genes["mean_abs_attribution"]
    top2 = sorted(importance, key=lambda g: -importance[g])[:2]
    assert set(top2) <= set(ranks), genes  # the two most important genes are planted ones
    # mean |attribution| over 12 patients also scales with how often a gene is altered
    # (FGF19 amplification: 10 %), so the rarer planted genes need only beat half the panel
    assert max(ranks.values()) <= len(importance) // 2, genes
