"""Folder layout of the synthetic demo case and cohort (other modules rely on these names).

Demo (``neoadj synth demo OUT``)::

    OUT/case/                      the case: what the workstation imports
        mri/<phase>/IM_0001.dcm    pre_contrast, arterial, portal_venous, delayed
        slide/slide.tiff           pyramidal tiled TIFF (OpenSlide generic-tiff)
        genomics/panel.vcf.gz      (+ .tbi) somatic panel VCF
        clinical.json              `app.clinical.ClinicalData.to_dict()`
        case.json                  {"synthetic": true, "generator", "version", "seed",
                                    "case_id", "centre"}
    OUT/truth/                     ground truth: never an input
        truth.json                 planted features, scores, benefit probability, label
        mri_tumour_mask.npz        masks on the shared DICOM grid of all phases
        slide_tumour_mask.png      slide masks, one pixel per 16 x 16 level-0 pixels
        slide_immune_mask.png
        slide_masks.npz

Cohort (``neoadj synth cohort OUT``)::

    OUT/cases/<case_id>/           same case layout as OUT/case above
    OUT/truth/<case_id>/           same truth layout as OUT/truth above
    OUT/cohort.csv                 case_id, centre, split, benefit_probability, label
    OUT/cohort.json                generating model, centres, Bayes-optimal AUC per split
"""

from __future__ import annotations

from pathlib import Path

DEMO_CASE_ID = "DEMO-0001"
GENERATOR = "neoadj synth"

CASE_DIR = "case"
TRUTH_DIR = "truth"
COHORT_CASES_DIR = "cases"
COHORT_TRUTH_DIR = "truth"
COHORT_CSV = "cohort.csv"
COHORT_JSON = "cohort.json"

MRI_DIR = "mri"
SLIDE_PATH = "slide/slide.tiff"
PANEL_PATH = "genomics/panel.vcf.gz"
CASE_JSON = "case.json"
CLINICAL_JSON = "clinical.json"

TRUTH_JSON = "truth.json"
MRI_MASK_NPZ = "mri_tumour_mask.npz"
SLIDE_TUMOUR_PNG = "slide_tumour_mask.png"
SLIDE_IMMUNE_PNG = "slide_immune_mask.png"
SLIDE_MASKS_NPZ = "slide_masks.npz"


def cohort_case_id(index: int) -> str:
    """Case id of cohort patient ``index`` (0-based): "SYN-0001", "SYN-0002"..."""
    return f"SYN-{index + 1:04d}"


def cohort_case_dir(out: Path, case_id: str) -> Path:
    """The case folder of one cohort patient."""
    return out / COHORT_CASES_DIR / case_id


def cohort_truth_dir(out: Path, case_id: str) -> Path:
    """The ground-truth folder of one cohort patient."""
    return out / COHORT_TRUTH_DIR / case_id
