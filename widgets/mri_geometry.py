"""Where an MRI series lies in the viewers' world: patient millimetres, axes (z, y, x) of LPS.

The napari world of every MRI viewer is patient LPS space with its axes in the order
(z = superior, y = posterior, x = patient's left), in mm. An axial slice is then shown with
anterior up and the patient's left on the image's right (radiological convention), and
series with different grids line up because each layer carries its own voxel-to-world affine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.imaging.series import MriSeries

WORLD_AXIS_LABELS = ("S", "P", "L")  # direction of increasing world z, y, x (LPS)

# Swaps LPS (x, y, z) rows into world (z, y, x) order.
_LPS_TO_WORLD = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def world_affine(series: MriSeries) -> NDArray[np.float64]:
    """4x4 affine from a voxel index (z, y, x) of `series` to world (z, y, x) LPS mm."""
    return _LPS_TO_WORLD @ series.affine_zyx


@dataclass(frozen=True)
class LayerTransform:
    """`world_affine` split into napari's layer parameters: world = translate + rotate @
    (scale * index). napari takes its slider step from `scale`, so one step is one slice."""

    scale: tuple[float, float, float]
    rotate: NDArray[np.float64]  # (3, 3) proper rotation (det +1)
    translate: tuple[float, float, float]

    def as_kwargs(self) -> dict[str, object]:
        """Keyword arguments for napari's `add_image` / layer constructors (units: mm)."""
        return {
            "scale": self.scale,
            "rotate": self.rotate,
            "translate": self.translate,
            "units": ("mm", "mm", "mm"),
        }


def layer_transform(series: MriSeries) -> LayerTransform:
    """The series' voxel-to-world transform as napari scale, rotation and translation.

    A mirrored grid (det < 0, e.g. rows running right-to-left) keeps a proper rotation and
    gets a negative scale on its X axis instead.
    """
    matrix = world_affine(series)
    linear = matrix[:3, :3]
    scale = np.linalg.norm(linear, axis=0)
    rotate = linear / scale
    if np.linalg.det(rotate) < 0:
        rotate[:, 2] *= -1
        scale[2] *= -1
    return LayerTransform(
        scale=(float(scale[0]), float(scale[1]), float(scale[2])),
        rotate=rotate,
        translate=(float(matrix[0, 3]), float(matrix[1, 3]), float(matrix[2, 3])),
    )


def world_to_lps(point_world_zyx: NDArray[np.float64]) -> NDArray[np.float64]:
    """World (z, y, x) mm -> LPS (x, y, z) mm; works on (..., 3) arrays."""
    return np.asarray(point_world_zyx, dtype=np.float64)[..., ::-1]


def lps_to_world(point_lps: NDArray[np.float64]) -> NDArray[np.float64]:
    """LPS (x, y, z) mm -> world (z, y, x) mm; works on (..., 3) arrays."""
    return np.asarray(point_lps, dtype=np.float64)[..., ::-1]


@dataclass(frozen=True)
class ViewPlane:
    """How to show a series in 2D: which world axis the slider moves along and how the
    displayed axes point on screen.

    Attributes:
        name: "axial", "coronal" or "sagittal".
        slice_axis: World axis (0 z, 1 y, 2 x) perpendicular to the screen.
        order: napari `dims.order` (the slice axis first, displayed axes last).
        orientation2d: napari `camera.orientation2d` (vertical, horizontal): whether the
            displayed world axes increase downward/upward and rightward/leftward.
    """

    name: str
    slice_axis: int
    order: tuple[int, int, int]
    orientation2d: tuple[str, str]


AXIAL = ViewPlane("axial", 0, (0, 1, 2), ("down", "right"))  # anterior up, patient L right
CORONAL = ViewPlane("coronal", 1, (1, 0, 2), ("up", "right"))  # superior up, patient L right
SAGITTAL = ViewPlane("sagittal", 2, (2, 0, 1), ("up", "right"))  # superior up, anterior left


def view_plane(series: MriSeries) -> ViewPlane:
    """The standard plane closest to the series' slices (by its slice normal)."""
    lps_axis = int(np.argmax(np.abs(series.normal)))  # 0 x (sagittal), 1 y, 2 z (axial)
    return {2: AXIAL, 1: CORONAL, 0: SAGITTAL}[lps_axis]
