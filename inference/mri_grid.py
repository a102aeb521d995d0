"""MRI preprocessing: every contrast phase resampled onto one fixed grid around the liver.

Phases are co-registered by patient coordinates: each series' DICOM affine maps its voxels to
LPS mm, and every phase is sampled (trilinear, after an anti-alias Gaussian) at the LPS points of
one model grid. The grid is axis-aligned with the patient (Z inferior->superior, Y
anterior->posterior, X right->left) and placed by a liver-localisation heuristic that needs no
segmentation model, so it works on real scans as well as synthetic ones:

1. body mask: Otsu threshold of the reference phase (pre-contrast when present), largest
   connected component;
2. the liver lies in the patient's right upper abdomen, and a liver MRI slab is planned on it:
   the box is flush with the body's right edge (LPS -x) when the body is wider than the box
   (centred otherwise), centred on the body's anterior-posterior extent, and centred on the
   slab's superior-inferior extent covered by the body mask.

The `GridTransform` (model-grid index -> LPS mm) is kept, so that any map computed on the model
grid is taken back to a source series' DICOM grid with `model_grid_to_series`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import threshold_otsu

from app.imaging.series import MriSeries, Phase
from app.progress import ProgressFn, check_cancel, no_progress
from inference.input_spec import InputSpec

log = logging.getLogger(__name__)

_MAX_MASK_VOXELS = 64**3
_CLIP_MAX = 5.0


@dataclass(frozen=True)
class GridTransform:
    """Geometry of the model grid.

    Attributes:
        matrix: 4x4 float64 mapping a model-grid index (z, y, x, 1) to patient LPS mm
            (x, y, z, 1).
        shape_zyx: Grid size (Z, Y, X) in voxels.
    """

    matrix: NDArray[np.float64]
    shape_zyx: tuple[int, int, int]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {"matrix": self.matrix.tolist(), "shape_zyx": list(self.shape_zyx)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GridTransform:
        """Inverse of `to_json`."""
        z, y, x = (int(v) for v in data["shape_zyx"])
        return cls(np.asarray(data["matrix"], dtype=np.float64), (z, y, x))


@dataclass
class MriInput:
    """The MRI modality on the model grid.

    Attributes:
        volume: (P, Z, Y, X) float32, each phase divided by its foreground median and
            clipped to [0, 5]; a missing phase is all zeros.
        transform: Model grid geometry.
        phases_present: One bool per spec phase.
        series_uids: SeriesInstanceUID used for each phase ("" when missing).
        flags: Human-readable warnings (missing phase, several frames of reference...).
    """

    volume: NDArray[np.float32]
    transform: GridTransform
    phases_present: tuple[bool, ...]
    series_uids: tuple[str, ...]
    flags: list[str] = field(default_factory=list)


def grid_transform_for_box(centre_lps_mm: NDArray[np.float64], spec: InputSpec) -> GridTransform:
    """Model grid of ``spec`` centred on an LPS point (mm)."""
    sz, sy, sx = spec.grid_spacing_mm_zyx
    nz, ny, nx = spec.grid_shape_zyx
    m = np.zeros((4, 4), dtype=np.float64)
    m[0, 2] = sx  # x index -> LPS x (towards patient left)
    m[1, 1] = sy  # y index -> LPS y (towards posterior)
    m[2, 0] = sz  # z index -> LPS z (towards superior)
    m[3, 3] = 1.0
    half = np.array([(nx - 1) * sx, (ny - 1) * sy, (nz - 1) * sz]) / 2.0
    m[:3, 3] = np.asarray(centre_lps_mm, dtype=np.float64) - half
    return GridTransform(m, (nz, ny, nx))


def locate_liver_box(reference: MriSeries, spec: InputSpec) -> NDArray[np.float64]:
    """Centre (LPS mm, x y z) of the model box by the heuristic of the module docstring."""
    volume = reference.voxels[0]
    step = max(1, int(np.ceil((volume.size / _MAX_MASK_VOXELS) ** (1 / 3))))
    small = volume[::step, ::step, ::step]
    finite = small[np.isfinite(small)]
    if finite.size == 0 or float(finite.max()) <= float(finite.min()):
        raise ValueError("constant or empty volume")
    mask = small > threshold_otsu(finite)  # type: ignore[no-untyped-call]
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    idx = np.argwhere(mask).astype(np.float64) * step  # (K, 3) zyx indices
    lps = _apply(reference.affine_zyx, idx)  # (K, 3) LPS mm
    lo, hi = lps.min(axis=0), lps.max(axis=0)
    ext_x = spec.grid_extent_mm_zyx[2]
    body_width = hi[0] - lo[0]
    centre_x = lo[0] + ext_x / 2.0 if body_width > ext_x else (lo[0] + hi[0]) / 2.0
    return np.array([centre_x, (lo[1] + hi[1]) / 2.0, (lo[2] + hi[2]) / 2.0])


def preprocess_mri(
    series: list[MriSeries],
    spec: InputSpec,
    *,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> MriInput | None:
    """Resample the spec's phases onto the model grid.

    Args:
        series: Imported MRI series of one case (any phases; unknown ones are ignored).
        spec: Input specification (phases, grid shape and spacing).
        progress: Called as (phases done, phases total).
        cancel: Checked before every phase and between steps.

    Returns:
        The MRI input, or None when no series has one of the spec's phases.
    """
    flags: list[str] = []
    by_phase: dict[Phase, MriSeries] = {}
    for s in series:
        if s.phase in spec.phases and s.phase not in by_phase:
            by_phase[s.phase] = s
        elif s.phase in spec.phases:
            flags.append(f"several {s.phase.value} series: the first one was used")
    if not by_phase:
        return None
    for phase in spec.phases:
        if phase not in by_phase:
            flags.append(f"MRI has no {phase.value.replace('_', ' ')} phase: that channel is empty")
    if len({s.frame_of_reference_uid for s in by_phase.values()}) > 1:
        flags.append(
            "MRI phases have different frames of reference: aligned by patient coordinates only"
        )
    reference = by_phase.get(spec.phases[0], next(iter(by_phase.values())))
    check_cancel(cancel)
    try:
        centre = locate_liver_box(reference, spec)
    except ValueError:
        flags.append("MRI reference phase is constant: box centred on the series")
        centre = _apply(reference.affine_zyx, (np.array([reference.shape_zyx]) - 1) / 2.0)[0]
    transform = grid_transform_for_box(centre, spec)
    volume = np.zeros((len(spec.phases), *spec.grid_shape_zyx), dtype=np.float32)
    present: list[bool] = []
    uids: list[str] = []
    for i, phase in enumerate(spec.phases):
        check_cancel(cancel)
        source = by_phase.get(phase)
        present.append(source is not None)
        uids.append(source.series_instance_uid if source is not None else "")
        if source is not None:
            target_mm = min(spec.grid_spacing_mm_zyx)
            smooth = _antialias(source.voxels[0], source.spacing_mm_zyx, target_mm)
            check_cancel(cancel)
            sampled = resample_to_grid(smooth, source.affine_zyx, transform, order=1)
            volume[i] = _normalise(sampled)
            if not np.any(volume[i]):
                flags.append(f"MRI {phase.value} phase does not cover the liver box")
        progress(i + 1, len(spec.phases))
    return MriInput(volume, transform, tuple(present), tuple(uids), flags)


def resample_to_grid(
    volume_zyx: NDArray[np.floating[Any]],
    affine_zyx: NDArray[np.float64],
    transform: GridTransform,
    *,
    order: int = 1,
) -> NDArray[np.float32]:
    """Sample a (Z, Y, X) volume at the model grid's points.

    Args:
        volume_zyx: Values on a grid whose zyx index -> LPS mm affine is ``affine_zyx`` (4, 4),
            e.g. a series' ``affine_zyx`` or a mask's.

    Returns (Z', Y', X') float32 on the model grid; points outside the volume are 0.
    """
    grid = np.indices(transform.shape_zyx, dtype=np.float64).reshape(3, -1).T  # (K, 3)
    to_series = np.linalg.inv(affine_zyx) @ transform.matrix
    coords = _apply(to_series, grid).T  # (3, K) series zyx indices
    out = ndimage.map_coordinates(volume_zyx, coords, order=order, mode="constant", cval=0.0)
    result: NDArray[np.float32] = out.reshape(transform.shape_zyx).astype(np.float32)
    return result


def model_grid_to_series(
    volume_on_model_grid: NDArray[np.floating[Any]],
    transform: GridTransform,
    series: MriSeries,
    *,
    order: int = 1,
) -> NDArray[np.float32]:
    """Map a (Z', Y', X') map on the model grid back onto a source series' DICOM grid.

    Args:
        volume_on_model_grid: (Z', Y', X') values on the model grid (e.g. a Grad-CAM map).
        transform: The model grid geometry the map was computed on.
        series: Target series; its ``affine_zyx`` gives the DICOM geometry.
        order: Spline order (0 nearest for label maps, 1 trilinear).

    Returns:
        (Z, Y, X) float32 on the series grid; points outside the model box are 0.
    """
    if tuple(volume_on_model_grid.shape) != transform.shape_zyx:
        raise ValueError(
            f"map shape {volume_on_model_grid.shape} is not the model grid {transform.shape_zyx}"
        )
    grid = np.indices(series.shape_zyx, dtype=np.float64).reshape(3, -1).T
    to_model = np.linalg.inv(transform.matrix) @ series.affine_zyx
    coords = _apply(to_model, grid).T
    out = ndimage.map_coordinates(
        np.asarray(volume_on_model_grid, dtype=np.float32), coords, order=order, cval=0.0
    )
    result: NDArray[np.float32] = out.reshape(series.shape_zyx).astype(np.float32)
    return result


def _apply(matrix: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Apply a 4x4 affine to (K, 3) points."""
    out: NDArray[np.float64] = points @ matrix[:3, :3].T + matrix[:3, 3]
    return out


def _antialias(
    volume: NDArray[np.float32], spacing_mm_zyx: tuple[float, float, float], target_mm: float
) -> NDArray[np.float32]:
    """Gaussian pre-filter so that downsampling to ``target_mm`` does not alias."""
    sigma = [max(0.0, 0.5 * (target_mm / max(s, 1e-3) - 1.0)) for s in spacing_mm_zyx]
    if max(sigma) < 0.3:
        return volume
    out: NDArray[np.float32] = ndimage.gaussian_filter(volume.astype(np.float32), sigma=sigma)
    return out


def _normalise(sampled: NDArray[np.float32]) -> NDArray[np.float32]:
    """Divide by the foreground median (Otsu) and clip to [0, 5]; all-zero stays zero."""
    inside = sampled[sampled > 0]
    if inside.size < 16 or float(inside.max()) <= float(inside.min()):
        return np.zeros_like(sampled)
    otsu = float(threshold_otsu(inside))  # type: ignore[no-untyped-call]
    fg = inside[inside > otsu]
    median = float(np.median(fg)) if fg.size else float(np.median(inside))
    if median <= 0:
        return np.zeros_like(sampled)
    result: NDArray[np.float32] = np.clip(sampled / median, 0.0, _CLIP_MAX).astype(np.float32)
    return result
