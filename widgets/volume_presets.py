"""Transfer-function presets for MRI volume rendering, placed on each volume's percentiles
(MR intensities have no absolute unit). VTK-free: the 3D view turns these into VTK functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

BlendMode = Literal["mip", "composite"]


@dataclass(frozen=True)
class TransferPreset:
    """Colour and opacity ramps over normalised intensity (0 = low, 1 = high reference).

    Attributes:
        name: Shown to the user.
        blend: "mip" (maximum intensity projection) or "composite" (front-to-back).
        color_points: (position 0-1, r, g, b) control points.
        opacity_points: (position 0-1, opacity) control points.
    """

    name: str
    blend: BlendMode
    color_points: tuple[tuple[float, float, float, float], ...]
    opacity_points: tuple[tuple[float, float], ...]


TRANSFER_PRESETS: dict[str, TransferPreset] = {
    p.name: p
    for p in (
        TransferPreset(
            "MIP",
            "mip",
            ((0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0)),
            ((0.0, 0.0), (0.15, 0.0), (1.0, 1.0)),
        ),
        TransferPreset(
            "Soft tissue",
            "composite",
            (
                (0.0, 0.0, 0.0, 0.0),
                (0.35, 0.55, 0.25, 0.15),
                (0.6, 0.88, 0.6, 0.45),
                (1.0, 1.0, 0.95, 0.85),
            ),
            ((0.0, 0.0), (0.3, 0.0), (0.5, 0.06), (0.8, 0.25), (1.0, 0.5)),
        ),
        TransferPreset(
            "Enhancing vessels",
            "composite",
            (
                (0.0, 0.0, 0.0, 0.0),
                (0.7, 0.7, 0.1, 0.05),
                (0.85, 1.0, 0.35, 0.25),
                (1.0, 1.0, 1.0, 0.9),
            ),
            ((0.0, 0.0), (0.7, 0.0), (0.85, 0.4), (1.0, 0.9)),
        ),
    )
}


def intensity_reference(volume: NDArray[np.floating]) -> tuple[float, float]:
    """(low, high) intensities that map to 0 and 1: the 1st and 99.9th percentiles (small
    bright structures such as enhancing vessels or a tumour stay below saturation)."""
    flat = np.asarray(volume, dtype=np.float32).ravel()
    if flat.size > 2_000_000:
        flat = flat[:: flat.size // 2_000_000 + 1]
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return (0.0, 1.0)
    low, high = (float(v) for v in np.percentile(flat, [1.0, 99.9]))
    return (low, high) if high > low else (low, low + 1.0)
