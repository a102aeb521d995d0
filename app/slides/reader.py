"""The slide reader interface: lazy regions and tiles, thumbnails and multiscale views."""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

import dask.array as da
import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from app.progress import ProgressFn, check_cancel, no_progress
from app.slides.info import SlideInfo
from app.slides.multiscale import level_arrays
from app.slides.tile_cache import DEFAULT_TILE_CACHE_BYTES, TileCache

_THUMBNAIL_BLOCK_PX = 2048
"""Largest edge, in source-level pixels, of one region read while building a thumbnail."""


class SlideReader(ABC):
    """A whole-slide image opened for lazy reading; thread-safe.

    Subclasses read regions (``read_region``) and associated images; this base adds the cached
    tile grid, thumbnails and the multiscale view. Pixels are always (h, w, 3) uint8 RGB, with
    transparent or missing areas white.

    Args:
        info: The slide's metadata.
        tile_cache_bytes: Bound of the decoded-tile LRU. Default: 64 MiB.
    """

    info: SlideInfo

    def __init__(self, info: SlideInfo, *, tile_cache_bytes: int = DEFAULT_TILE_CACHE_BYTES):
        self.info = info
        self.tile_cache = TileCache(tile_cache_bytes)
        self.closed = False

    @abstractmethod
    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> NDArray[np.uint8]:
        """Read a rectangle of one level, as OpenSlide's ``read_region`` does.

        Args:
            location: (x, y) of the top-left corner in level-0 pixels.
            level: Pyramid level, 0 = finest.
            size: (width, height) in pixels of `level`.

        Returns:
            (height, width, 3) uint8 RGB; areas outside the slide are white.

        Raises:
            ValueError: if the level or size is invalid.
            CaseImportError: if the file cannot be read (damaged).
        """

    @abstractmethod
    def associated_image(self, name: str) -> NDArray[np.uint8]:
        """One associated image ("label", "macro", "thumbnail") as (h, w, 3) uint8 RGB.

        The label may show a patient name: call this only on an explicit user request.

        Raises:
            KeyError: if the slide has no image of that name.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the file handles; the reader cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_region(self, level: int, size: tuple[int, int]) -> None:
        if self.closed:
            raise RuntimeError(f"'{self.info.source.name}' was closed")
        if not 0 <= level < self.info.level_count:
            raise ValueError(f"level must be 0-{self.info.level_count - 1}, got {level}")
        if size[0] < 1 or size[1] < 1:
            raise ValueError(f"region size must be positive, got {size}")

    def level_location(self, level: int, x: int, y: int) -> tuple[int, int]:
        """Level-0 (x, y) of the pixel (x, y) of `level` (rounded to whole level-0 pixels)."""
        downsample = self.info.level_downsamples[level]
        return round(x * downsample), round(y * downsample)

    def tile_grid(self, level: int, tile_size: int = 256) -> tuple[int, int]:
        """(columns, rows) of the `tile_size` grid on `level`; edge tiles are clipped."""
        width, height = self.info.level_dimensions[level]
        return math.ceil(width / tile_size), math.ceil(height / tile_size)

    def read_tile(self, level: int, col: int, row: int, tile_size: int = 256) -> NDArray[np.uint8]:
        """One tile of the `tile_size` grid on `level`, from the LRU when read before.

        Args:
            level: Pyramid level, 0 = finest.
            col: Tile column, 0 at the left.
            row: Tile row, 0 at the top.
            tile_size: Grid step in level pixels. Default: 256.

        Returns:
            Read-only (h, w, 3) uint8 RGB, h and w = `tile_size` except at the right and
            bottom edges, where the tile is clipped to the level.
        """
        key = (level, col, row, tile_size)
        cached = self.tile_cache.get(key)
        if cached is not None:
            return cached
        if not 0 <= level < self.info.level_count:
            raise ValueError(f"level must be 0-{self.info.level_count - 1}, got {level}")
        cols, rows = self.tile_grid(level, tile_size)
        if not (0 <= col < cols and 0 <= row < rows):
            raise ValueError(
                f"tile ({col}, {row}) is outside the {cols}x{rows} grid of level {level}"
            )
        width, height = self.info.level_dimensions[level]
        x, y = col * tile_size, row * tile_size
        size = (min(tile_size, width - x), min(tile_size, height - y))
        tile = self.read_region(self.level_location(level, x, y), level, size)
        return self.tile_cache.put(key, tile)

    def thumbnail(
        self,
        max_size: int,
        *,
        progress: ProgressFn = no_progress,
        cancel: threading.Event | None = None,
    ) -> NDArray[np.uint8]:
        """The whole slide scaled to fit `max_size` x `max_size` pixels (never enlarged).

        Reads the coarsest level at least as large as the thumbnail, 2048 px square blocks at
        a time, and area-averages it exactly (each thumbnail pixel is the mean of the level
        area it covers, fractional edge pixels weighted by their share). A single-level slide
        is read whole, so this can take a while: it reports blocks done and can be cancelled.

        Args:
            max_size: Longest side of the thumbnail in pixels.
            progress: Called with (blocks read, blocks in all).
            cancel: Set it to stop between blocks (`Cancelled` is raised).

        Returns:
            (h, w, 3) uint8 RGB with max(h, w) == min(`max_size`, level-0 size).
        """
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1 px, got {max_size}")
        width0, height0 = self.info.dimensions
        scale = min(1.0, max_size / max(width0, height0))
        out_w, out_h = max(1, round(width0 * scale)), max(1, round(height0 * scale))
        level = max(
            lvl
            for lvl, (w, h) in enumerate(self.info.level_dimensions)
            if w >= out_w and h >= out_h
        )
        level_w, level_h = self.info.level_dimensions[level]
        sums = np.zeros((3, out_h, out_w), dtype=np.float64)
        blocks = math.ceil(level_h / _THUMBNAIL_BLOCK_PX) * math.ceil(level_w / _THUMBNAIL_BLOCK_PX)
        done = 0
        for y in range(0, level_h, _THUMBNAIL_BLOCK_PX):
            rows = _area_weights(level_h, out_h, y, min(_THUMBNAIL_BLOCK_PX, level_h - y))
            for x in range(0, level_w, _THUMBNAIL_BLOCK_PX):
                check_cancel(cancel)
                cols = _area_weights(level_w, out_w, x, min(_THUMBNAIL_BLOCK_PX, level_w - x))
                region = self.read_region(
                    self.level_location(level, x, y), level, (cols.shape[1], rows.shape[1])
                )
                for channel in range(3):
                    sums[channel] += (cols @ (rows @ region[..., channel].astype(np.float32)).T).T
                done += 1
                progress(done, blocks)
        return np.rint(sums.transpose(1, 2, 0)).clip(0, 255).astype(np.uint8)

    def multiscale(self, tile_size: int = 256) -> list[da.Array]:
        """Lazy (H_l, W_l, 3) uint8 dask arrays, one per level, chunked on the tile grid.

        Computing a slice reads only the tiles it touches (cached); napari shows the list
        with ``multiscale=True``.
        """
        return level_arrays(self, tile_size)


def _area_weights(n_source: int, n_out: int, start: int, count: int) -> sparse.csr_matrix:
    """Share of source pixels start..start+count-1 in each of `n_out` equal output pixels.

    Output pixel i covers source [i*f, (i+1)*f) with f = n_source / n_out >= 1; a source
    pixel adds overlap / f to each output pixel it overlaps (at most two), so each output's
    weights over all source pixels sum to 1.

    Returns:
        (n_out, count) sparse float64 matrix.
    """
    f = n_source / n_out
    source = np.arange(start, start + count)
    first = np.minimum((source / f).astype(np.int64), n_out - 1)
    boundary = (first + 1) * f  # right edge of the first output pixel, in source units
    split = (boundary < source + 1) & (first + 1 < n_out)
    share_first = np.where(split, boundary - source, 1.0) / f
    columns = np.arange(count)
    row_index = np.concatenate([first, first[split] + 1])
    col_index = np.concatenate([columns, columns[split]])
    weights = np.concatenate([share_first, (source[split] + 1 - boundary[split]) / f])
    return sparse.csr_matrix((weights, (row_index, col_index)), shape=(n_out, count))
