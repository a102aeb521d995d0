"""Writing tiled pyramidal TIFFs that OpenSlide opens as "generic-tiff" with every level.

Levels are successive pages (not SubIFDs, which OpenSlide would not see),
each half the size of the one before (2x2 area average), tiled and JPEG- or
deflate-compressed, with each page's pixel size stored as pixels per centimetre (OpenSlide
reports level 0's as ``openslide.mpp-x/y``). The output is deterministic: the same pixels give
the same bytes. For the synthetic-data generator, the benchmarks and the tests.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import tifffile
from numpy.typing import NDArray

from app.progress import ProgressFn, check_cancel, no_progress

RegionFn = Callable[[int, int, int, int], NDArray[np.uint8]]
"""``region(x, y, width, height)`` -> (height, width, 3) uint8 level-0 pixels; deterministic."""

_IN_MEMORY_PX = 4096 * 4096
"""With a callable source, the first level of at most this many pixels is assembled in memory
(from the halves of the tiles above it) and the smaller levels derived from it."""

_BIGTIFF_BYTES = 2**31
"""Uncompressed size above which the file is written as BigTIFF."""


def _halve(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """2x2 area average, rounded half up; odd last rows/columns are dropped.

    Args:
        image: (H, W, 3) uint8.

    Returns:
        (H // 2, W // 2, 3) uint8.
    """
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    total = image[0:h:2, 0:w:2].astype(np.uint16)
    total += image[1:h:2, 0:w:2]
    total += image[0:h:2, 1:w:2]
    total += image[1:h:2, 1:w:2]
    total += 2
    total //= 4
    return total.astype(np.uint8)


def pyramid_sizes(width: int, height: int, tile: int) -> list[tuple[int, int]]:
    """(width, height) of each level: halved (floor) until the level fits one tile."""
    sizes = [(width, height)]
    while max(sizes[-1]) > tile and min(sizes[-1]) >= 2:
        w, h = sizes[-1]
        sizes.append((w // 2, h // 2))
    return sizes


def _check_pixels(pixels: NDArray[np.uint8], shape: tuple[int, int], what: str) -> None:
    if pixels.dtype != np.uint8 or pixels.shape != (*shape, 3):
        raise ValueError(
            f"{what} must be ({shape[0]}, {shape[1]}, 3) uint8, got {pixels.shape} {pixels.dtype}"
        )


def write_pyramidal_tiff(
    path: Path,
    level0: NDArray[np.uint8] | RegionFn,
    mpp: float,
    description: str,
    tile: int = 256,
    compression: Literal["jpeg", "deflate"] | None = "jpeg",
    *,
    size: tuple[int, int] | None = None,
    quality: int = 90,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> list[tuple[int, int]]:
    """Write an RGB pyramid as a tiled TIFF.

    Args:
        path: Output file (.tif/.tiff); overwritten. Removed again if writing fails.
        level0: Level-0 pixels, either an (H, W, 3) uint8 array or, for slides too large for
            memory, a `RegionFn` called for tile-aligned regions (then `size` is required).
        mpp: Level-0 pixel size in micrometres (the same in x and y).
        description: ImageDescription of level 0 (OpenSlide's ``openslide.comment``); it
            must not start with "Aperio", which would make OpenSlide parse it as SVS.
        tile: Tile edge in pixels, a multiple of 16. Default: 256.
        compression: "jpeg" (YCbCr, lossy), "deflate" (lossless) or None. Default: "jpeg".
        size: (width, height) of level 0, required when `level0` is a callable.
        quality: JPEG quality 1-100. Default: 90.
        progress: Called with (tiles written, total tiles).
        cancel: Set it to stop; `Cancelled` is raised and the partial file removed.

    Returns:
        (width, height) of each level written, finest first.

    Raises:
        ValueError: on an invalid argument or pixels of the wrong shape/dtype.
        Cancelled: if `cancel` was set.
    """
    if isinstance(level0, np.ndarray):
        if level0.ndim != 3:
            raise ValueError(f"level0 must be (H, W, 3) uint8, got shape {level0.shape}")
        width, height = level0.shape[1], level0.shape[0]
        _check_pixels(level0, (height, width), "level0")
    elif size is None:
        raise ValueError("size=(width, height) is required when level0 is a callable")
    else:
        width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"slide size must be positive, got {width}x{height}")
    if not mpp > 0:
        raise ValueError(f"mpp must be > 0 µm/px, got {mpp}")
    if tile < 16 or tile % 16:
        raise ValueError(f"tile must be a multiple of 16 px, got {tile}")
    if description.startswith("Aperio"):
        raise ValueError("description must not start with 'Aperio' (OpenSlide would parse SVS)")

    sizes = pyramid_sizes(width, height, tile)
    total = sum(math.ceil(w / tile) * math.ceil(h / tile) for w, h in sizes)
    done = 0
    compression_args = {"level": quality} if compression == "jpeg" else None
    bigtiff = width * height * 3 * 4 // 3 > _BIGTIFF_BYTES

    def tiles(
        source: NDArray[np.uint8] | RegionFn, level: int, next_level: NDArray[np.uint8] | None
    ) -> Iterator[NDArray[np.uint8]]:
        """Padded tiles of `level` in row-major order; fills `next_level` with their halves."""
        nonlocal done
        w, h = sizes[level]
        for y in range(0, h, tile):
            for x in range(0, w, tile):
                check_cancel(cancel)
                th, tw = min(tile, h - y), min(tile, w - x)
                if isinstance(source, np.ndarray):
                    block = source[y : y + th, x : x + tw]
                else:
                    block = _region_at_level(source, level, x, y, tw, th)
                if next_level is not None:
                    half = _halve(block)
                    next_level[y // 2 : y // 2 + half.shape[0], x // 2 : x // 2 + half.shape[1]] = (
                        half
                    )
                if (th, tw) != (tile, tile):
                    block = np.pad(block, ((0, tile - th), (0, tile - tw), (0, 0)), mode="edge")
                done += 1
                progress(done, total)
                yield np.ascontiguousarray(block)

    try:
        with tifffile.TiffWriter(path, bigtiff=bigtiff) as writer:
            source: NDArray[np.uint8] | RegionFn = level0
            for level, (w, h) in enumerate(sizes):
                next_level = None
                if level + 1 < len(sizes) and not isinstance(source, np.ndarray):
                    next_w, next_h = sizes[level + 1]
                    if next_w * next_h <= _IN_MEMORY_PX:
                        next_level = np.empty((next_h, next_w, 3), dtype=np.uint8)
                writer.write(
                    tiles(source, level, next_level),
                    shape=(h, w, 3),
                    dtype=np.uint8,
                    tile=(tile, tile),
                    photometric="rgb",
                    compression=compression,
                    compressionargs=compression_args,
                    resolution=(1e4 * w / (mpp * width), 1e4 * h / (mpp * height)),
                    resolutionunit="CENTIMETER",
                    description=description if level == 0 else None,
                    subfiletype=0 if level == 0 else 1,
                    metadata=None,
                )
                if next_level is not None:
                    source = next_level
                elif isinstance(source, np.ndarray) and level + 1 < len(sizes):
                    source = _halve(source)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return sizes


def _region_at_level(
    region: RegionFn, level: int, x: int, y: int, w: int, h: int
) -> NDArray[np.uint8]:
    """Pixels [y, y+h) x [x, x+w) of `level`, from level 0 halved `level` times.

    Tile-aligned regions halve exactly as the whole image would, so both input forms of
    `write_pyramidal_tiff` give the same pyramid.
    """
    factor = 2**level
    pixels = region(x * factor, y * factor, w * factor, h * factor)
    _check_pixels(pixels, (h * factor, w * factor), "region(...)")
    for _ in range(level):
        pixels = _halve(pixels)
    return pixels
