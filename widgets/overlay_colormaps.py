"""Colormaps for explanation overlays: transparent at the bottom so that values at or below
the threshold (the lower contrast limit) leave the image underneath untouched, and fading in
over the lowest `FADE_FRACTION` of the range so that weak values do not hide the anatomy."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps as mpl_colormaps
from napari.utils.colormaps import Colormap

OVERLAY_COLORMAPS = ("inferno", "turbo", "hot", "viridis")
_SAMPLES = 64
FADE_FRACTION = 0.25


def overlay_colormap(name: str) -> Colormap:
    """A napari colormap sampled from matplotlib's `name`; alpha rises from 0 at the lowest
    value to 1 at `FADE_FRACTION` of the range.

    Raises:
        ValueError: if `name` is not one of `OVERLAY_COLORMAPS`.
    """
    if name not in OVERLAY_COLORMAPS:
        raise ValueError(f"Unknown overlay colormap {name!r}; use one of {OVERLAY_COLORMAPS}.")
    positions = np.linspace(0.0, 1.0, _SAMPLES)
    colors = mpl_colormaps[name](positions).astype(np.float32)
    colors[:, 3] = np.clip(positions / FADE_FRACTION, 0.0, 1.0)
    return Colormap(colors=colors, name=f"overlay_{name}", display_name=f"{name} (overlay)")
