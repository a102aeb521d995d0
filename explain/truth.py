"""Explanations checked against the synthetic cohort's planted truth.

For each patient of a split (default: the external centre):

- MRI: the fraction of attribution mass (|IG| summed over phases, and |Grad-CAM|) inside the
  tumour masks, against the tumours' volume fraction, both within the model box on the
  series grid (outside it the model sees nothing); their ratio is the enrichment (target
  >= 5). Pointing game: the voxel of largest attribution lies in a tumour (strict), or within
  `POINTING_TOLERANCE_MM` of one (one model-grid voxel, since maps are resolved to it).
- Slide: each tile's tumour and immune-aggregate fractions from the truth masks; AUROC of the
  attention and of the attribution magnitude for tumour tiles (tumour fraction >= 0.5) and for
  immune tiles (aggregate fraction >= `IMMUNE_TILE_FRACTION`).
- Genes: per-gene |IG| averaged over patients; the planted genes (those in the generating
  model's gene term) should rank first.
- Whether the model uses the tumour at all: the logit change when the tumour's voxels take
  the IG baseline (tissue level), beside the change when the whole MRI does. A map cannot
  point at a tumour the model ignores, so this separates a faithful map from a wrong one.

Run as ``python -m explain.truth COHORT [--checkpoint DIR] [--patients N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from app.case import load_case
from app.genomics.hcc_panel import HCC_PANEL_GENES
from app.imaging.series import MriSeries
from app.progress import ProgressFn, check_cancel, no_progress
from app.synth import layout
from app.synth.generating_model import describe_generating_model
from explain.explanation import Explanation, explain_case
from explain.mri_saliency import tissue_baseline
from explain.series_maps import SeriesSaliency
from explain.slide_saliency import SlideSaliency
from explain.tensors import CaseTensors
from inference.checkpoint import Checkpoint
from inference.cohort import read_cohort
from inference.mri_grid import resample_to_grid
from inference.preprocess import ModelInputs
from inference.runner import prepare_inputs, resolve_checkpoint

log = logging.getLogger(__name__)

POINTING_TOLERANCE_MM = 6.0
"""Pointing-game tolerance: the coarsest model-grid spacing of the demo checkpoint (mm)."""
TUMOUR_TILE_FRACTION = 0.5
"""A tile is a tumour tile when at least this fraction of it is tumour."""
IMMUNE_TILE_FRACTION = 0.05
"""A tile is an immune tile when at least this fraction of it is lymphocyte aggregate."""


def planted_genes() -> tuple[str, ...]:
    """Panel genes that carry signal in the generating model (its ``s_gene`` term)."""
    term = describe_generating_model()["terms"]["s_gene"]
    return tuple(g for g in HCC_PANEL_GENES if g in term)


@dataclass(frozen=True)
class MapTruth:
    """One MRI map against the tumour mask.

    Attributes:
        mass_in_tumour: Fraction of the map's mass inside tumours (within the model box).
        tumour_volume_fraction: Tumour voxels / voxels within the model box.
        enrichment: ``mass_in_tumour / tumour_volume_fraction``.
        pointing_distance_mm: Distance from the map's maximum to the nearest tumour voxel.
    """

    mass_in_tumour: float
    tumour_volume_fraction: float
    enrichment: float
    pointing_distance_mm: float

    @property
    def pointing_hit(self) -> bool:
        """The maximum lies inside a tumour."""
        return self.pointing_distance_mm == 0.0

    @property
    def pointing_hit_tolerant(self) -> bool:
        """The maximum lies within `POINTING_TOLERANCE_MM` of a tumour."""
        return self.pointing_distance_mm <= POINTING_TOLERANCE_MM


def map_truth(
    values: NDArray[np.float32],
    tumour: NDArray[np.bool_],
    in_box: NDArray[np.bool_],
    spacing_mm_zyx: tuple[float, float, float],
) -> MapTruth:
    """Compare a non-negative (Z, Y, X) map with a tumour mask on the same grid."""
    if values.shape != tumour.shape or values.shape != in_box.shape:
        raise ValueError(f"map {values.shape} and mask {tumour.shape} differ in shape")
    mass = np.where(in_box, values, 0.0).astype(np.float64)
    total = float(mass.sum())
    inside_tumour = tumour & in_box
    frac_mass = float(mass[inside_tumour].sum()) / total if total > 0 else 0.0
    frac_vol = float(inside_tumour.sum()) / max(int(in_box.sum()), 1)
    peak = np.unravel_index(int(np.argmax(mass)), mass.shape)
    distance = ndimage.distance_transform_edt(~tumour, sampling=spacing_mm_zyx)
    return MapTruth(
        frac_mass,
        frac_vol,
        frac_mass / frac_vol if frac_vol > 0 else float("nan"),
        float(distance[peak]),
    )


def on_mask_grid(
    series: Sequence[SeriesSaliency], shape_zyx: tuple[int, ...], affine: NDArray[Any]
) -> list[SeriesSaliency]:
    """The series whose grid is the truth mask's (same shape and affine).

    Raises:
        ValueError: if there is none.
    """
    found = [
        s
        for s in series
        if s.series.shape_zyx == tuple(shape_zyx)
        and np.allclose(s.series.affine_zyx, affine, atol=1e-3)
    ]
    if not found:
        raise ValueError("no saliency series lies on the truth mask's grid")
    return found


def mri_truth(
    series: Sequence[SeriesSaliency], tumour_labels: NDArray[np.uint8], mask_affine: NDArray[Any]
) -> dict[str, MapTruth]:
    """|IG| (summed over the phases' series) and |Grad-CAM| against the tumour mask.

    Only series on the mask's grid (same shape and affine) are used.

    Raises:
        ValueError: if no series lies on the mask's grid.
    """
    on_grid = on_mask_grid(series, tumour_labels.shape, mask_affine)
    tumour = tumour_labels > 0
    in_box = np.logical_and.reduce([s.in_model_box for s in on_grid])
    spacing = on_grid[0].series.spacing_mm_zyx
    ig = np.sum([np.abs(s.integrated_gradients) for s in on_grid], axis=0)
    return {
        "integrated_gradients": map_truth(ig, tumour, in_box, spacing),
        "gradcam": map_truth(np.abs(on_grid[0].gradcam), tumour, in_box, spacing),
    }


def tile_fractions(
    saliency: SlideSaliency, mask: NDArray[np.bool_], downsample: int
) -> NDArray[np.float64]:
    """(N,) fraction of each tile covered by a slide mask of one pixel per ``downsample`` px."""
    out = np.zeros(len(saliency.positions_level0_xy), dtype=np.float64)
    extent = saliency.tile_extent_level0_px
    for i, (x, y) in enumerate(saliency.positions_level0_xy):
        x0, y0 = int(x // downsample), int(y // downsample)
        x1 = max(x0 + 1, int(np.ceil((x + extent) / downsample)))
        y1 = max(y0 + 1, int(np.ceil((y + extent) / downsample)))
        block = mask[y0:y1, x0:x1]
        out[i] = float(block.mean()) if block.size else 0.0
    return out


def _auroc(labels: NDArray[np.bool_], scores: NDArray[Any]) -> float | None:
    """AUROC, or None when only one class is present."""
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def slide_truth(
    saliency: SlideSaliency, tumour: NDArray[np.bool_], immune: NDArray[np.bool_], downsample: int
) -> dict[str, float | None]:
    """AUROC of attention and |attribution| for tumour tiles and for immune tiles."""
    tumour_tiles = tile_fractions(saliency, tumour, downsample) >= TUMOUR_TILE_FRACTION
    immune_tiles = tile_fractions(saliency, immune, downsample) >= IMMUNE_TILE_FRACTION
    magnitude = np.abs(saliency.attribution)
    return {
        "tumour_tiles": float(tumour_tiles.mean()),
        "immune_tiles": float(immune_tiles.mean()),
        "auroc_attention_tumour": _auroc(tumour_tiles, saliency.attention),
        "auroc_attribution_tumour": _auroc(tumour_tiles, magnitude),
        "auroc_attention_immune": _auroc(immune_tiles, saliency.attention),
        "auroc_attribution_immune": _auroc(immune_tiles, magnitude),
    }


def tumour_occlusion(
    checkpoint: Checkpoint,
    inputs: ModelInputs,
    reference: MriSeries,
    tumour: NDArray[np.bool_],
) -> dict[str, float]:
    """Does the model use the tumour? Logit changes when MRI voxels take the IG baseline.

    Args:
        checkpoint: The model.
        inputs: The case's prepared inputs (with MRI).
        reference: A series on the grid of ``tumour``.
        tumour: (Z, Y, X) bool tumour mask on ``reference``'s grid.

    Returns:
        ``delta_logit_tumour``: the tumour's voxels (every phase) set to the tissue baseline;
        ``delta_logit_mri``: the whole MRI set to it (what IG distributes);
        ``tumour_voxels``: tumour voxels on the model grid.
    """
    if inputs.mri is None:
        raise ValueError("the case has no MRI input")
    volume = inputs.mri.volume
    on_grid = resample_to_grid(
        tumour.astype(np.float32), reference.affine_zyx, inputs.mri.transform, order=0
    )
    inside = on_grid > 0.5
    base = tissue_baseline(volume)
    occluded = volume.copy()
    occluded[:, inside] = base[:, inside]
    tensors = CaseTensors.from_inputs(
        checkpoint.model, inputs, checkpoint.input_spec, checkpoint.device
    )
    device = checkpoint.device
    with torch.no_grad():
        f0 = float(tensors.logits()[0])
        f_tumour = float(tensors.logits(mri=torch.from_numpy(occluded)[None].to(device))[0])
        f_mri = float(tensors.logits(mri=torch.from_numpy(base)[None].to(device))[0])
    return {
        "delta_logit_tumour": f_tumour - f0,
        "delta_logit_mri": f_mri - f0,
        "tumour_voxels": float(inside.sum()),
    }


def patient_truth(
    explanation: Explanation, truth_dir: Path, checkpoint: Checkpoint, inputs: ModelInputs
) -> dict[str, Any]:
    """Every per-patient metric of one explained synthetic patient."""
    out: dict[str, Any] = {}
    if explanation.series:
        with np.load(truth_dir / layout.MRI_MASK_NPZ) as masks:
            labels, affine = masks["tumour_labels"], masks["affine_zyx"]
        out["mri"] = {
            k: asdict(v)
            | {"pointing_hit": v.pointing_hit, "pointing_hit_tolerant": v.pointing_hit_tolerant}
            for k, v in mri_truth(explanation.series, labels, affine).items()
        }
        reference = on_mask_grid(explanation.series, labels.shape, affine)[0].series
        out["mri"]["occlusion"] = tumour_occlusion(checkpoint, inputs, reference, labels > 0)
    if explanation.slide is not None:
        with np.load(truth_dir / layout.SLIDE_MASKS_NPZ) as masks:
            tumour, immune = masks["tumour"], masks["immune"]
            downsample = int(np.ravel(masks["downsample"])[0])
        out["slide"] = slide_truth(explanation.slide, tumour, immune, downsample)
    if explanation.genes is not None:
        out["genes"] = {
            g: float(a)
            for g, a in zip(explanation.genes.genes, explanation.genes.attribution, strict=True)
        }
    return out


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(kept)) if kept else None


def summarise(patients: list[dict[str, Any]]) -> dict[str, Any]:
    """Cohort figures from per-patient metrics."""
    summary: dict[str, Any] = {"patients": len(patients)}
    mri = [p["mri"] for p in patients if "mri" in p]
    for method in ("integrated_gradients", "gradcam"):
        rows = [m[method] for m in mri]
        if not rows:
            continue
        mass = float(np.sum([r["mass_in_tumour"] for r in rows]))
        vol = float(np.sum([r["tumour_volume_fraction"] for r in rows]))
        summary[f"mri_{method}"] = {
            "mean_mass_in_tumour": mass / len(rows),
            "mean_tumour_volume_fraction": vol / len(rows),
            "enrichment_of_means": mass / vol if vol > 0 else None,
            "median_enrichment": float(np.median([r["enrichment"] for r in rows])),
            "pointing_game": float(np.mean([r["pointing_hit"] for r in rows])),
            "pointing_game_tolerant": float(np.mean([r["pointing_hit_tolerant"] for r in rows])),
        }
    if mri:
        summary["mri_tumour_occlusion"] = {
            "median_abs_delta_logit_tumour": float(
                np.median([abs(m["occlusion"]["delta_logit_tumour"]) for m in mri])
            ),
            "median_abs_delta_logit_mri": float(
                np.median([abs(m["occlusion"]["delta_logit_mri"]) for m in mri])
            ),
        }
    slides = [p["slide"] for p in patients if "slide" in p]
    if slides:
        summary["slide"] = {k: _mean([s[k] for s in slides]) for k in slides[0]}
    genes = [p["genes"] for p in patients if "genes" in p]
    if genes:
        names = list(genes[0])
        importance = {g: float(np.mean([abs(p[g]) for p in genes])) for g in names}
        summary["genes"] = {
            "mean_abs_attribution": importance,
            "planted": list(planted_genes()),
            # rank 1 = largest; ties share the best rank
            "planted_ranks": {
                g: 1 + sum(v > importance[g] for v in importance.values())
                for g in planted_genes()
                if g in names
            },
        }
    return summary


def evaluate_cases(
    cases: Sequence[tuple[str, Path, Path]],
    checkpoint: Checkpoint,
    *,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> list[dict[str, Any]]:
    """Explain each (case id, case folder, truth folder) and compare with its truth.

    Randomisation checks are skipped (they test the model, not the truth); completeness and
    additivity are still computed.
    """
    rows: list[dict[str, Any]] = []
    for i, (case_id, case_dir, truth_dir) in enumerate(cases):
        check_cancel(cancel)
        case = load_case([case_dir], cancel=cancel)
        inputs = prepare_inputs(case, checkpoint, cancel=cancel)
        explanation = explain_case(
            case, checkpoint, inputs=inputs, randomisation_checks=False, cancel=cancel
        )
        row = patient_truth(explanation, truth_dir, checkpoint, inputs)
        rows.append({"case_id": case_id, **row})
        progress(i + 1, len(cases))
    return rows


def evaluate_cohort(
    cohort_dir: Path,
    checkpoint: Checkpoint,
    *,
    split: str = "external",
    patients: int | None = None,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """`evaluate_cases` on the first ``patients`` cases of a cohort split.

    Returns:
        ``{"split", "checkpoint", "summary", "patients": [...], "seconds"}``.
    """
    t0 = time.perf_counter()
    cohort = read_cohort(cohort_dir)
    cases = [
        (c.case_id, c.folder, layout.cohort_truth_dir(cohort_dir, c.case_id))
        for c in cohort.split(split)[:patients]
    ]
    rows = evaluate_cases(cases, checkpoint, progress=progress, cancel=cancel)
    return {
        "split": split,
        "checkpoint": checkpoint.info.to_json(),
        "summary": summarise(rows),
        "patients": rows,
        "seconds": time.perf_counter() - t0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m explain.truth``: print the cohort truth report."""
    parser = argparse.ArgumentParser(prog="python -m explain.truth", description=__doc__)
    parser.add_argument("cohort", type=Path)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--patients", type=int, default=15)
    parser.add_argument("--split", default="external")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    report = evaluate_cohort(
        args.cohort,
        resolve_checkpoint(args.checkpoint, "cpu"),
        split=args.split,
        patients=args.patients,
    )
    print(json.dumps(report if args.json else report["summary"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
