"""A very large pyramidal TIFF written in seconds without ever holding an image in memory.

Each tile is one of a few pre-encoded JPEG patterns (tissue-like stripes and blank glass),
chosen from its grid position, and handed to tifffile as already-compressed bytes; the
levels are successive pages, as OpenSlide's generic-tiff reader expects. The pixel content
is not a true downsampled pyramid; only the file structure and size matter for these tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile
from numpy.typing import NDArray

from app.slides.pyramid_writer import pyramid_sizes

TILE = 256
_PALETTE = ((236, 178, 204), (150, 80, 160), (212, 120, 170), (245, 245, 245))


def _pattern(index: int) -> NDArray[np.uint8]:
    """A (TILE, TILE, 3) tile: diagonal stripes in one palette colour, or plain glass."""
    y, x = np.mgrid[0:TILE, 0:TILE]
    base = np.array(_PALETTE[index], dtype=np.float32)
    if index == len(_PALETTE) - 1:
        return np.full((TILE, TILE, 3), base, dtype=np.uint8)
    shade = 0.8 + 0.2 * np.sin((x + (index + 1) * y) / (24.0 + 4 * index))
    return np.clip(base * shade[..., None], 0, 255).astype(np.uint8)


def _encoded_patterns() -> list[bytes]:
    """Each pattern as a JPEG stream in the form tifffile writes for photometric RGB."""
    return [
        bytes(
            imagecodecs.jpeg8_encode(
                _pattern(i), level=60, colorspace="RGB", outcolorspace="YCBCR", subsampling=(2, 2)
            )
        )
        for i in range(len(_PALETTE))
    ]


def _tissue_pattern(level: int, col: int, row: int) -> int:
    """Which stripe pattern a tissue tile holds: blocks of 3 x 5 tiles."""
    return (col // 3 + row // 5 + level) % (len(_PALETTE) - 1)


def write_big_slide(path: Path, size_px: int, mpp: float = 0.25) -> list[tuple[int, int]]:
    """Write a square `size_px` x `size_px` pyramid (BigTIFF, JPEG tiles); returns level sizes."""
    patterns = _encoded_patterns()
    sizes = pyramid_sizes(size_px, size_px, TILE)

    def tiles(level: int, width: int, height: int) -> Iterator[bytes]:
        cols, rows = math.ceil(width / TILE), math.ceil(height / TILE)
        for row in range(rows):
            for col in range(cols):
                inside = (2 * col / cols - 1) ** 2 + (2 * row / rows - 1) ** 2 < 0.8
                index = _tissue_pattern(level, col, row) if inside else len(_PALETTE) - 1
                yield patterns[index]

    with tifffile.TiffWriter(path, bigtiff=True) as writer:
        for level, (width, height) in enumerate(sizes):
            writer.write(
                tiles(level, width, height),
                shape=(height, width, 3),
                dtype=np.uint8,
                tile=(TILE, TILE),
                photometric="rgb",
                compression="jpeg",
                subsampling=(2, 2),
                resolution=(1e4 / mpp, 1e4 / mpp),
                resolutionunit="CENTIMETER",
                description="synthetic test pyramid" if level == 0 else None,
                subfiletype=0 if level == 0 else 1,
                metadata=None,
            )
    return sizes
