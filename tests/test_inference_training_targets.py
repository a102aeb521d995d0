"""Auxiliary training targets: read from a synthetic cohort's truth, aligned with the inputs."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.case import load_case
from app.synth.cohort import generate_cohort
from inference.batch import CaseArrays, collate
from inference.cohort import read_cohort
from inference.input_spec import InputSpec
from inference.model import MRI_MAP_NAMES, ArchitectureConfig
from inference.preprocess import prepare_case_inputs
from inference.training import (
    TrainConfig,
    augment,
    collate_targets,
    refit_head,
    soft_dice_loss,
    train_model,
)
from inference.training_targets import TrainingTargets, read_training_targets

SPEC = InputSpec(max_tiles=16)
TINY = ArchitectureConfig(
    mri_channels=(4, 8), tile_channels=(4, 8), embed_dim=8, attention_dim=8, fusion_hidden=8
)


@pytest.fixture(scope="module")
def cohort_cases(
    tmp_path_factory: pytest.TempPathFactory,
) -> list[tuple[Path, CaseArrays, int]]:
    """(truth folder, prepared arrays, label) of each patient of a 3-patient cohort."""
    out = tmp_path_factory.mktemp("cohort") / "out"
    generate_cohort(out, train_patients=2, seed=11, workers=1)
    cohort = read_cohort(out)
    cases = []
    for c in cohort.cases:
        arrays = prepare_case_inputs(load_case([c.folder]), SPEC).arrays()
        cases.append((cohort.truth_dir(c), arrays, c.label))
    return cases


def test_features_follow_the_planted_truth(
    cohort_cases: list[tuple[Path, CaseArrays, int]],
) -> None:
    for truth_dir, arrays, _ in cohort_cases:
        features = json.loads((truth_dir / "truth.json").read_text())["features"]
        t = read_training_targets(truth_dir, arrays)
        assert t.mri_features is not None and t.slide_features is not None
        # z-scores: above the cohort's mean APHE ratio (1.7) is positive, and so on.
        assert (t.mri_features[0] > 0) == (features["aphe_ratio"] > 1.7)
        assert t.mri_features[2] == float(features["macrovascular_invasion"])
        assert (t.slide_features[0] > 0) == (features["immune_density"] > 0.5)


def test_lesion_maps_on_the_model_grid_keep_the_lesion_volumes(
    cohort_cases: list[tuple[Path, CaseArrays, int]],
) -> None:
    for truth_dir, arrays, _ in cohort_cases:
        t = read_training_targets(truth_dir, arrays)
        shape = (len(MRI_MAP_NAMES), *SPEC.grid_shape_zyx)
        assert t.lesion_maps is not None and t.lesion_maps.shape == shape
        maps = dict(zip(MRI_MAP_NAMES, t.lesion_maps, strict=True))
        with np.load(truth_dir / "mri_tumour_mask.npz") as data:
            voxel_ml = abs(np.linalg.det(data["affine_zyx"][:3, :3]))
            tumour = data["tumour_labels"] > 0
            dicom_ml = {
                "tumour": tumour.sum() * voxel_ml,
                "necrosis": data["necrosis"].sum() * voxel_ml,
                "liver": (data["liver"] & ~tumour & ~data["vessels"]).sum() * voxel_ml,
            }
        grid_voxel_ml = float(np.prod(SPEC.grid_spacing_mm_zyx))
        grid_ml = {k: float(maps[k].sum()) * grid_voxel_ml for k in dicom_ml}
        assert grid_ml["tumour"] == pytest.approx(dicom_ml["tumour"], rel=0.15)
        assert grid_ml["necrosis"] == pytest.approx(dicom_ml["necrosis"], rel=0.25, abs=2000.0)
        assert grid_ml["liver"] == pytest.approx(dicom_ml["liver"], rel=0.15)
        # the liver parenchyma excludes the tumour: linear resampling keeps that voxel by voxel
        assert np.all(maps["liver"] + maps["tumour"] <= 1.0 + 1e-5)
        # the viable tumour is brighter than the liver parenchyma in the arterial phase (APHE
        # ratio >= 1.05 in every synthetic patient)
        assert arrays.mri is not None
        core = (maps["tumour"] > 0.9) & (maps["necrosis"] < 0.1)
        liver = maps["liver"] > 0.9
        assert core.any() and liver.any()
        assert float(np.mean(arrays.mri[1][core])) > float(np.mean(arrays.mri[1][liver]))


def test_tile_fractions_match_the_png_masks(
    cohort_cases: list[tuple[Path, CaseArrays, int]],
) -> None:
    for truth_dir, arrays, _ in cohort_cases:
        t = read_training_targets(truth_dir, arrays)
        assert arrays.tile_positions is not None and arrays.tile_extent_px is not None
        assert t.tile_fractions is not None
        assert t.tile_fractions.shape == (len(arrays.tile_positions), 2)
        assert t.tile_fractions.min() >= 0.0 and t.tile_fractions.max() <= 1.0
        png = np.asarray(Image.open(truth_dir / "slide_tumour_mask.png")) > 0
        step = 16  # one PNG pixel per 16 x 16 level-0 pixels (app.synth.layout)
        side = round(arrays.tile_extent_px / step)
        i = int(np.argmax(t.tile_fractions[:, 0]))
        x, y = arrays.tile_positions[i] // step
        assert t.tile_fractions[i, 0] == pytest.approx(png[y : y + side, x : x + side].mean())
        assert t.tile_fractions[:, 0].max() > 0.5  # some tiles lie in the tumour


def test_missing_truth_gives_empty_targets(
    tmp_path: Path, cohort_cases: list[tuple[Path, CaseArrays, int]]
) -> None:
    t = read_training_targets(tmp_path / "nowhere", cohort_cases[0][1])
    assert t == TrainingTargets()


def test_augmentation_moves_targets_with_their_inputs() -> None:
    rng = np.random.default_rng(0)
    mask = (rng.random(SPEC.grid_shape_zyx) > 0.7).astype(np.float32)
    mri = np.stack([mask * 2.0 + 1.0] * 4).astype(np.float32)
    tiles = np.stack([np.full((3, 64, 64), 10 * i, dtype=np.uint8) for i in range(16)])
    arrays = CaseArrays(mri, tiles, np.zeros(len(SPEC.genes), np.float32))
    targets = TrainingTargets(
        lesion_maps=np.stack([mask] * len(MRI_MAP_NAMES)),
        tile_fractions=np.stack([np.arange(16) / 16.0] * 2, axis=1),
    )
    batch = collate([arrays], SPEC)
    target_batch = collate_targets([targets], batch, SPEC)
    out, moved = augment(batch, torch.Generator().manual_seed(3), target_batch)
    assert out.mri is not None and moved is not None and moved.tile_fractions is not None
    assert out.tiles is not None
    bright = out.mri[0, 0] > out.mri[0, 0].mean()  # the shifted mask, whatever the gain
    assert torch.equal(bright, moved.lesion_maps[0, 0] > 0.5)
    order_tiles = torch.argsort(out.tiles[0].mean(dim=(1, 2, 3)))
    order_targets = torch.argsort(moved.tile_fractions[0, :, 0])
    assert torch.equal(order_tiles, order_targets)


def test_training_with_targets_lowers_the_loss(
    cohort_cases: list[tuple[Path, CaseArrays, int]],
) -> None:
    arrays = [a for _, a, _ in cohort_cases]
    labels = np.array([label for _, _, label in cohort_cases])
    targets = [read_training_targets(d, a) for d, a, _ in cohort_cases]
    config = TrainConfig(epochs=12, batch_size=3, learning_rate=1e-2, seed=0)
    _, losses = train_model(arrays, labels, SPEC, TINY, config, targets=targets)
    assert losses[-1] < losses[0]


def test_head_refit_is_seeded_and_leaves_the_branches_alone(
    cohort_cases: list[tuple[Path, CaseArrays, int]],
) -> None:
    arrays = [a for _, a, _ in cohort_cases]
    labels = torch.tensor([float(label) for _, _, label in cohort_cases])
    config = TrainConfig(epochs=1, batch_size=3, head_epochs=0, seed=0)
    model, _ = train_model(arrays, labels.numpy().astype(int), SPEC, TINY, config)
    before = {k: v.clone() for k, v in model.mri_branch.state_dict().items()}
    refit = TrainConfig(head_epochs=50, seed=0)
    twin = copy.deepcopy(model)
    head_before = [p.detach().clone() for p in model.head.parameters()]
    losses = refit_head(model, arrays, labels, SPEC, refit, torch.Generator().manual_seed(0))
    assert len(losses) == 50  # the folds' mean held-out loss after each step
    assert all(math.isfinite(v) for v in losses)
    refitted = zip(head_before, model.head.parameters(), strict=True)
    assert not all(torch.equal(a, b) for a, b in refitted)
    after = model.mri_branch.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # deterministic from the generator: a copy refitted the same way gets the same head
    refit_head(twin, arrays, labels, SPEC, refit, torch.Generator().manual_seed(0))
    pairs = zip(model.head.parameters(), twin.head.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_soft_dice_leaves_cases_without_the_structure_to_the_cross_entropy() -> None:
    target = torch.zeros(2, 4, 4)
    target[0, 1:3, 1:3] = 1.0  # case 0 has the structure, case 1 none
    logits = torch.full((2, 4, 4), -6.0)
    logits[0, 1:3, 1:3] = 6.0
    logits[1] = 6.0  # a false positive everywhere in case 1
    alone = soft_dice_loss(logits[:1], target[:1])
    assert float(alone) < 0.01  # case 0 is segmented
    assert torch.equal(soft_dice_loss(logits, target), alone)  # case 1 adds nothing
    assert float(soft_dice_loss(logits[1:], target[1:])) == 0.0
    logits[0] = -6.0  # missing the structure costs nearly the whole Dice
    assert float(soft_dice_loss(logits[:1], target[:1])) > 0.7
