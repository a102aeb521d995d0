"""Gather a report's content from the case, its record, the prediction and the explanation.

Key MRI slices: on the series the tumour was measured on, the measured slice; on the other
phases, the slice nearest the measurement's midpoint (the line projected onto it). Without a
measurement, each phase's slice of largest summed saliency; without saliency, the middle slice.
The slide is shown by its thumbnail (`SlideReader.thumbnail`), never its label or macro image.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter

from app.case import Case, InputFile
from app.errors import ScreeningError
from app.hashing import sha256_bytes
from app.imaging.series import MriSeries, Phase
from app.measurement import TumourMeasurement
from app.progress import check_cancel
from app.pseudonym import SiteSecret, pseudonymise
from app.report.explanation_source import (
    ExplanationFolderError,
    ExplanationLike,
    ExplanationMaps,
    maps_from_explanation,
    read_explanation_folder,
)
from app.report.model import (
    CriterionRow,
    GeneBar,
    InputRow,
    MeasuredLine,
    ModalityContributions,
    ModelInfo,
    MriKeySlice,
    ReportData,
    SanityRow,
    SlideView,
    VariantRow,
)
from app.report.record import StoredRecord
from app.rules import RuleInputError, evaluate_criteria
from app.slides import open_slide
from app.storage import PredictionLike

log = logging.getLogger(__name__)

SALIENCY_SMOOTHING_VOXELS = 1.0
"""Gaussian sigma (voxels) applied to |IG| before it is contoured: IG is voxel-noisy."""
THUMBNAIL_PX = 1024
MRI_TARGETS = ("mri_integrated_gradients",)
SLIDE_TARGETS = ("slide_attribution",)
_PHASE_ORDER = {p.value: i for i, p in enumerate(Phase)}


def gather_report_data(
    case: Case,
    *,
    record: StoredRecord | None = None,
    prediction: PredictionLike | None = None,
    explanation: ExplanationLike | ExplanationMaps | None = None,
    measurement: TumourMeasurement | None = None,
    secret: SiteSecret | None = None,
    now: datetime | None = None,
    cancel: threading.Event | None = None,
) -> ReportData:
    """Collect everything the report shows.

    Args:
        case: The imported case.
        record: Its screening record (`app.report.record.read_record`); None when it is not
            recorded (the report is then a draft, criteria evaluated from ``clinical.json``).
        prediction: A prediction made now (`inference.runner.Prediction`); None for the
            recorded one.
        explanation: An explanation (`explain.explanation.Explanation` or maps already read);
            None for the recorded explanation folder, if any.
        measurement: The tumour measurement from the MRI view, if one was made.
        secret: The site secret, to show the pseudonym of a case not yet recorded.
        now: The report's time (UTC); None for now.
        cancel: Checked between the steps.

    Returns:
        The report's content; what could not be shown is said in ``notes``.
    """
    data = ReportData(
        generated_at=now or datetime.now(UTC),
        pseudonym=record.pseudonym if record is not None else _pseudonym(case, secret),
        record_id=None if record is None else record.record_id,
        site=record.site if record is not None and record.site else _site(case),
        content_sha256=case.content_hash,
        synthetic_case=case.synthetic,
        status=None if record is None else record.status,
        inputs=input_rows(case),
        variants=[
            VariantRow(v.gene, v.change, v.vaf, v.classification)
            for panel in case.genomics
            for v in panel.variants
        ],
    )
    if record is None:
        data.notes.append("This case is not in the screening record: nothing here is recorded.")
    else:
        data.decision, data.allocation = record.decision, record.allocation
        data.bclc_stage = record.bclc_stage
    data.model = _model(prediction, record)
    check_cancel(cancel)
    maps = _explanation(explanation, record, data)
    if maps is not None:
        _put_explanation(data, maps)
    data.criteria = _criteria(case, record, data, measurement)
    check_cancel(cancel)
    data.mri = key_slices(case.mri, maps, measurement, data.unreliable_targets)
    check_cancel(cancel)
    data.slide = _slide(case, maps, data)
    return data


def input_rows(case: Case) -> list[InputRow]:
    """One row per MRI series (its files hashed together) and per other input file."""
    by_path = {f.path: f for f in case.inputs}
    rows: list[InputRow] = []
    in_series: set[object] = set()
    for series in sorted(case.mri, key=lambda s: _PHASE_ORDER.get(str(s.phase), 99)):
        files = [by_path[p] for p in series.files if p in by_path]
        if not files:
            continue
        in_series.update(f.path for f in files)
        rows.append(
            InputRow(
                "mri",
                f"MRI {str(series.phase).replace('_', ' ')} ({len(files)} files)",
                _combined_sha256(files),
                sum(f.size_bytes for f in files),
            )
        )
    for f in case.inputs:
        if f.path in in_series:
            continue
        label = (
            f.path.relative_to(case.root).as_posix()
            if case.root is not None and f.path.is_relative_to(case.root)
            else f.path.name
        )
        rows.append(InputRow(f.kind, label, f.sha256, f.size_bytes))
    return rows


def _combined_sha256(files: list[InputFile]) -> str:
    if len(files) == 1:
        return files[0].sha256
    return sha256_bytes("\n".join(sorted(f.sha256 for f in files)).encode())


def _pseudonym(case: Case, secret: SiteSecret | None) -> str | None:
    if secret is None:
        return None
    identifier = (case.clinical.patient_id if case.clinical else None) or case.case_id
    return pseudonymise(identifier, secret)


def _site(case: Case) -> str | None:
    return case.clinical.site if case.clinical is not None else None


def _model(prediction: PredictionLike | None, record: StoredRecord | None) -> ModelInfo | None:
    if prediction is None:
        return None if record is None else record.model
    ckpt = prediction.checkpoint
    total = prediction.timings_s.get("total")
    return ModelInfo(
        probability=float(prediction.probability),
        threshold=float(prediction.threshold),
        checkpoint_name=ckpt.name,
        checkpoint_version=ckpt.version,
        checkpoint_sha256=ckpt.sha256,
        checkpoint_synthetic=ckpt.synthetic,
        device=prediction.device,
        modalities_used=tuple(prediction.modalities_used),
        modalities_missing=tuple(prediction.modalities_missing),
        flags=tuple(prediction.flags),
        total_s=None if total is None else float(total),
        provenance="computed for this report (not recorded)"
        if record is None or record.model is None
        else "computed for this report",
    )


def _explanation(
    explanation: ExplanationLike | ExplanationMaps | None,
    record: StoredRecord | None,
    data: ReportData,
) -> ExplanationMaps | None:
    if isinstance(explanation, ExplanationMaps):
        data.explanation_provenance = explanation.provenance
        return explanation
    if explanation is not None:
        data.explanation_provenance = "computed for this report"
        return maps_from_explanation(explanation, data.explanation_provenance)
    if record is not None and record.explanation_dir is not None:
        try:
            maps = read_explanation_folder(
                record.explanation_dir, manifest_sha256=record.explanation_manifest_sha256
            )
        except ExplanationFolderError as exc:
            data.notes.append(f"The recorded explanation is not shown: {exc.user_message}")
            data.explanation_provenance = "recorded explanation unavailable"
            return None
        data.explanation_provenance = "recorded with the screening (hashes checked)"
        return maps
    data.explanation_provenance = "not explained"
    return None


def _put_explanation(data: ReportData, maps: ExplanationMaps) -> None:
    data.sanity = [
        SanityRow(s.name, s.target, s.figure, s.threshold, s.passed, s.units) for s in maps.sanity
    ]
    if maps.shapley_values:
        data.modalities = ModalityContributions(
            dict(maps.shapley_values), maps.shapley_baseline, maps.shapley_prediction
        )
    bars = [GeneBar(gene, attribution, call) for gene, call, attribution in maps.genes]
    data.genes = sorted(bars, key=lambda b: (-abs(b.attribution), b.gene))


def _criteria(
    case: Case,
    record: StoredRecord | None,
    data: ReportData,
    measurement: TumourMeasurement | None,
) -> list[CriterionRow]:
    if record is not None and record.criteria:
        data.criteria_provenance = "recorded"
        return list(record.criteria)
    if case.clinical is None:
        data.criteria_provenance = "not evaluated: the case has no clinical data"
        return []
    model = data.model
    try:
        result = evaluate_criteria(
            case.clinical,
            measured_diameter_mm=None if measurement is None else measurement.diameter_mm,
            measured_source=None if measurement is None else measurement.where,
            model_probability=None if model is None else model.probability,
            model_threshold=None if model is None else model.threshold,
            model_synthetic=model is not None and model.checkpoint_synthetic,
        )
    except RuleInputError as exc:
        data.criteria_provenance = f"not evaluated: {exc.user_message}"
        return []
    data.criteria_provenance = "evaluated for this report from clinical.json (not recorded)"
    data.bclc_stage = data.bclc_stage or result.bclc.stage
    return [CriterionRow(c.id, c.label, c.value, c.source, c.status) for c in result.criteria]


def key_slices(
    series_list: list[MriSeries],
    maps: ExplanationMaps | None,
    measurement: TumourMeasurement | None,
    unreliable: set[str],
) -> list[MriKeySlice]:
    """One key slice per series, in phase order (see the module docstring)."""
    measured = None
    if measurement is not None:
        measured = next(
            (s for s in series_list if s.series_instance_uid == measurement.series_instance_uid),
            None,
        )
    ordered = sorted(series_list, key=lambda s: _PHASE_ORDER.get(str(s.phase), 99))
    saliencies = []
    for series in ordered:
        ig = None if maps is None else maps.mri_ig.get(series.series_instance_uid)
        saliencies.append(None if ig is None else _relative_saliency(ig, series.shape_zyx))
    common = _common_peak_slice(ordered, saliencies)
    out: list[MriKeySlice] = []
    for series, saliency in zip(ordered, saliencies, strict=True):
        z, reason, line = _choose_slice(series, saliency, measurement, measured)
        if reason == "maximum saliency" and common is not None:
            z, reason = common, "maximum saliency over all phases"
        out.append(
            MriKeySlice(
                phase=str(series.phase),
                image=np.asarray(series.voxels[0, z], dtype=np.float32),
                spacing_mm_yx=(series.spacing_mm_zyx[1], series.spacing_mm_zyx[2]),
                slice_index=z,
                slice_count=series.shape_zyx[0],
                reason=reason,
                saliency=None if saliency is None else saliency[z],
                saliency_reliable=not (set(MRI_TARGETS) & unreliable),
                line=line,
            )
        )
    return out


def _common_peak_slice(
    series: list[MriSeries], saliencies: list[NDArray[np.float32] | None]
) -> int | None:
    """The slice of largest saliency summed over every phase, when all phases share one grid.

    One slice position for every phase lets the board compare the phases side by side.
    """
    maps = [m for m in saliencies if m is not None]
    if not maps or len(maps) != len(series):
        return None
    first = series[0]
    same_grid = all(
        s.shape_zyx == first.shape_zyx and np.allclose(s.affine_zyx, first.affine_zyx, atol=0.01)
        for s in series
    )
    if not same_grid:
        return None
    profile = sum(m.sum(axis=(1, 2)) for m in maps)
    return int(np.argmax(profile))


def _relative_saliency(
    ig: NDArray[np.float32], shape_zyx: tuple[int, int, int]
) -> NDArray[np.float32] | None:
    """Smoothed |IG| divided by its maximum, (Z, Y, X) in [0, 1]; None if shapes differ."""
    if ig.shape != shape_zyx:
        log.warning("saliency shape %s differs from the series %s", ig.shape, shape_zyx)
        return None
    smooth: NDArray[np.float32] = gaussian_filter(
        np.abs(ig).astype(np.float32), SALIENCY_SMOOTHING_VOXELS
    )
    peak = float(smooth.max())
    out: NDArray[np.float32] = (smooth / peak if peak > 0 else smooth).astype(np.float32)
    return out


def _choose_slice(
    series: MriSeries,
    saliency: NDArray[np.float32] | None,
    measurement: TumourMeasurement | None,
    measured: MriSeries | None,
) -> tuple[int, str, MeasuredLine | None]:
    depth = series.shape_zyx[0]
    if measurement is not None and measured is not None:
        inverse = np.linalg.inv(series.affine_zyx)
        start = (inverse @ np.append(measurement.start_lps_mm, 1.0))[:3]
        end = (inverse @ np.append(measurement.end_lps_mm, 1.0))[:3]
        z = round(float(start[0] + end[0]) / 2)
        if series is measured:
            z = measurement.slice_index
        if 0 <= z < depth:
            note = "" if series is measured else f"measured on {measurement.phase}, projected"
            line = MeasuredLine(
                (float(start[1]), float(start[2])),
                (float(end[1]), float(end[2])),
                measurement.diameter_mm,
                note,
            )
            return z, "measured tumour", line
    if saliency is not None and float(saliency.max()) > 0:
        return int(np.argmax(saliency.sum(axis=(1, 2)))), "maximum saliency", None
    return depth // 2, "middle slice", None


def _slide(case: Case, maps: ExplanationMaps | None, data: ReportData) -> SlideView | None:
    if not case.slides:
        return None
    info = case.slides[0]
    try:
        with open_slide(info.source) as reader:
            thumbnail = reader.thumbnail(THUMBNAIL_PX)
    except ScreeningError as exc:
        data.notes.append(f"The slide thumbnail could not be read: {exc.user_message}")
        return None
    heat = None if maps is None else maps.slide
    width, height = info.dimensions
    return SlideView(
        thumbnail=thumbnail,
        dimensions_level0=(int(width), int(height)),
        attention=None if heat is None else heat.attention,
        attribution=None if heat is None else heat.attribution,
        scale_level0_px=1.0 if heat is None else heat.scale_level0_px,
        offset_level0_xy=(0.0, 0.0) if heat is None else heat.offset_level0_xy,
        reliable=not (set(SLIDE_TARGETS) & data.unreliable_targets),
    )


__all__ = ["gather_report_data", "input_rows", "key_slices"]
