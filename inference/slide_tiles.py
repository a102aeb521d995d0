"""Slide preprocessing: tissue detection on a thumbnail, then tiles at a fixed mpp, read lazily.

Tissue is where an overview image's (the coarsest pyramid level of at least 512 px, else a
thumbnail) HSV saturation exceeds its Otsu threshold (and at least
`MIN_TISSUE_SATURATION`, so that a blank slide has no tissue). Candidate tiles lie on a regular
level-0 grid whose step is one tile at the spec's mpp; a candidate is kept when at least
``spec.min_tissue_fraction`` of it is tissue. At most ``spec.max_tiles`` are taken, evenly spaced
in row-major order (deterministic, spread over the tissue). Each tile is read with
``read_region`` from the finest level that is not coarser than the target mpp, one by one with a
cancel check before each read, then area-resized to ``tile_size_px``.

A slide without a known mpp is refused for the slide modality (flag "mpp unknown"): guessing a
resolution would change what every tile shows.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from skimage.filters import threshold_otsu
from skimage.transform import resize

from app.progress import ProgressFn, check_cancel, no_progress
from inference.input_spec import InputSpec

log = logging.getLogger(__name__)

MIN_TISSUE_SATURATION = 0.08
"""Saturation below which a thumbnail pixel is never tissue (white glass is about 0.02)."""
THUMBNAIL_MAX_PX = 1024
OVERVIEW_MIN_PX = 512
MIN_TILES = 4
"""Fewer usable tiles than this and the slide counts as having no tissue."""
_MAX_COARSER = 1.25


class SlideInfoLike(Protocol):
    """What slide preprocessing reads from `app.slides.SlideInfo`."""

    @property
    def dimensions(self) -> tuple[int, int]: ...
    @property
    def level_downsamples(self) -> tuple[float, ...] | list[float]: ...
    @property
    def mpp(self) -> tuple[float, float] | None: ...


class SlideSource(Protocol):
    """What slide preprocessing reads from `app.slides.SlideReader`."""

    @property
    def info(self) -> Any: ...
    def read_region(
        self, location_level0_xy: tuple[int, int], level: int, size_wh: tuple[int, int]
    ) -> NDArray[np.uint8]: ...
    def thumbnail(self, max_size: int) -> Any: ...


@dataclass
class SlideInput:
    """The slide modality.

    Attributes:
        tiles: (N, 3, h, w) uint8 RGB tiles, h = w = spec.tile_size_px.
        positions_level0_xy: (N, 2) int64 top-left corner of each tile in level-0 pixels.
        tile_extent_level0_px: Side of one tile in level-0 pixels.
        tissue_fraction: Fraction of the thumbnail that is tissue.
        flags: Human-readable warnings.
    """

    tiles: NDArray[np.uint8]
    positions_level0_xy: NDArray[np.int64]
    tile_extent_level0_px: float
    tissue_fraction: float
    flags: list[str] = field(default_factory=list)


@dataclass
class SlideRefusal:
    """Why a slide cannot give the slide modality (``reason`` is a one-line flag)."""

    reason: str


def tissue_mask(thumbnail_rgb: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """(h, w) bool tissue mask of an (h, w, 3) uint8 thumbnail (Otsu on HSV saturation)."""
    rgb = thumbnail_rgb[..., :3].astype(np.float32) / 255.0
    cmax, cmin = rgb.max(axis=-1), rgb.min(axis=-1)
    saturation = np.where(cmax > 0, (cmax - cmin) / np.maximum(cmax, 1e-6), 0.0)
    if float(saturation.max()) < MIN_TISSUE_SATURATION:
        return np.zeros(saturation.shape, dtype=bool)
    otsu = float(threshold_otsu(saturation))  # type: ignore[no-untyped-call]
    threshold = max(otsu, MIN_TISSUE_SATURATION)
    mask: NDArray[np.bool_] = saturation > threshold
    return mask


def preprocess_slide(
    reader: SlideSource,
    spec: InputSpec,
    *,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> SlideInput | SlideRefusal:
    """Detect tissue and read up to ``spec.max_tiles`` tiles at ``spec.tile_mpp``.

    Args:
        reader: An open slide.
        spec: Tile size, mpp, tile count and tissue fraction.
        progress: Called as (tiles read, tiles to read).
        cancel: Checked before every tile read.

    Returns:
        The tiles, or a refusal (mpp unknown, no tissue, resolution too coarse).
    """
    info = reader.info
    if info.mpp is None:
        return SlideRefusal("slide mpp unknown: slide not used")
    mpp0 = float(np.mean(info.mpp))
    if mpp0 <= 0:
        return SlideRefusal("slide mpp invalid: slide not used")
    if mpp0 > spec.tile_mpp * _MAX_COARSER:
        return SlideRefusal(
            f"slide resolution {mpp0:.2f} µm/px is coarser than the model's "
            f"{spec.tile_mpp:.2f} µm/px: slide not used"
        )
    check_cancel(cancel)
    mask = tissue_mask(_overview(reader))
    width0, height0 = (int(v) for v in info.dimensions)
    extent0 = spec.tile_size_px * spec.tile_mpp / mpp0  # level-0 px per tile side
    positions = _candidate_tiles(mask, (width0, height0), extent0, spec.min_tissue_fraction)
    tissue_fraction = float(mask.mean())
    if len(positions) < MIN_TILES:
        return SlideRefusal("slide has no tissue (too few tissue tiles): slide not used")
    if len(positions) > spec.max_tiles:
        pick = np.round(np.linspace(0, len(positions) - 1, spec.max_tiles)).astype(np.int64)
        positions = positions[pick]
    level = _best_level(info.level_downsamples, mpp0, spec.tile_mpp)
    downsample = float(info.level_downsamples[level])
    read_px = max(1, round(extent0 / downsample))
    tiles = np.empty((len(positions), 3, spec.tile_size_px, spec.tile_size_px), dtype=np.uint8)
    for i, (x, y) in enumerate(positions):
        check_cancel(cancel)
        region = np.asarray(reader.read_region((int(x), int(y)), level, (read_px, read_px)))
        tiles[i] = _resize_tile(region[..., :3], spec.tile_size_px).transpose(2, 0, 1)
        progress(i + 1, len(positions))
    return SlideInput(tiles, positions.astype(np.int64), extent0, tissue_fraction)


def _overview(reader: SlideSource) -> NDArray[np.uint8]:
    """(h, w, 3) uint8 image of the whole slide for tissue detection.

    The coarsest pyramid level whose longer side is at least `OVERVIEW_MIN_PX`, read in one
    region when it is at most `THUMBNAIL_MAX_PX` * 4 on a side; otherwise the reader's
    thumbnail of `THUMBNAIL_MAX_PX`.
    """
    info = reader.info
    dims = [tuple(int(v) for v in d) for d in info.level_dimensions]
    for level in range(len(dims) - 1, -1, -1):
        w, h = dims[level]
        if max(w, h) >= OVERVIEW_MIN_PX:
            if max(w, h) <= 4 * THUMBNAIL_MAX_PX:
                return np.asarray(reader.read_region((0, 0), level, (w, h)))[..., :3]
            break
    return np.asarray(reader.thumbnail(THUMBNAIL_MAX_PX))[..., :3]


def _candidate_tiles(
    mask: NDArray[np.bool_], size0_wh: tuple[int, int], extent0: float, min_fraction: float
) -> NDArray[np.int64]:
    """(K, 2) level-0 (x, y) corners of grid tiles whose tissue fraction >= ``min_fraction``."""
    h_t, w_t = mask.shape
    width0, height0 = size0_wh
    cols, rows = int(width0 // extent0), int(height0 // extent0)
    if cols == 0 or rows == 0:
        return np.zeros((0, 2), dtype=np.int64)
    integral = np.pad(mask.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sx, sy = w_t / width0, h_t / height0  # thumbnail px per level-0 px
    xs0 = np.arange(cols) * extent0
    ys0 = np.arange(rows) * extent0
    x_lo = np.clip(np.floor(xs0 * sx).astype(int), 0, w_t - 1)
    x_hi = np.clip(np.ceil((xs0 + extent0) * sx).astype(int), x_lo + 1, w_t)
    y_lo = np.clip(np.floor(ys0 * sy).astype(int), 0, h_t - 1)
    y_hi = np.clip(np.ceil((ys0 + extent0) * sy).astype(int), y_lo + 1, h_t)
    yl, xl = np.meshgrid(y_lo, x_lo, indexing="ij")
    yh, xh = np.meshgrid(y_hi, x_hi, indexing="ij")
    area = (yh - yl) * (xh - xl)
    tissue = integral[yh, xh] - integral[yl, xh] - integral[yh, xl] + integral[yl, xl]
    keep_r, keep_c = np.nonzero(tissue / area >= min_fraction)  # row-major order
    return np.stack([np.floor(xs0[keep_c]), np.floor(ys0[keep_r])], axis=1).astype(np.int64)


def _best_level(downsamples: Any, mpp0: float, target_mpp: float) -> int:
    """The coarsest level whose mpp is not coarser than the target (level 0 otherwise)."""
    best = 0
    for level, d in enumerate(downsamples):
        if mpp0 * float(d) <= target_mpp * 1.01 and float(d) >= float(downsamples[best]):
            best = level
    return best


def _resize_tile(region: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """Area-resize an (h, w, 3) uint8 region to (size, size, 3)."""
    h, w = region.shape[:2]
    if (h, w) == (size, size):
        return region
    if h % size == 0 and w % size == 0:
        fy, fx = h // size, w // size
        blocks = region.reshape(size, fy, size, fx, 3).astype(np.float32)
        block_mean: NDArray[np.uint8] = np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)
        return block_mean
    out = resize(  # type: ignore[no-untyped-call]
        region, (size, size, 3), anti_aliasing=h > size, preserve_range=True
    )
    resized: NDArray[np.uint8] = np.round(out).astype(np.uint8)
    return resized
