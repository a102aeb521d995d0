"""A thread-safe, byte-bounded LRU of decoded tiles, so that panning never decodes a tile twice."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
from numpy.typing import NDArray

DEFAULT_TILE_CACHE_BYTES = 64 * 1024 * 1024
"""64 MiB: about 340 RGB tiles of 256x256 px (a full-HD viewport needs about 40)."""


class TileCache:
    """Least-recently-used store of read-only uint8 arrays, bounded by their total size.

    Args:
        capacity_bytes: Most bytes of pixel data held; 0 disables caching.
    """

    def __init__(self, capacity_bytes: int = DEFAULT_TILE_CACHE_BYTES) -> None:
        if capacity_bytes < 0:
            raise ValueError(f"tile cache capacity must be >= 0 bytes, got {capacity_bytes}")
        self.capacity_bytes = capacity_bytes
        self._items: OrderedDict[Hashable, NDArray[np.uint8]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        """Bytes of pixel data held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> NDArray[np.uint8] | None:
        """The cached array for `key` (marked most recently used), or None."""
        with self._lock:
            tile = self._items.get(key)
            if tile is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return tile

    def put(self, key: Hashable, tile: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Store `tile` (made read-only) under `key`, evicting the oldest; returns the tile."""
        tile.setflags(write=False)
        if held_bytes(tile) > self.capacity_bytes:
            return tile
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= held_bytes(old)
            self._items[key] = tile
            self._bytes += held_bytes(tile)
            while self._bytes > self.capacity_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= held_bytes(evicted)
        return tile

    def clear(self) -> None:
        """Drop every tile."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


def held_bytes(tile: NDArray[np.uint8]) -> int:
    """Bytes a cached array keeps alive: its own, or its base buffer's when it is a view
    (e.g. an RGB view of a 4-byte-per-pixel ARGB buffer)."""
    base = tile.base
    return max(tile.nbytes, base.nbytes) if isinstance(base, np.ndarray) else tile.nbytes
