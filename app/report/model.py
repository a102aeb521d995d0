"""What a tumour-board report shows, as plain data (no database rows, no model objects).

`app.report.gather` fills a `ReportData` from the case, the screening record, the prediction
and the explanation; `app.report.pdf.build_report` lays it out. Identity is the pseudonym only:
nothing here holds a patient name or a site's patient identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

TRIAL_ID = "NCT06420440"
PROTOCOL_LABEL = "Neoadj-Net01 protocol V1.1"


@dataclass(frozen=True)
class InputRow:
    """One input of the case (an MRI series counts as one row of all its files).

    Attributes:
        kind: "mri", "slide", "genomics", "clinical" or "case_meta".
        label: What it is, e.g. "MRI arterial (36 files)" or "slide/slide.tiff".
        sha256: The file's sha256, or for several files the sha256 over their sorted sha256.
        size_bytes: Total size of the files.
    """

    kind: str
    label: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class CriterionRow:
    """One protocol criterion as shown in the table (status "pass", "fail" or "unknown")."""

    id: str
    label: str
    value: str
    source: str
    status: str


@dataclass(frozen=True)
class DecisionInfo:
    """The reviewer's decision that holds for the case (times in UTC)."""

    id: int
    outcome: str
    failed_criteria: tuple[str, ...]
    recommended: str
    overrides_recommendation: bool
    rationale: str | None
    reviewer: str
    decided_at: datetime


@dataclass(frozen=True)
class AllocationInfo:
    """The randomised arm with its regimen and stratum (time in UTC)."""

    arm: str
    label: str
    role: str
    regimen: tuple[str, ...]
    site: str
    bclc_stage: str
    sequence_index: int
    allocated_by: str
    allocated_at: datetime


@dataclass(frozen=True)
class ModelInfo:
    """The model's prediction and the identity of the checkpoint that made it.

    Attributes:
        probability: Predicted probability of benefit, 0-1.
        threshold: The checkpoint's decision threshold, 0-1.
        checkpoint_name: Model name from the checkpoint manifest.
        checkpoint_version: Checkpoint version.
        checkpoint_sha256: sha256 of the weights file (64 hex).
        checkpoint_synthetic: Whether the checkpoint was trained on synthetic data.
        device: "cpu" or "cuda".
        modalities_used: Modalities the prediction rests on.
        modalities_missing: Modalities absent from the case.
        flags: Warnings of the run, one line each.
        total_s: Wall time of the prediction in seconds, None when not recorded.
        provenance: Where the prediction comes from ("recorded 2025-05-01 10:00 UTC",
            "computed for this report").
    """

    probability: float
    threshold: float
    checkpoint_name: str
    checkpoint_version: str
    checkpoint_sha256: str
    checkpoint_synthetic: bool
    device: str
    modalities_used: tuple[str, ...]
    modalities_missing: tuple[str, ...]
    flags: tuple[str, ...]
    total_s: float | None
    provenance: str

    @property
    def predicts_benefit(self) -> bool:
        """``probability >= threshold``."""
        return self.probability >= self.threshold


@dataclass(frozen=True)
class MeasuredLine:
    """A tumour diameter drawn on a key slice, in the slice's in-plane voxel coordinates.

    Attributes:
        start_yx: (row, column) of one end, voxels (fractional).
        end_yx: (row, column) of the other end.
        diameter_mm: The measured length, mm.
        note: "" on the measured series, else "measured on <phase>, projected".
    """

    start_yx: tuple[float, float]
    end_yx: tuple[float, float]
    diameter_mm: float
    note: str


@dataclass(frozen=True)
class MriKeySlice:
    """One phase's key slice with its saliency.

    Attributes:
        phase: Phase label ("arterial"...).
        image: (Y, X) float32 voxel values of the slice.
        spacing_mm_yx: Row and column spacing, mm.
        slice_index: Index of the slice along the series' Z axis.
        slice_count: Number of slices of the series.
        reason: Why this slice ("measured tumour", "maximum saliency", "middle slice").
        saliency: (Y, X) float32 in [0, 1], the smoothed |IG| relative to the series'
            maximum; None when the series was not explained.
        saliency_reliable: False when a sanity check failed for the MRI saliency.
        line: The tumour measurement, when it lies on (or projects onto) this slice.
    """

    phase: str
    image: NDArray[np.float32]
    spacing_mm_yx: tuple[float, float]
    slice_index: int
    slice_count: int
    reason: str
    saliency: NDArray[np.float32] | None = None
    saliency_reliable: bool = True
    line: MeasuredLine | None = None


