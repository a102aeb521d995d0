"""Window/level presets for MRI, from each volume's own intensity distribution.

MR signal has no absolute unit (unlike CT Hounsfield units), so the presets are placed on
percentiles of the body's voxels rather than on fixed numbers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

PRESET_NAMES = ("Liver", "Abdomen", "Full range")
_MAX_SAMPLES = 2_000_000
_HEADROOM = 1.2  # top of a window over the percentile it is placed on


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
        "Liver": from the minimum (air black) to 1.2 x the 98th percentile of the body voxels.
        The 98th percentile is about the brightest parenchyma (the liver on fat-suppressed T1,
        enhancing tumour on the arterial phase); the 20% headroom keeps it light grey instead
        of clipping it white, so hyper- and hypo-intense lesions both show against it. The low
        end stays at the minimum because the liver is among the darkest tissues on T2 and
        would be clipped black by any body percentile. "Abdomen": minimum to 1.2 x the 99.9th
        percentile (at most the maximum), every tissue visible. "Full range": minimum to
        maximum. Without a liver segmentation a window cannot centre on the liver itself.
        Every preset has high > low.
    """
    if np.isfinite(volume).any():
        lo_full, hi_full = float(np.nanmin(volume)), float(np.nanmax(volume))
    else:
        lo_full, hi_full = 0.0, 1.0
    p98, p999 = (float(v) for v in np.percentile(_body_voxels(volume), [98, 99.9]))
    presets = {
        "Liver": (lo_full, min(_HEADROOM * p98, hi_full)),
        "Abdomen": (lo_full, min(_HEADROOM * p999, hi_full)),
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
