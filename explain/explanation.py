"""Explain one case: every attribution, its sanity checks, and the artefacts on disk.

`explain_case` computes (Qt-free, progress and cancel as for the runner):

- MRI: Integrated Gradients per phase and Grad-CAM on the model grid, then on each source
  series' own DICOM grid (`explain.mri_saliency`, `explain.series_maps`);
- slide: MIL attention and per-tile IG, in level-0 pixels (`explain.slide_saliency`);
- genes: signed per-gene IG against no alteration (`explain.gene_attribution`);
- modalities: exact Shapley values in probability space (`explain.modality_shapley`);
- sanity checks (`explain.sanity`): cascading randomisation for the MRI IG, the Grad-CAM and
  the slide attribution; IG completeness for each IG run; Shapley additivity.

`write_explanation` stores the arrays, a GeoJSON, JSON summaries and one DICOM Parametric Map
per series, each with its sha256, in one atomic step (`explain.artefacts`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from app.case import Case
from app.progress import ProgressFn, check_cancel, no_progress
from explain.artefacts import Artefact, ArtefactWriter
from explain.dicom_export import parametric_map
from explain.gene_attribution import GeneAttribution, gene_attribution
from explain.integrated import IG_INTERNAL_BATCH, IG_TOLERANCE_LOGIT
from explain.modality_shapley import ModalityShapley, modality_shapley
from explain.mri_saliency import (
    MRI_BASELINE,
    MriSaliency,
    body_mask,
    gradcam_mri,
    integrated_gradients_mri,
)
from explain.sanity import (
    SanityCheck,
    additivity_check,
    cascading_randomisation,
    completeness_check,
    effect_check,
    mri_layer_groups,
    slide_layer_groups,
)
from explain.series_maps import SeriesSaliency, series_saliency
from explain.slide_saliency import (
    SlideHeatmap,
    SlideSaliency,
    slide_heatmap,
    slide_saliency,
    tile_integrated_gradients,
    tiles_geojson,
)
from explain.tensors import CaseTensors
from explain.validation import validate_inputs, validate_series
from inference.checkpoint import Checkpoint, CheckpointInfo
from inference.device import configure_determinism
from inference.model import MODALITIES, NeoadjNet
from inference.mri_grid import GridTransform
from inference.preprocess import ModelInputs
from inference.runner import prepare_inputs

log = logging.getLogger(__name__)

BODY_REGION = "body (voxels where the IG baseline is tissue)"
"""Where MRI maps are compared in the randomisation check: outside the body the IG input and
baseline nearly coincide, so every model's IG is about 0 there and the body outline alone
would make any two maps look alike."""
RANDOMISED_IG_STEPS = 8
"""IG steps for the randomised models of the sanity check (only their rank order is used)."""
DICOM_SERIES_NUMBER_BASE = 9100
"""SeriesNumber of the first saliency Parametric Map (one per phase, +channel index)."""


@dataclass
class Explanation:
    """Everything explained about one case (arrays in memory; see `write_explanation`).

    Attributes:
        checkpoint: Identity of the model explained.
        synthetic_case: Whether the case is marked synthetic.
        prediction: Benefit probability with every present modality.
        threshold: The checkpoint's decision threshold.
        modalities_used: Present modalities ("mri", "slide", "genes").
        modalities_missing: Absent or refused modalities (explained as absent).
        flags: Preprocessing warnings, one line each.
        shapley: Modality Shapley values (probability units).
        mri: MRI maps on the model grid, or None without MRI.
        mri_transform: Model grid geometry, or None without MRI.
        series: MRI maps on each source series' grid.
        slide: Per-tile attention and attribution, or None without a slide.
        slide_heatmap: Those values on a level-0 grid, or None without a slide.
        slide_dimensions_level0: Slide (width, height) in level-0 px, or None.
        genes: Per-gene attribution, or None without a gene panel.
        sanity: Every check made.
        timings_s: Seconds per step.
    """

    checkpoint: CheckpointInfo
    synthetic_case: bool
    prediction: float
    threshold: float
    modalities_used: list[str]
    modalities_missing: list[str]
    flags: list[str]
    shapley: ModalityShapley
    mri: MriSaliency | None = None
    mri_transform: GridTransform | None = None
    series: list[SeriesSaliency] = field(default_factory=list)
    slide: SlideSaliency | None = None
    slide_heatmap: SlideHeatmap | None = None
    slide_dimensions_level0: tuple[int, int] | None = None
    genes: GeneAttribution | None = None
    sanity: list[SanityCheck] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def unreliable(self) -> list[str]:
        """Targets with at least one failed check (shown as unreliable, never hidden)."""
        return sorted({c.target for c in self.sanity if not c.passed})

    @property
    def reliable(self) -> bool:
        """Whether every sanity check passed."""
        return not self.unreliable


class _Progress:
    """Maps named steps onto one 0-100 scale; IG batches tick within their step."""

    def __init__(self, progress: ProgressFn, weights: dict[str, int]) -> None:
        self._progress = progress
        total = sum(weights.values())
        self._bounds: dict[str, tuple[int, int]] = {}
        start = 0
        for name, w in weights.items():
            end = start + w
            self._bounds[name] = (100 * start // total, 100 * end // total)
            start = end
        self._ticks = 0
        self._step = ""

    def begin(self, step: str) -> None:
        self._step, self._ticks = step, 0
        self._progress(self._bounds[step][0], 100)

    def tick(self) -> None:
        lo, hi = self._bounds[self._step]
        self._ticks += 1
        self._progress(min(hi, lo + (hi - lo) * self._ticks // (self._ticks + 4)), 100)

    def scaled(self, step: str) -> ProgressFn:
        lo, hi = self._bounds[step]

        def report(done: int, total: int) -> None:
            self._progress(lo + (hi - lo) * done // max(total, 1), 100)

        return report


def explain_case(
    case: Case,
    checkpoint: Checkpoint,
    *,
    inputs: ModelInputs | None = None,
    randomisation_checks: bool = True,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> Explanation:
    """Compute every attribution and sanity check for one case.

    Args:
        case: The imported case.
        checkpoint: A loaded checkpoint (its model is not modified).
        inputs: Inputs already prepared by `inference.runner.prepare_inputs` for this case
            and checkpoint (reused, not recomputed); None to prepare them here.
        randomisation_checks: Run the cascading randomisation checks (the costliest part);
            only a batch evaluation against known truth turns them off.
        progress: Called as (done, 100).
        cancel: Checked between steps and before every IG batch.

    Returns:
        The explanation; a missing modality is listed in ``modalities_missing`` and its
        attributions are None.

    Raises:
        InputValidationError: NaN/infinite values, a constant MRI series, or no modality.
        Cancelled: if ``cancel`` was set.
    """
    t_start = time.perf_counter()
    steps = _Progress(
        progress,
        {
            "prepare": 15 if inputs is None else 0,
            "shapley": 1,
            "mri": 25,
            "mri_sanity": 35,
            "series": 5,
            "slide": 4,
            "slide_sanity": 12,
            "genes": 3,
        },
    )
    configure_determinism()
    timings: dict[str, float] = {}
    for s in case.mri:
        if s.phase in checkpoint.input_spec.phases:
            validate_series(s)
    if inputs is None:
        steps.begin("prepare")
        t0 = time.perf_counter()
        inputs = prepare_inputs(case, checkpoint, progress=steps.scaled("prepare"), cancel=cancel)
        timings["prepare_inputs"] = time.perf_counter() - t0
    validate_inputs(inputs)
    spec = checkpoint.input_spec
    t0 = time.perf_counter()
    tensors = CaseTensors.from_inputs(checkpoint.model, inputs, spec, checkpoint.device)
    timings["encode_tiles"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        tensors.logits()
    timings["forward"] = time.perf_counter() - t0

    check_cancel(cancel)
    steps.begin("shapley")
    t0 = time.perf_counter()
    shapley = modality_shapley(tensors)
    timings["modality_shapley"] = time.perf_counter() - t0
    sanity = [additivity_check(shapley)]
    explanation = Explanation(
        checkpoint=checkpoint.info,
        synthetic_case=case.synthetic,
        prediction=shapley.prediction,
        threshold=checkpoint.threshold,
        modalities_used=inputs.modalities_used,
        modalities_missing=inputs.modalities_missing,
        flags=list(inputs.flags),
        shapley=shapley,
        sanity=sanity,
        timings_s=timings,
    )
    if inputs.mri is not None:
        _explain_mri(
            explanation, tensors, inputs, case, checkpoint, steps, cancel, randomisation_checks
        )
    if inputs.slide is not None:
        _explain_slide(explanation, tensors, inputs, case, steps, cancel, randomisation_checks)
    if inputs.genes is not None:
        check_cancel(cancel)
        steps.begin("genes")
        t0 = time.perf_counter()
        explanation.genes = gene_attribution(
            tensors, spec.genes, cancel=cancel, on_batch=steps.tick
        )
        timings["gene_integrated_gradients"] = time.perf_counter() - t0
        sanity.append(completeness_check("gene_attribution", explanation.genes.ig))
    timings["total"] = time.perf_counter() - t_start
    progress(100, 100)
    for check in sanity:
        if not check.passed:
            log.warning(
                "sanity check %s of %s failed (%.3g)", check.name, check.target, check.figure
            )
    return explanation


def _explain_mri(
    explanation: Explanation,
    tensors: CaseTensors,
    inputs: ModelInputs,
    case: Case,
    checkpoint: Checkpoint,
    steps: _Progress,
    cancel: threading.Event | None,
    randomisation_checks: bool,
) -> None:
    if inputs.mri is None:
        raise ValueError("the case has no MRI input")
    timings = explanation.timings_s
    check_cancel(cancel)
    steps.begin("mri")
    t0 = time.perf_counter()
    ig = integrated_gradients_mri(tensors, cancel=cancel, on_batch=steps.tick)
    timings["mri_integrated_gradients"] = time.perf_counter() - t0
    check_cancel(cancel)
    t0 = time.perf_counter()
    cam = gradcam_mri(tensors)
    timings["mri_gradcam"] = time.perf_counter() - t0
    saliency = MriSaliency(ig.attributions[0].cpu().numpy().astype(np.float32), cam, ig)
    explanation.mri = saliency
    explanation.mri_transform = inputs.mri.transform
    explanation.sanity.append(completeness_check("mri_integrated_gradients", ig))
    explanation.sanity.append(effect_check("mri_integrated_gradients", ig))
    explanation.sanity.append(effect_check("mri_gradcam", ig))  # the same MRI content
    if randomisation_checks:
        steps.begin("mri_sanity")
        explanation.sanity.extend(_randomise_mri(saliency, tensors, timings, cancel))
    check_cancel(cancel)
    steps.begin("series")
    t0 = time.perf_counter()
    explanation.series = series_saliency(
        saliency,
        inputs.mri.transform,
        checkpoint.input_spec.phases,
        inputs.mri.series_uids,
        case.mri,
    )
    timings["map_to_series"] = time.perf_counter() - t0


def _randomise_mri(
    saliency: MriSaliency,
    tensors: CaseTensors,
    timings: dict[str, float],
    cancel: threading.Event | None,
) -> list[SanityCheck]:
    """Cascading randomisation of the MRI IG (magnitude summed over phases) and Grad-CAM."""
    model = tensors.model

    def ig_map(m: NeoadjNet) -> NDArray[np.float32]:
        if m is model:
            return saliency.ig_magnitude
        run = integrated_gradients_mri(
            tensors.with_model(m), cancel=cancel, steps=(RANDOMISED_IG_STEPS,)
        )
        out: NDArray[np.float32] = run.attributions[0].abs().sum(0).cpu().numpy()
        return out

    def cam_map(m: NeoadjNet) -> NDArray[np.float32]:
        return saliency.gradcam if m is model else gradcam_mri(tensors.with_model(m))

    groups = mri_layer_groups(model)
    if tensors.mri is None:
        raise ValueError("the case has no MRI")
    body = body_mask(tensors.mri[0].cpu().numpy())
    checks = []
    for target, fn in (("mri_integrated_gradients", ig_map), ("mri_gradcam", cam_map)):
        t0 = time.perf_counter()
        checks.append(
            cascading_randomisation(
                model,
                fn,
                groups,
                target=target,
                region=body,
                region_name=BODY_REGION,
                cancel=cancel,
            )
        )
        timings[f"sanity_randomisation_{target}"] = time.perf_counter() - t0
    return checks


def _explain_slide(
    explanation: Explanation,
    tensors: CaseTensors,
    inputs: ModelInputs,
    case: Case,
    steps: _Progress,
    cancel: threading.Event | None,
    randomisation_checks: bool,
) -> None:
    if inputs.slide is None:
        raise ValueError("the case has no slide input")
    timings = explanation.timings_s
    check_cancel(cancel)
    steps.begin("slide")
    t0 = time.perf_counter()
    sal = slide_saliency(
        tensors,
        inputs.slide.positions_level0_xy,
        inputs.slide.tile_extent_level0_px,
        cancel=cancel,
        on_batch=steps.tick,
    )
    timings["slide_attention_and_integrated_gradients"] = time.perf_counter() - t0
    explanation.slide = sal
    explanation.slide_heatmap = slide_heatmap(sal)
    if case.slides:
        width, height = case.slides[0].dimensions
        explanation.slide_dimensions_level0 = (int(width), int(height))
    explanation.sanity.append(completeness_check("slide_attribution", sal.ig))
    explanation.sanity.append(effect_check("slide_attribution", sal.ig))
    if not randomisation_checks:
        return
    model = tensors.model

    def tile_map(m: NeoadjNet) -> NDArray[np.float32]:
        if m is model:
            return sal.attribution
        run = tile_integrated_gradients(
            tensors.with_model(m), cancel=cancel, steps=(RANDOMISED_IG_STEPS,)
        )
        out: NDArray[np.float32] = run.attributions[0].sum(-1).cpu().numpy()
        return out

    steps.begin("slide_sanity")
    t0 = time.perf_counter()
    explanation.sanity.append(
        cascading_randomisation(
            model, tile_map, slide_layer_groups(model), target="slide_attribution", cancel=cancel
        )
    )
    timings["sanity_randomisation_slide_attribution"] = time.perf_counter() - t0


def write_explanation(
    explanation: Explanation,
    out_dir: Path,
    *,
    cancel: threading.Event | None = None,
) -> tuple[Path, list[Artefact]]:
    """Write every artefact and the manifest to ``out_dir`` atomically.

    Layout: ``mri/<phase>_saliency.npz`` (IG, Grad-CAM, affine, on the series grid),
    ``mri/<phase>_ig_parametric_map.dcm``, ``mri/model_grid_saliency.npz``,
    ``slide/heatmap.npz``, ``slide/tiles.geojson``, ``genes.json``, ``modality_shapley.json``,
    ``explanation.json`` (the manifest: `explanation_json` plus the artefact list).

    Returns:
        The manifest path and the artefacts written.

    Raises:
        OutputFolderError: ``out_dir`` is a non-empty folder of something else.
        Cancelled: if ``cancel`` was set (nothing is left in ``out_dir``).
    """
    t0 = time.perf_counter()
    with ArtefactWriter(out_dir, cancel=cancel) as writer:
        series_entries: list[dict[str, Any]] = []
        for channel, s in enumerate(explanation.series):
            name = s.phase.value
            npz = writer.write_npz(
                f"mri/{name}_saliency.npz",
                {
                    "integrated_gradients": s.integrated_gradients,
                    "gradcam": s.gradcam,
                    "in_model_box": s.in_model_box,
                    "affine_zyx": s.series.affine_zyx,
                    "series_instance_uid": np.array(s.series.series_instance_uid),
                },
                "mri_saliency",
            )
            pm = parametric_map(
                s,
                series_number=DICOM_SERIES_NUMBER_BASE + channel,
                synthetic=explanation.synthetic_case,
            )
            dcm = writer.write_dicom(
                f"mri/{name}_ig_parametric_map.dcm", pm, "dicom_parametric_map"
            )
            series_entries.append(
                {
                    "series_instance_uid": s.series.series_instance_uid,
                    "phase": name,
                    "shape_zyx": list(s.series.shape_zyx),
                    "affine_zyx": s.series.affine_zyx.tolist(),
                    "path": npz.path,
                    "sha256": npz.sha256,
                    "dicom": {
                        "path": dcm.path,
                        "sha256": dcm.sha256,
                        "sop_class_uid": str(pm.SOPClassUID),
                        "sop_instance_uid": str(pm.SOPInstanceUID),
                        "series_instance_uid": str(pm.SeriesInstanceUID),
                    },
                }
            )
        if explanation.mri is not None and explanation.mri_transform is not None:
            writer.write_npz(
                "mri/model_grid_saliency.npz",
                {
                    "integrated_gradients": explanation.mri.integrated_gradients,
                    "gradcam": explanation.mri.gradcam,
                    "grid_to_lps_matrix": explanation.mri_transform.matrix,
                },
                "mri_model_grid_saliency",
            )
        slide_entry = _write_slide(writer, explanation)
        genes_entry: dict[str, Any] | None = None
        if explanation.genes is not None:
            art = writer.write_json("genes.json", explanation.genes.to_json(), "gene_attribution")
            genes_entry = {"path": art.path, "sha256": art.sha256, **explanation.genes.to_json()}
        writer.write_json(
            "modality_shapley.json", explanation.shapley.to_json(), "modality_shapley"
        )
        explanation.timings_s["write"] = time.perf_counter() - t0
        manifest = explanation_json(explanation, series_entries, slide_entry, genes_entry)
        manifest_path = writer.commit(manifest)
        return manifest_path, list(writer.artefacts)


def _write_slide(writer: ArtefactWriter, explanation: Explanation) -> dict[str, Any] | None:
    sal, heat = explanation.slide, explanation.slide_heatmap
    if sal is None or heat is None:
        return None
    arrays: dict[str, Any] = {
        "attention": heat.attention,
        "attribution": heat.attribution,
        "scale_level0_px": np.float64(heat.scale_level0_px),
        "offset_level0_xy": np.asarray(heat.offset_level0_xy, dtype=np.float64),
    }
    if explanation.slide_dimensions_level0 is not None:
        arrays["slide_dimensions_level0_wh"] = np.asarray(explanation.slide_dimensions_level0)
    npz = writer.write_npz("slide/heatmap.npz", arrays, "slide_heatmap")
    geo = writer.write_json("slide/tiles.geojson", tiles_geojson(sal), "slide_geojson")
    return {
        "heatmap": {
            "path": npz.path,
            "sha256": npz.sha256,
            "shape_hw": list(heat.attention.shape),
            "scale_level0_px": heat.scale_level0_px,
            "offset_level0_xy": list(heat.offset_level0_xy),
        },
        "geojson": {"path": geo.path, "sha256": geo.sha256},
        "tiles": len(sal.attention),
        "tile_extent_level0_px": sal.tile_extent_level0_px,
        "attribution_units": "logit",
        "attribution_baseline": "all-zero tile embeddings",
        "n_steps": sal.ig.n_steps,
        "convergence_delta": sal.ig.delta,
    }


def explanation_json(
    explanation: Explanation,
    series_entries: list[dict[str, Any]],
    slide_entry: dict[str, Any] | None,
    genes_entry: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``neoadj explain --json`` object (also the manifest, less its artefact list)."""
    shapley = explanation.shapley
    mri_method: dict[str, Any] | None = None
    if explanation.mri is not None:
        ig = explanation.mri.ig
        mri_method = {
            "integrated_gradients": {
                "baseline": MRI_BASELINE,
                "units": "logit per model-grid voxel",
                "n_steps": ig.n_steps,
                "internal_batch_size": IG_INTERNAL_BATCH,
                "convergence_delta": ig.delta,
                "tolerance": IG_TOLERANCE_LOGIT,
                "logit_input": ig.logit_input,
                "logit_baseline": ig.logit_baseline,
            },
            "gradcam": {
                "layer": "mri_branch.last_conv",
                "upsampling": "trilinear",
                "signed": True,
            },
        }
    return {
        "prediction": shapley.prediction,
        "baseline": shapley.baseline,
        "threshold": explanation.threshold,
        "predicted_benefit": shapley.prediction >= explanation.threshold,
        "modality_shapley": {m: shapley.values[m] for m in MODALITIES},
        "shapley_units": "probability",
        "modality_coalitions": shapley.coalitions,
        "modalities_used": explanation.modalities_used,
        "modalities_missing": explanation.modalities_missing,
        "mri": series_entries,
        "mri_method": mri_method,
        "slide": slide_entry,
        "genes": genes_entry,
        "sanity": {
            "all_passed": explanation.reliable,
            "unreliable": explanation.unreliable,
            "checks": [c.to_json() for c in explanation.sanity],
        },
        "flags": explanation.flags,
        "timings_s": {k: round(v, 4) for k, v in explanation.timings_s.items()},
        "checkpoint": explanation.checkpoint.to_json(),
        "synthetic_case": explanation.synthetic_case,
    }