@dataclass(frozen=True)
class SlideView:
    """The slide thumbnail (never the label or macro image) and the attention heatmap.

    Attributes:
        thumbnail: (h, w, 3) uint8 RGB of the whole slide.
        dimensions_level0: Slide (width, height) in level-0 px.
        attention: (H, W) float32 MIL attention per heatmap pixel, NaN where no tile was
            scored; None when the slide was not explained.
        attribution: (H, W) float32 per-tile IG (logit), NaN outside tiles; None likewise.
        scale_level0_px: Level-0 px per heatmap pixel.
        offset_level0_xy: Level-0 (x, y) of the heatmap's top-left corner.
        reliable: False when a sanity check failed for the slide attribution.
    """

    thumbnail: NDArray[np.uint8]
    dimensions_level0: tuple[int, int]
    attention: NDArray[np.float32] | None = None
    attribution: NDArray[np.float32] | None = None
    scale_level0_px: float = 1.0
    offset_level0_xy: tuple[float, float] = (0.0, 0.0)
    reliable: bool = True


@dataclass(frozen=True)
class VariantRow:
    """One variant of the gene panel (VAF 0-1, None when not given)."""

    gene: str
    change: str
    vaf: float | None
    classification: str


@dataclass(frozen=True)
class GeneBar:
    """One gene's attribution (logit; positive pushes towards benefit) and its call (0-1)."""

    gene: str
    attribution: float
    call: float


@dataclass(frozen=True)
class ModalityContributions:
    """Modality Shapley values (probability units): baseline + sum(values) = prediction."""

    values: Mapping[str, float]
    baseline: float
    prediction: float


@dataclass(frozen=True)
class SanityRow:
    """One sanity check of the explanation (passes when ``figure < threshold``)."""

    name: str
    target: str
    figure: float
    threshold: float
    passed: bool
    units: str


@dataclass
class ReportData:
    """Everything one report shows.

    Attributes:
        generated_at: When the report was made (UTC).
        pseudonym: The patient's pseudonym (64 hex), None when the case is not recorded and
            no site secret was available.
        record_id: The case number in the screening record, None when not recorded.
        site: Recruiting site code, None when unknown.
        content_sha256: sha256 over the inputs' sha256 (the record's key for the case).
        synthetic_case: Whether the case is marked synthetic.
        status: The record's case status ("pending", "eligible"...), None when not recorded.
        inputs: The case's inputs with their hashes.
        criteria: The 14 protocol criteria (empty when nothing could be evaluated).
        criteria_provenance: "recorded" or a sentence saying how they were evaluated.
        bclc_stage: BCLC stage, None when unknown.
        decision: The decision that holds, None for a draft.
        allocation: The randomised arm, None when not randomised.
        model: The prediction, None when the model could not be run.
        mri: Key slices, one per phase.
        slide: Slide thumbnail and heatmap, None without a slide.
        genes: Gene attributions, sorted by decreasing absolute value.
        variants: The gene panel's variants.
        modalities: Modality contributions, None when not explained.
        sanity: Sanity checks of the explanation.
        explanation_provenance: Where the explanation comes from, or why it is absent.
        notes: Other things the board must know, one sentence each.
    """

    generated_at: datetime
    pseudonym: str | None
    record_id: int | None
    site: str | None
    content_sha256: str
    synthetic_case: bool
    status: str | None = None
    inputs: list[InputRow] = field(default_factory=list)
    criteria: list[CriterionRow] = field(default_factory=list)
    criteria_provenance: str = "recorded"
    bclc_stage: str | None = None
    decision: DecisionInfo | None = None
    allocation: AllocationInfo | None = None
    model: ModelInfo | None = None
    mri: list[MriKeySlice] = field(default_factory=list)
    slide: SlideView | None = None
    genes: list[GeneBar] = field(default_factory=list)
    variants: list[VariantRow] = field(default_factory=list)
    modalities: ModalityContributions | None = None
    sanity: list[SanityRow] = field(default_factory=list)
    explanation_provenance: str = "not explained"
    notes: list[str] = field(default_factory=list)

    @property
    def is_draft(self) -> bool:
        """True when no decision is recorded."""
        return self.decision is None

    @property
    def synthetic(self) -> bool:
        """Synthetic data or a synthetic checkpoint: the report carries the watermark."""
        return self.synthetic_case or (self.model is not None and self.model.checkpoint_synthetic)

    @property
    def unreliable_targets(self) -> set[str]:
        """Explanation targets with a failed sanity check."""
        return {s.target for s in self.sanity if not s.passed}
