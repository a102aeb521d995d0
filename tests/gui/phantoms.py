"""Synthetic MRI series whose intensities are defined in patient space (LPS mm), so that any
grid samples the same anatomy: the tests know where each structure is without asking the view.

Anatomy (axial, z from -60 to +60 mm): a body ellipse, a liver on the patient's right, a
bright tumour sphere in the liver, and an orientation marker on the patient's left-anterior.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from app.imaging.series import MriSeries, Phase

BODY_RADII_MM = (150.0, 110.0)  # x, y half-axes of the body ellipse
LIVER_CENTRE_LPS = (-60.0, -10.0)  # patient's right (x < 0), slightly anterior
LIVER_RADII_MM = (70.0, 60.0)
TUMOUR_CENTRE_LPS = (-60.0, -10.0, 0.0)
TUMOUR_RADIUS_MM = 15.0
MARKER_CENTRE_LPS = (80.0, -60.0, 0.0)  # patient's left (x > 0), anterior (y < 0)
MARKER_RADIUS_MM = 10.0
Z_HALF_EXTENT_MM = 60.0


def intensity_at(points_lps: NDArray[np.float64]) -> NDArray[np.float32]:
    """Phantom intensity at (..., 3) LPS mm points."""
    x, y, z = points_lps[..., 0], points_lps[..., 1], points_lps[..., 2]
    inside_z = np.abs(z) <= Z_HALF_EXTENT_MM
    body = ((x / BODY_RADII_MM[0]) ** 2 + (y / BODY_RADII_MM[1]) ** 2 <= 1) & inside_z
    liver = (
        ((x - LIVER_CENTRE_LPS[0]) / LIVER_RADII_MM[0]) ** 2
        + ((y - LIVER_CENTRE_LPS[1]) / LIVER_RADII_MM[1]) ** 2
        <= 1
    ) & inside_z
    tumour = np.linalg.norm(points_lps - np.array(TUMOUR_CENTRE_LPS), axis=-1) <= TUMOUR_RADIUS_MM
    marker = np.linalg.norm(points_lps - np.array(MARKER_CENTRE_LPS), axis=-1) <= MARKER_RADIUS_MM
    values = np.zeros(points_lps.shape[:-1], dtype=np.float32)
    values[body] = 200.0
    values[liver] = 350.0
    values[tumour] = 700.0
    values[marker] = 1000.0
    return values


def voxel_centres_lps(series: MriSeries) -> NDArray[np.float64]:
    """(Z, Y, X, 3) LPS mm of every voxel centre, from the series' own tags."""
    z, y, x = np.meshgrid(
        *(np.arange(n, dtype=np.float64) for n in series.shape_zyx), indexing="ij"
    )
    index = np.stack([z, y, x, np.ones_like(z)], axis=-1)
    return (index @ series.affine_zyx.T)[..., :3]


def phantom_series(
    uid: str,
    phase: Phase,
    *,
    shape_zyx: tuple[int, int, int],
    spacing_mm_zyx: tuple[float, float, float],
    origin_mm: tuple[float, float, float],
    iop: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
) -> MriSeries:
    """A one-volume axial series sampling the phantom on the given grid."""
    series = MriSeries(
        source=Path("phantom"),
        series_instance_uid=uid,
        series_description=f"phantom {phase.value}",
        phase=phase,
        files=(),
        frames=shape_zyx[0],
        voxels=np.zeros((1, *shape_zyx), dtype=np.float32),
        spacing_mm_zyx=spacing_mm_zyx,
        origin_mm=origin_mm,
        image_orientation_patient=iop,
    )
    series.voxels[0] = intensity_at(voxel_centres_lps(series))
    return series


def blob_volume(
    series: MriSeries, centre_lps: tuple[float, float, float], sigma_mm: float
) -> NDArray[np.float32]:
    """A Gaussian saliency blob on the series grid, peak 1 at `centre_lps`."""
    d2 = np.sum((voxel_centres_lps(series) - np.array(centre_lps)) ** 2, axis=-1)
    return np.exp(-d2 / (2 * sigma_mm**2)).astype(np.float32)


def three_grids() -> list[MriSeries]:
    """Three phases on different grids (spacing, origin; the third mirrored along x, so its
    slice normal points inferior and it starts at the top)."""
    return [
        phantom_series(
            "1.2.826.0.1.1",
            Phase.ARTERIAL,
            shape_zyx=(31, 160, 160),
            spacing_mm_zyx=(4.0, 2.0, 2.0),
            origin_mm=(-160.0, -150.0, -60.0),
        ),
        phantom_series(
            "1.2.826.0.1.2",
            Phase.PORTAL_VENOUS,
            shape_zyx=(41, 130, 180),
            spacing_mm_zyx=(3.0, 2.4, 1.8),
            origin_mm=(-161.0, -152.0, -60.0),
        ),
        phantom_series(
            "1.2.826.0.1.3",
            Phase.DELAYED,
            shape_zyx=(25, 110, 110),
            spacing_mm_zyx=(5.0, 2.9, 2.9),
            origin_mm=(157.0, -155.0, 60.0),
            iop=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        ),
    ]
