"""Write an RGB image as a pyramidal tiled TIFF that OpenSlide opens as ``generic-tiff``.

Layout: 256 x 256 JPEG tiles; level 0 first, then each 2x-downsampled level as the next page
(not SubIFDs, which OpenSlide would not see); X/YResolution in pixels per centimetre so that
OpenSlide reports ``openslide.mpp-x/y``; ImageDescription on level 0. No date is written, so
the same pixels give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from numpy.typing import NDArray

TILE = 256
MIN_LEVEL_PX = 512


def downsample_2x(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Mean of each 2 x 2 block (rounded half up) of an (H, W, C) image with even H and W."""
    h, w, c = rgb.shape
    pairs = rgb.reshape(h // 2, 2, w // 2, 2 * c)
    rows = pairs[:, 0].astype(np.uint16)
    rows += pairs[:, 1]  # (H/2, W/2, 2C): two horizontal neighbours side by side
    quads = rows.reshape(h // 2, w // 2, 2, c)
    total = quads[:, :, 0] + quads[:, :, 1]
    total += 2
    total >>= 2
    return total.astype(np.uint8)


def write_pyramidal_tiff(
    path: Path, level0: NDArray[np.uint8], mpp: float, description: str, quality: int = 80
) -> list[tuple[int, int]]:
    """Write ``level0`` and its 2x pyramid down to about 512 px.

    Args:
        path: Output ``.tiff`` file (overwritten).
        level0: (H, W, 3) uint8 RGB; H and W multiples of 256 * 2**(levels - 1).
        mpp: Level-0 microns per pixel.
        description: ImageDescription of level 0 (must say SYNTHETIC for synthetic slides).
        quality: JPEG quality, 1-100.

    Returns:
        (width, height) of each written level.
    """
    levels = [level0]
    while min(levels[-1].shape[:2]) // 2 >= MIN_LEVEL_PX and levels[-1].shape[0] % 2 == 0:
        levels.append(downsample_2x(levels[-1]))
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        for i, image in enumerate(levels):
            pixels_per_cm = 1e4 / (mpp * 2**i)
            tif.write(
                image,
                photometric="rgb",
                tile=(TILE, TILE),
                compression="jpeg",
                compressionargs={"level": quality},
                resolution=(pixels_per_cm, pixels_per_cm),
                resolutionunit="CENTIMETER",
                description=description if i == 0 else None,
                subfiletype=0 if i == 0 else 1,
                software="neoadj synth",
                metadata=None,
            )
    return [(int(img.shape[1]), int(img.shape[0])) for img in levels]
