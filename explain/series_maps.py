"""MRI maps taken from the model grid back onto each source series' own DICOM grid.

Each phase's IG map (and the case's Grad-CAM) is resampled trilinearly at the centres of the
series' voxels (`inference.preprocess.model_grid_to_series`), so the result has the series'
shape and affine and overlays it voxel for voxel. Values are densities on the model grid
(logit per model-grid voxel for IG) sampled at series voxels; outside the model box they are 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.imaging.series import MriSeries, Phase
from explain.mri_saliency import MriSaliency
from inference.mri_grid import GridTransform
from inference.preprocess import model_grid_to_series


@dataclass(frozen=True)
class SeriesSaliency:
    """Saliency of one source series, on that series' grid.

    Attributes:
        series: The source series (geometry: ``series.shape_zyx``, ``series.affine_zyx``).
        phase: The model input channel the series fed.
        integrated_gradients: (Z, Y, X) float32 IG of this phase, logit per model-grid voxel.
        gradcam: (Z, Y, X) float32 signed Grad-CAM of the case (all phases).
        in_model_box: (Z, Y, X) bool, True where the model grid covers the series voxel.
    """

    series: MriSeries
    phase: Phase
    integrated_gradients: NDArray[np.float32]
    gradcam: NDArray[np.float32]
    in_model_box: NDArray[np.bool_]


def series_saliency(
    saliency: MriSaliency,
    transform: GridTransform,
    phases: Sequence[Phase],
    series_uids: Sequence[str],
    series: Sequence[MriSeries],
) -> list[SeriesSaliency]:
    """One `SeriesSaliency` per phase that had a series.

    Args:
        saliency: Maps on the model grid ((P, Z', Y', X') IG, (Z', Y', X') Grad-CAM).
        transform: The model grid geometry.
        phases: Model input phases, channel order.
        series_uids: SeriesInstanceUID per channel ("" for a missing phase).
        series: The case's imported series, searched by UID.

    Raises:
        ValueError: if a UID used by the model is not among ``series``.
    """
    by_uid = {s.series_instance_uid: s for s in series}
    out: list[SeriesSaliency] = []
    box = np.ones(transform.shape_zyx, dtype=np.float32)
    for channel, (phase, uid) in enumerate(zip(phases, series_uids, strict=True)):
        if not uid:
            continue
        source = by_uid.get(uid)
        if source is None:
            raise ValueError(f"series {uid} used by the model is not in the case")
        ig = model_grid_to_series(saliency.integrated_gradients[channel], transform, source)
        cam = model_grid_to_series(saliency.gradcam, transform, source)
        inside = model_grid_to_series(box, transform, source, order=0) > 0.5
        out.append(SeriesSaliency(source, phase, ig, cam, inside))
    return out
