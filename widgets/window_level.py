"""Window/level presets for MRI, from each volume's own intensity distribution.

MR signal has no absolute unit (unlike CT Hounsfield units), so the presets are placed on
percentiles of the body's voxels rather than on fixed numbers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

PRESET_NAMES = ("Liver", "Abdomen", "Full range")
_MAX_SAMPLES = 2_000_000


def _body_voxels(volume: NDArray[np.floating]) -> NDArray[np.float64]:
    """Voxels brighter than the mean of the whole (subsampled) volume: a rough body mask
    that leaves out the dark air around the patient."""
    flat = np.asarray(volume, dtype=np.float64).ravel()
    if flat.size > _MAX_SAMPLES:
        flat = flat[:: flat.size // _MAX_SAMPLES + 1]
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return np.zeros(1)
    body = flat[flat > flat.mean()]
    return body if body.size >= 16 else flat


def window_presets(volume: NDArray[np.floating]) -> dict[str, tuple[float, float]]:
    """Contrast limits (low, high) in the volume's intensity units for each preset.

    Args:
        volume: (Z, Y, X) intensities.

    Returns:
        "Liver": from the minimum (air black) to the 98th percentile of the body voxels, so
        soft tissue fills the grey scale and only fat, fluid and enhancing vessels clip
        white; the low end stays at the minimum because the liver is among the darkest
        tissues on T2 and would be clipped black by any body percentile. "Abdomen": minimum
        to the 99.9th percentile, every tissue visible. "Full range": minimum to maximum.
        Without a liver segmentation a window cannot centre on the liver itself. Every
        preset has high > low.
    """
    if np.isfinite(volume).any():
        lo_full, hi_full = float(np.nanmin(volume)), float(np.nanmax(volume))
    else:
        lo_full, hi_full = 0.0, 1.0
    p98, p999 = (float(v) for v in np.percentile(_body_voxels(volume), [98, 99.9]))
    presets = {
        "Liver": (lo_full, p98),
        "Abdomen": (lo_full, p999),
        "Full range": (lo_full, hi_full),
    }
    return {name: _nonempty(lo, hi) for name, (lo, hi) in presets.items()}


def _nonempty(lo: float, hi: float) -> tuple[float, float]:
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def window_to_limits(level: float, width: float) -> tuple[float, float]:
    """Contrast limits from a window centre (level) and width (> 0)."""
    width = max(width, 1e-6)
    return (level - width / 2, level + width / 2)


def limits_to_window(limits: tuple[float, float]) -> tuple[float, float]:
    """(level, width) from contrast limits (low, high)."""
    low, high = limits
    return ((low + high) / 2, high - low)
