"""Tiles for an interactive view without waiting: cached tiles at once, missing ones read by
worker threads while a stand-in (the same area cut from a coarser cached level, else white
glass) is shown.

A viewer that slices its multiscale arrays on its GUI thread (napari does) gets them from
``level_arrays(BackgroundTiles(reader, on_tile=...))``: no slice ever waits for the disk or a
decoder, and ``on_tile`` says when to slice again. Requests are served newest first and the
oldest are dropped beyond ``max_pending``, so a fast pan never queues up tiles long gone.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from app.slides.info import SlideInfo
from app.slides.reader import SlideReader

log = logging.getLogger(__name__)

TileKey = tuple[int, int, int, int]  # level, col, row, tile_size
GLASS_WHITE = 255  # what a slide shows where there is no tissue


def read_into_cache(reader: SlideReader, level: int, col: int, row: int, tile_size: int) -> None:
    """Read one tile into the reader's cache as a C-contiguous (h, w, 3) uint8 copy.

    A reader may cache strided views (OpenSlide's RGB over its ARGB buffer); a view that
    assembles many cached tiles per frame copies contiguous ones several times faster, and
    the copy holds less memory than the buffer a view keeps alive.
    """
    tile = reader.read_tile(level, col, row, tile_size)
    if not tile.flags.c_contiguous:
        reader.tile_cache.put((level, col, row, tile_size), np.ascontiguousarray(tile))


class BackgroundTiles:
    """A non-blocking `TileSource` over a `SlideReader` (which stays owned by the caller).

    Args:
        reader: The open slide; its thread-safe tile cache holds every tile read here.
        on_tile: Called (from a worker thread) after each tile is read into the cache.
        workers: Reading threads. Default: 2.
        max_pending: Most queued requests; the oldest are dropped beyond it. Default: 96
            (about two full-HD viewports of 256-px tiles).
    """

    def __init__(
        self,
        reader: SlideReader,
        *,
        on_tile: Callable[[], None],
        workers: int = 2,
        max_pending: int = 96,
    ) -> None:
        if workers < 1 or max_pending < 1:
            raise ValueError(
                f"need workers >= 1 and max_pending >= 1, got {workers} and {max_pending}"
            )
        self.info: SlideInfo = reader.info
        self._reader = reader
        self._on_tile = on_tile
        self._max_pending = max_pending
        self._pending: OrderedDict[TileKey, None] = OrderedDict()
        self._in_flight: set[TileKey] = set()
        self._failed: set[TileKey] = set()
        self._wake = threading.Condition()
        self._closed = False
        self.dropped = 0  # requests dropped as stale
        self._threads = [
            threading.Thread(target=self._work, name=f"slide-tiles-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pending(self) -> int:
        """Tiles requested and not yet read (queued or being read)."""
        with self._wake:
            return len(self._pending) + len(self._in_flight)

    def read_tile(self, level: int, col: int, row: int, tile_size: int = 256) -> NDArray[np.uint8]:
        """The tile if cached, else a stand-in of the same (h, w, 3) uint8 shape at once, the
        real tile being queued for reading. Same grid and clipping as `SlideReader.read_tile`.
        """
        key = (level, col, row, tile_size)
        cached = self._reader.tile_cache.get(key)
        if cached is not None:
            return cached
        with self._wake:
            if not self._closed and key not in self._in_flight and key not in self._failed:
                self._pending[key] = None
                self._pending.move_to_end(key)  # newest last, served first
                while len(self._pending) > self._max_pending:
                    self._pending.popitem(last=False)
                    self.dropped += 1
                self._wake.notify()
        return self._stand_in(level, col, row, tile_size)

    def close(self) -> None:
        """Drop queued requests and wait for the threads (at most one read each) to end."""
        with self._wake:
            self._closed = True
            self._pending.clear()
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=10.0)

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                key, _ = self._pending.popitem(last=True)
                self._in_flight.add(key)
            try:
                read_into_cache(self._reader, *key)
            except Exception:  # a damaged tile: show its stand-in, don't retry forever
                log.warning("slide tile %s could not be read", key[:3], exc_info=True)
                with self._wake:
                    self._failed.add(key)
            finally:
                with self._wake:
                    self._in_flight.discard(key)
            self._on_tile()

    def _stand_in(self, level: int, col: int, row: int, tile_size: int) -> NDArray[np.uint8]:
        """(h, w, 3) uint8: this tile's area from the finest coarser level whose covering tile
        is cached (nearest-neighbour), else white glass (shared and read-only, as cached
        tiles are).

        The GUI thread asks for every missing tile of a frame: each coarser level is tried
        with scalar arithmetic (the coarse pixels of the tile's first and last pixel), and the
        pixel gather is computed only for the level whose tile is cached.
        """
        width, height = self.info.level_dimensions[level]
        x0, y0 = col * tile_size, row * tile_size
        w, h = min(tile_size, width - x0), min(tile_size, height - y0)
        downsamples = self.info.level_downsamples
        for coarse in range(level + 1, self.info.level_count):
            ratio = downsamples[level] / downsamples[coarse]  # coarse px per level px, < 1
            cw, ch = self.info.level_dimensions[coarse]
            ccol = min(int(x0 * ratio), cw - 1) // tile_size
            crow = min(int(y0 * ratio), ch - 1) // tile_size
            if (
                min(int((x0 + w - 1) * ratio), cw - 1) // tile_size != ccol
                or min(int((y0 + h - 1) * ratio), ch - 1) // tile_size != crow
            ):
                continue  # spans several coarse tiles: try a coarser level
            tile = self._reader.tile_cache.get((coarse, ccol, crow, tile_size))
            if tile is not None:
                origin = (ccol * tile_size, crow * tile_size)
                return _enlarged(tile, origin, (x0, y0, w, h), ratio, (cw, ch))
        return _glass(h, w)


def _enlarged(
    tile: NDArray[np.uint8],
    origin: tuple[int, int],
    area: tuple[int, int, int, int],
    ratio: float,
    coarse_wh: tuple[int, int],
) -> NDArray[np.uint8]:
    """(h, w, 3): the level pixels of `area` (x0, y0, w, h) taken nearest-neighbour from a
    coarse level's tile whose top-left pixel is `origin` (x, y) of that level (of size
    `coarse_wh`), at `ratio` coarse px per level px."""
    (ox, oy), (x0, y0, w, h), (cw, ch) = origin, area, coarse_wh
    xs = np.minimum(((x0 + np.arange(w)) * ratio).astype(np.intp), cw - 1) - ox
    ys = np.minimum(((y0 + np.arange(h)) * ratio).astype(np.intp), ch - 1) - oy
    step = 1.0 / ratio
    if (
        step.is_integer()
        and x0 % step == 0
        and y0 % step == 0
        and (xs[-1] - xs[0] + 1) * step >= w  # not clipped at the level's edge
        and (ys[-1] - ys[0] + 1) * step >= h
    ):
        # the same pixels as the gather below, several times faster: each coarse pixel
        # repeated step x step (the stand-ins of a pan's frame add up)
        return _enlarge(tile[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1], int(step))[:h, :w]
    stand_in: NDArray[np.uint8] = tile[np.ix_(ys, xs)]
    return stand_in


@lru_cache(maxsize=64)  # a shape per level's edge tiles: a few per level
def _glass(h: int, w: int) -> NDArray[np.uint8]:
    """A read-only (h, w, 3) white tile, shared by every stand-in of that shape."""
    white = np.full((h, w, 3), GLASS_WHITE, dtype=np.uint8)
    white.setflags(write=False)
    return white


def _enlarge(block: NDArray[np.uint8], step: int) -> NDArray[np.uint8]:
    """(h, w, 3) -> (h * step, w * step, 3): each pixel repeated step x step times."""
    h, w, channels = block.shape
    out = np.empty((h, step, w, step, channels), dtype=np.uint8)
    out[...] = block[:, None, :, None, :]
    return out.reshape(h * step, w * step, channels)
