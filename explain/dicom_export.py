"""The MRI saliency as DICOM: a Parametric Map per source series (highdicom).

The map is the series' IG on the series' own grid, stored as 32-bit float frames with one
frame per slice at the series' slice positions, orientation and pixel spacing. The object
copies patient and study from the source images and lists them in its source-image and
referenced-series sequences, so a PACS viewer files it with the study and overlays it on the
series. Content qualification is RESEARCH.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from highdicom import UID
from highdicom.content import (
    PixelMeasuresSequence,
    PlaneOrientationSequence,
    PlanePositionSequence,
    VOILUTTransformation,
)
from highdicom.enum import CoordinateSystemNames
from highdicom.pm import ParametricMap, RealWorldValueMapping
from highdicom.sr.coding import CodedConcept
from pydicom.dataset import Dataset

from app import __version__
from app.errors import InputValidationError
from explain.series_maps import SeriesSaliency

log = logging.getLogger(__name__)

MANUFACTURER = "Neoadj-Net screening workstation"
UNITLESS = CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")


def read_source_headers(files: tuple[Path, ...]) -> list[Dataset]:
    """DICOM headers (no pixel data) of a series' files.

    Raises:
        InputValidationError: if a file can no longer be read.
    """
    headers: list[Dataset] = []
    for path in files:
        try:
            headers.append(pydicom.dcmread(path, stop_before_pixels=True))
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise InputValidationError(
                f"'{path.name}' can no longer be read as DICOM: the saliency map cannot "
                "reference it"
            ) from exc
    return headers


def parametric_map(
    saliency: SeriesSaliency,
    *,
    series_number: int,
    synthetic: bool,
) -> ParametricMap:
    """A Parametric Map of ``saliency.integrated_gradients`` referencing its source series.

    Args:
        saliency: One series' IG map (Z, Y, X) on that series' grid.
        series_number: SeriesNumber of the new series.
        synthetic: Mark the object as derived from a synthetic case.

    Returns:
        The Parametric Map dataset (Z float frames of Y x X).
    """
    series = saliency.series
    sources = read_source_headers(series.files)
    values = np.ascontiguousarray(saliency.integrated_gradients, dtype=np.float32)
    affine = series.affine_zyx
    positions = [
        PlanePositionSequence(
            CoordinateSystemNames.PATIENT,
            [float(v) for v in (affine @ np.array([z, 0.0, 0.0, 1.0]))[:3]],
        )
        for z in range(values.shape[0])
    ]
    dz, dy, dx = (float(v) for v in series.spacing_mm_zyx)
    peak = float(np.abs(values).max()) or 1.0
    mapping = RealWorldValueMapping(
        lut_label="IG",
        lut_explanation="Integrated Gradients, logit per model-grid voxel",
        unit=UNITLESS,
        value_range=(float(values.min()), float(values.max())),
        slope=1.0,
        intercept=0.0,
    )
    note = " (SYNTHETIC case)" if synthetic else ""
    return ParametricMap(
        source_images=sources,
        pixel_array=values,
        series_instance_uid=UID(),
        series_number=series_number,
        sop_instance_uid=UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="neoadj explain",
        software_versions=__version__,
        device_serial_number="none",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[VOILUTTransformation(window_center=0.0, window_width=2.0 * peak)],
        content_description=f"Neoadj-Net IG saliency, {saliency.phase.value}{note}"[:64],
        content_label="NEOADJ_IG",
        pixel_measures=PixelMeasuresSequence([dy, dx], dz, dz),
        plane_orientation=PlaneOrientationSequence(
            CoordinateSystemNames.PATIENT, list(series.image_orientation_patient)
        ),
        plane_positions=positions,
    )
