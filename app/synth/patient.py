"""Generate one synthetic patient: its case folder (inputs) and its ground-truth folder.

Randomness: one `numpy.random.SeedSequence(seed, spawn_key=(stream,))` per patient, split into
independent streams for features, MRI, slide, genes, clinical data and the label, so a patient
depends only on (seed, stream) and never on which worker or in what order it was generated.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app import __version__
from app.progress import check_cancel
from app.slides.pyramid_writer import write_pyramidal_tiff
from app.synth import layout
from app.synth.centres import Centre, centre_by_code
from app.synth.clinical_synth import make_clinical, sample_demographics
from app.synth.dicom_writer import PHASE_WORDS, MriStudyInfo, phase_delay_s, write_mri_study
from app.synth.generating_model import (
    BenefitScores,
    PatientFeatures,
    benefit_scores,
    demo_features,
    sample_features,
)
from app.synth.mri_phantom import PHASES, render_mri
from app.synth.reproducible_files import save_json, save_mask_png, save_npz
from app.synth.slide_phantom import MASK_DOWNSAMPLE, render_slide
from app.synth.vcf_writer import plan_variants, write_panel_vcf

SLIDE_MPP = 1.0
COHORT_SLIDE_PX = 4096
DEMO_SLIDE_PX = 8192
DEMO_STREAM = 1_000_000
"""Random-stream index of the demo patient (cohort patients use 0..N-1)."""


@dataclass(frozen=True)
class PatientRequest:
    """What to generate for one patient.

    Attributes:
        case_id: Synthetic case id.
        centre_code: Centre whose scanner and stain profiles to use.
        split: "train", "external" or "demo".
        seed: Cohort (or demo) seed.
        stream: Index of the patient's random stream under the seed.
        slide_size_px: Level-0 slide width = height (multiple of 256).
        use_demo_features: Plant `demo_features()` instead of sampling.
    """

    case_id: str
    centre_code: str
    split: str
    seed: int
    stream: int
    slide_size_px: int = COHORT_SLIDE_PX
    use_demo_features: bool = False


@dataclass(frozen=True)
class PatientResult:
    """Summary of one generated patient (cpu_s and bytes are measurements, not truth)."""

    case_id: str
    centre: str
    split: str
    scores: BenefitScores
    label: int
    bytes_written: int
    cpu_s: float


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


MRI_MASK_ARRAYS = {
    "tumour_labels": "(Z, Y, X) uint8: 0 none, i = tumour i (largest first)",
    "liver": "(Z, Y, X) bool: liver incl. tumours and intrahepatic vessels",
    "capsule": "(Z, Y, X) bool: enhancing capsule rims",
    "necrosis": "(Z, Y, X) bool: central necrosis of tumour 1",
    "thrombus": "(Z, Y, X) bool: portal-vein tumour thrombus",
    "vessels": "(Z, Y, X) bool: aorta, IVC, portal vein",
    "affine_zyx": "4x4: (z, y, x, 1) voxel index -> LPS mm",
}
"""Arrays of ``mri_tumour_mask.npz``, as documented in ``truth.json``."""


def _write_mri(
    features: PatientFeatures,
    centre: Centre,
    info: MriStudyInfo,
    rng: np.random.Generator,
    case_dir: Path,
    truth_dir: Path,
) -> dict[str, Any]:
    """DICOM series and MRI masks; returns the MRI section of ``truth.json``."""
    phantom = render_mri(features, centre.mri, rng)
    written = write_mri_study(phantom, centre, info, case_dir / layout.MRI_DIR)
    grid = phantom.grid
    save_npz(
        truth_dir / layout.MRI_MASK_NPZ,
        {
            "tumour_labels": phantom.tumour_labels,
            "liver": phantom.liver,
            "capsule": phantom.capsule,
            "necrosis": phantom.necrosis,
            "thrombus": phantom.thrombus,
            "vessels": phantom.vessels,
            "affine_zyx": grid.affine_zyx,
        },
    )
    return {
        "shared_grid": True,
        "grid_note": "all phases share this grid and one FrameOfReferenceUID",
        "shape_zyx": list(grid.shape_zyx),
        "spacing_mm_zyx": list(grid.spacing_mm_zyx),
        "origin_mm": list(grid.origin_mm),
        "image_orientation_patient": [1, 0, 0, 0, 1, 0],
        "affine_zyx": grid.affine_zyx.tolist(),
        "frame_of_reference_uid": info.uid("frame-of-reference"),
        "series": {
            phase.value: {
                "series_instance_uid": info.uid("series", phase.value),
                "description": f"T1 {centre.mri.sequence} {PHASE_WORDS[phase]} SYNTHETIC",
                "delay_after_bolus_s": phase_delay_s(phase, centre),
                "files": len(written[phase]),
            }
            for phase in PHASES
        },
        "rescale_slope": centre.mri.rescale_slope,
        "rescale_intercept": centre.mri.rescale_intercept,
        "tumours": [
            {"label": i, "centre_mm": list(t.centre_mm), "diameter_mm": t.diameter_mm}
            for i, t in enumerate(phantom.tumours, start=1)
        ],
        "mask_file": layout.MRI_MASK_NPZ,
        "mask_arrays": MRI_MASK_ARRAYS,
    }


def _write_slide(
    features: PatientFeatures,
    centre: Centre,
    request: PatientRequest,
    rng: np.random.Generator,
    case_dir: Path,
    truth_dir: Path,
) -> dict[str, Any]:
    """Pyramidal slide and slide masks; returns the slide section of ``truth.json``."""
    slide = render_slide(features, centre.stain, rng, size_px=request.slide_size_px, mpp=SLIDE_MPP)
    slide_path = case_dir / layout.SLIDE_PATH
    slide_path.parent.mkdir(parents=True, exist_ok=True)
    levels = write_pyramidal_tiff(
        slide_path,
        slide.rgb,
        SLIDE_MPP,
        f"SYNTHETIC H&E-like liver slide by neoadj synth {__version__}; not a real patient; "
        f"case {request.case_id}, centre {centre.code}, mpp {SLIDE_MPP}",
        quality=centre.stain.jpeg_quality,
    )
    save_mask_png(truth_dir / layout.SLIDE_TUMOUR_PNG, slide.tumour)
    save_mask_png(truth_dir / layout.SLIDE_IMMUNE_PNG, slide.immune)
    save_npz(
        truth_dir / layout.SLIDE_MASKS_NPZ,
        {
            "tissue": slide.tissue,
            "tumour": slide.tumour,
            "necrosis": slide.necrosis,
            "immune": slide.immune,
            "downsample": np.array(MASK_DOWNSAMPLE),
        },
    )
    return {
        "file": layout.SLIDE_PATH,
        "mpp": SLIDE_MPP,
        "level_dimensions": [list(d) for d in levels],
        "mask_downsample": MASK_DOWNSAMPLE,
        "mask_note": f"one mask pixel = {MASK_DOWNSAMPLE} x {MASK_DOWNSAMPLE} level-0 px",
        "tumour_mask": layout.SLIDE_TUMOUR_PNG,
        "immune_mask": layout.SLIDE_IMMUNE_PNG,
        "masks_npz": layout.SLIDE_MASKS_NPZ,
        "measured": slide.measured,
    }


def _write_panel(
    features: PatientFeatures, rng: np.random.Generator, file_date: dt.date, case_dir: Path
) -> dict[str, Any]:
    """Gene-panel VCF; returns the genomics section of ``truth.json``."""
    variants = plan_variants(features, rng)
    panel_path = case_dir / layout.PANEL_PATH
    panel_path.parent.mkdir(parents=True, exist_ok=True)
    write_panel_vcf(variants, panel_path, file_date)
    return {"file": layout.PANEL_PATH, "variants": [v.to_dict() for v in variants]}


def generate_patient(
    request: PatientRequest,
    case_dir: Path,
    truth_dir: Path,
    cancel: threading.Event | None = None,
) -> PatientResult:
    """Render and write one patient's case folder and ground truth.

    Args:
        request: Case id, centre, seed/stream and slide size.
        case_dir: The case folder to create (``mri/``, ``slide/``, ``genomics/``,
            ``clinical.json``, ``case.json``).
        truth_dir: The ground-truth folder to create (see `app.synth.layout`).
        cancel: Checked between modalities.

    Returns:
        The patient's benefit scores, label and measured cost.
    """
    started = time.process_time()
    centre = centre_by_code(request.centre_code)
    streams = np.random.SeedSequence(request.seed, spawn_key=(request.stream,)).spawn(6)
    rng_features, rng_mri, rng_slide, rng_gene, rng_clinical, rng_label = (
        np.random.default_rng(s) for s in streams
    )
    features = demo_features() if request.use_demo_features else sample_features(rng_features)
    scores = benefit_scores(features)
    label = int(rng_label.random() < scores.probability)

    study_day = dt.date(2023, 1, 2) + dt.timedelta(days=int(rng_clinical.integers(0, 730)))
    study_start = dt.datetime.combine(study_day, dt.time(8, 0)) + dt.timedelta(
        seconds=int(rng_clinical.integers(0, 9 * 3600))
    )
    demographics = sample_demographics(study_day, rng_clinical)
    clinical = make_clinical(request.case_id, features, centre, demographics, rng_clinical)
    case_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    save_json(case_dir / layout.CLINICAL_JSON, clinical.to_dict())
    save_json(
        case_dir / layout.CASE_JSON,
        {
            "synthetic": True,
            "generator": layout.GENERATOR,
            "version": __version__,
            "seed": request.seed,
            "case_id": request.case_id,
            "centre": centre.code,
        },
    )
    info = MriStudyInfo(
        case_id=request.case_id,
        patient_name=f"SYNTHETIC^{'DEMO' if request.use_demo_features else request.case_id}",
        birth_date=demographics.birth_date,
        sex=demographics.sex,
        weight_kg=demographics.weight_kg,
        study_start=study_start,
        uid_entropy=(layout.GENERATOR, f"seed={request.seed}"),
    )
    check_cancel(cancel)
    mri = _write_mri(features, centre, info, rng_mri, case_dir, truth_dir)
    check_cancel(cancel)
    slide = _write_slide(features, centre, request, rng_slide, case_dir, truth_dir)
    check_cancel(cancel)
    genomics = _write_panel(features, rng_gene, study_day, case_dir)
    truth: dict[str, Any] = {
        "synthetic": True,
        "generator": layout.GENERATOR,
        "version": __version__,
        "seed": request.seed,
        "stream": request.stream,
        "case_id": request.case_id,
        "centre": centre.code,
        "split": request.split,
        "benefit_probability": scores.probability,
        "label": label,
        "scores": scores.to_dict(),
        "features": features.to_dict(),
        "mri": mri,
        "slide": slide,
        "genomics": genomics,
    }
    save_json(truth_dir / layout.TRUTH_JSON, truth)
    return PatientResult(
        case_id=request.case_id,
        centre=centre.code,
        split=request.split,
        scores=scores,
        label=label,
        bytes_written=_folder_bytes(case_dir) + _folder_bytes(truth_dir),
        cpu_s=time.process_time() - started,
    )
