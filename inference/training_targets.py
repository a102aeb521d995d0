"""Auxiliary training targets read from a cohort's ground truth (``truth/<case_id>/``).

A synthetic cohort (`app.synth`) knows, for each patient, the planted imaging and pathology
features and where the tumours are. Training can use them as auxiliary targets next to the
benefit label (deep supervision: each branch learns to see what a radiologist or pathologist
would measure, instead of finding it from a noisy label alone). They are training aids only:
prediction never reads them, and a cohort without a truth folder trains on labels alone. A site
cohort may provide the same layout (e.g. tumour segmentations and reader-scored features).

Targets (standardised to roughly unit scale):

- MRI features: arterial hyperenhancement z-score, necrosis fraction / 0.2, macrovascular
  invasion (0/1);
- slide features: immune-infiltrate z-score, tumour nuclear-density z-score;
- lesion maps: fraction of each model-grid voxel inside a tumour, necrosis, a portal-vein
  tumour thrombus and the liver parenchyma (liver less tumours, vessels and thrombus),
  (4, Z, Y, X) float32 in `inference.model.MRI_MAP_NAMES` order;
- per tile: fraction of the tile that is tumour and that is immune infiltrate, (N, 2) float32.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.synth.generating_model import (
    APHE_MEAN,
    APHE_SD,
    IMMUNE_MEAN,
    IMMUNE_SD,
    NUCLEAR_MEAN,
    NUCLEAR_SD,
)
from app.synth.layout import MRI_MASK_NPZ, SLIDE_MASKS_NPZ, TRUTH_JSON
from inference.batch import CaseArrays
from inference.model import MRI_MAP_NAMES
from inference.mri_grid import GridTransform, resample_to_grid

log = logging.getLogger(__name__)

MRI_TARGETS: tuple[str, ...] = ("aphe_z", "necrosis", "macrovascular_invasion")
SLIDE_TARGETS: tuple[str, ...] = ("immune_z", "nuclear_density_z")
TILE_TARGETS: tuple[str, ...] = ("tumour_fraction", "immune_fraction")
_NECROSIS_SCALE = 0.2


@dataclass
class TrainingTargets:
    """One case's auxiliary targets; None where the truth or the input is missing.

    Attributes:
        mri_features: (len(MRI_TARGETS),) float32.
        slide_features: (len(SLIDE_TARGETS),) float32.
        lesion_maps: (len(MRI_MAP_NAMES), Z, Y, X) float32 fractions on the case's model grid.
        tile_fractions: (N, len(TILE_TARGETS)) float32, one row per cached tile.
    """

    mri_features: NDArray[np.float32] | None = None
    slide_features: NDArray[np.float32] | None = None
    lesion_maps: NDArray[np.float32] | None = None
    tile_fractions: NDArray[np.float32] | None = None


def read_training_targets(truth_dir: Path, arrays: CaseArrays) -> TrainingTargets:
    """Targets of one case from its truth folder, sampled where ``arrays`` put the inputs.

    Returns empty targets (all None) when the folder or a file is missing or unreadable.
    """
    targets = TrainingTargets()
    try:
        truth = json.loads((truth_dir / TRUTH_JSON).read_text(encoding="utf-8"))
        features: dict[str, Any] = truth["features"]
    except (OSError, ValueError, KeyError, TypeError):
        log.info("no usable truth in %s: labels only for this case", truth_dir.name)
        return targets
    targets.mri_features = np.array(
        [
            (float(features["aphe_ratio"]) - APHE_MEAN) / APHE_SD,
            float(features["necrosis_fraction"]) / _NECROSIS_SCALE,
            float(bool(features["macrovascular_invasion"])),
        ],
        dtype=np.float32,
    )
    targets.slide_features = np.array(
        [
            (float(features["immune_density"]) - IMMUNE_MEAN) / IMMUNE_SD,
            (float(features["tumour_nuclear_density"]) - NUCLEAR_MEAN) / NUCLEAR_SD,
        ],
        dtype=np.float32,
    )
    if arrays.mri is not None and arrays.grid_matrix is not None:
        targets.lesion_maps = _maps_on_grid(truth_dir / MRI_MASK_NPZ, arrays)
    if arrays.tile_positions is not None and arrays.tile_extent_px is not None:
        targets.tile_fractions = _tile_fractions(truth_dir / SLIDE_MASKS_NPZ, arrays)
    return targets


def _maps_on_grid(path: Path, arrays: CaseArrays) -> NDArray[np.float32] | None:
    """(4, Z, Y, X) `MRI_MAP_NAMES` fractions on the model grid (trilinear from the DICOM-grid
    masks); None when the truth lacks a mask."""
    assert arrays.mri is not None and arrays.grid_matrix is not None
    try:
        with np.load(path) as data:
            tumour = data["tumour_labels"] > 0
            parenchyma = data["liver"] & ~tumour & ~data["vessels"] & ~data["thrombus"]
            named = {"tumour": tumour, "liver": parenchyma}
            masks = [named[k] if k in named else data[k] for k in MRI_MAP_NAMES]
            affine = data["affine_zyx"].astype(np.float64)
    except (OSError, ValueError, KeyError):
        return None
    z, y, x = arrays.mri.shape[1:]
    grid = GridTransform(arrays.grid_matrix, (z, y, x))
    return np.stack([resample_to_grid(m.astype(np.float32), affine, grid) for m in masks])


def _tile_fractions(path: Path, arrays: CaseArrays) -> NDArray[np.float32] | None:
    """(N, 2) tumour and immune fractions of each tile's level-0 footprint."""
    assert arrays.tile_positions is not None and arrays.tile_extent_px is not None
    try:
        with np.load(path) as data:
            tumour = data["tumour"].astype(np.float32)
            immune = data["immune"].astype(np.float32)
            step = int(data["downsample"])
    except (OSError, ValueError, KeyError):
        return None
    out = np.zeros((len(arrays.tile_positions), len(TILE_TARGETS)), dtype=np.float32)
    side = max(1, round(arrays.tile_extent_px / step))
    for i, (x, y) in enumerate(arrays.tile_positions):
        r, c = int(y) // step, int(x) // step
        for j, mask in enumerate((tumour, immune)):
            window = mask[r : r + side, c : c + side]
            out[i, j] = float(window.mean()) if window.size else 0.0
    return out
