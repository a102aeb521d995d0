"""Lazy multiscale views of a slide: one dask array per level, chunks read tile by tile.

napari displays the list with ``multiscale=True``; computing any slice reads only the tiles
that the slice touches (through the reader's cached ``read_tile``), never a whole level.
"""

from __future__ import annotations

import operator
import uuid
from typing import Protocol

import dask.array as da
import numpy as np
from numpy.typing import NDArray

from app.slides.info import SlideInfo


class TileSource(Protocol):
    """What a level view needs from a reader."""

    info: SlideInfo

    def read_tile(
        self, level: int, col: int, row: int, tile_size: int = 256
    ) -> NDArray[np.uint8]: ...


class LevelView:
    """Array-like (H, W, 3) uint8 view of one level; indexing reads the covering tiles.

    napari takes it directly as one level of a multiscale layer (``shape``, ``dtype``,
    ``ndim``, ``size``, and zarr-style regular ``chunks`` on the tile grid): a slice then
    reads its tiles in the calling thread, with none of dask's scheduling.

    Args:
        source: The reader whose ``read_tile`` supplies pixels.
        level: Pyramid level, 0 = finest.
        tile_size: Edge of the square tile grid in level pixels.
    """

    dtype = np.dtype(np.uint8)
    ndim = 3

    def __init__(self, source: TileSource, level: int, tile_size: int) -> None:
        width, height = source.info.level_dimensions[level]
        self.shape = (height, width, 3)
        self.size = height * width * 3
        self.chunks = (tile_size, tile_size, 3)
        self._source = source
        self._level = level
        self._tile = tile_size

    def __array__(
        self, dtype: np.dtype[np.generic] | None = None, copy: bool | None = None
    ) -> NDArray[np.generic]:
        """The whole level (napari reads its coarsest level whole, for the thumbnail)."""
        whole = self[:, :, :]
        return whole if dtype is None else whole.astype(dtype)

    def __getitem__(self, key: object) -> NDArray[np.uint8]:
        parts = key if isinstance(key, tuple) else (key,)
        if len(parts) > 3:
            raise IndexError(f"too many indices for a 3-D slide level: {len(parts)}")
        parts = parts + (slice(None),) * (3 - len(parts))
        ranges: list[range] = []
        squeeze: list[int] = []
        for axis, (part, size) in enumerate(zip(parts, self.shape, strict=True)):
            if isinstance(part, slice):
                ranges.append(range(*part.indices(size)))
                continue
            index = operator.index(part)
            if not -size <= index < size:
                raise IndexError(f"index {index} out of range for axis {axis} of size {size}")
            index %= size
            ranges.append(range(index, index + 1))
            squeeze.append(axis)
        rows, cols, channels = ranges
        if len(rows) == 0 or len(cols) == 0:
            box = np.empty((len(rows), len(cols), 3), dtype=np.uint8)
        else:
            y0, y1 = min(rows), max(rows) + 1
            x0, x1 = min(cols), max(cols) + 1
            box = self._read_box(y0, y1, x0, x1)[_relative(rows, y0), _relative(cols, x0), :]
        out = box[:, :, _relative(channels, 0)]
        return out.squeeze(axis=tuple(squeeze)) if squeeze else out

    def _read_box(self, y0: int, y1: int, x0: int, x1: int) -> NDArray[np.uint8]:
        """Level pixels [y0, y1) x [x0, x1), assembled from the tiles that cover them."""
        t = self._tile
        first_row, last_row = y0 // t, (y1 - 1) // t
        first_col, last_col = x0 // t, (x1 - 1) // t
        if first_row == last_row and first_col == last_col:
            tile = self._source.read_tile(self._level, first_col, first_row, t)
            oy, ox = first_row * t, first_col * t
            return tile[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        box = np.empty((y1 - y0, x1 - x0, 3), dtype=np.uint8)
        for row in range(first_row, last_row + 1):
            for col in range(first_col, last_col + 1):
                tile = self._source.read_tile(self._level, col, row, t)
                ty0, tx0 = row * t, col * t
                sy0, sy1 = max(y0, ty0), min(y1, ty0 + tile.shape[0])
                sx0, sx1 = max(x0, tx0), min(x1, tx0 + tile.shape[1])
                box[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = tile[
                    sy0 - ty0 : sy1 - ty0, sx0 - tx0 : sx1 - tx0
                ]
        return box


def _relative(indices: range, origin: int) -> slice:
    """`indices` shifted by -origin, as a slice (stop None when it runs past index 0)."""
    start, stop = indices.start - origin, indices.stop - origin
    return slice(start, stop if stop >= 0 else None, indices.step)


def level_arrays(source: TileSource, tile_size: int = 256) -> list[da.Array]:
    """One lazy (H_l, W_l, 3) uint8 dask array per level, chunked on the `tile_size` grid.

    Args:
        source: A slide reader.
        tile_size: Chunk edge in level pixels. Default: 256.

    Returns:
        Arrays finest first; computing a slice calls ``read_tile`` once per touched tile.
    """
    if tile_size < 1:
        raise ValueError(f"tile_size must be >= 1 px, got {tile_size}")
    token = uuid.uuid4().hex
    arrays: list[da.Array] = []
    for level in range(source.info.level_count):
        view = LevelView(source, level, tile_size)
        arrays.append(
            da.from_array(  # type: ignore[no-untyped-call]
                view,
                chunks=(tile_size, tile_size, 3),
                name=f"slide-{token}-level{level}-tile{tile_size}",
                lock=False,
                asarray=False,
                fancy=False,
                meta=np.empty((0, 0, 0), dtype=np.uint8),
                inline_array=True,
            )
        )
    return arrays
