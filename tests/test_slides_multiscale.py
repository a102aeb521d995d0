"""The lazy multiscale view and the tile cache: a slice reads only the tiles it touches,
panning back reads nothing, memory stays bounded, and reads are thread-safe."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import openslide
import pytest
from numpy.typing import NDArray

from app.slides import SlideReader, open_slide
from app.slides.tile_cache import TileCache


class _Counting:
    """Wraps a reader's read_tile and read_region to count calls."""

    def __init__(self, reader: SlideReader) -> None:
        self.tiles: Counter[tuple[int, int, int, int]] = Counter()
        self.regions = 0
        tile, region = reader.read_tile, reader.read_region

        def read_tile(level: int, col: int, row: int, tile_size: int = 256) -> NDArray[np.uint8]:
            self.tiles[(level, col, row, tile_size)] += 1
            return tile(level, col, row, tile_size)

        def read_region(
            location: tuple[int, int], level: int, size: tuple[int, int]
        ) -> NDArray[np.uint8]:
            self.regions += 1
            return region(location, level, size)

        reader.read_tile = read_tile  # type: ignore[method-assign]
        reader.read_region = read_region  # type: ignore[method-assign]


@pytest.fixture
def ndpi(shared_data: Path) -> Path:
    return shared_data / "wsi" / "test3-DAPI-2-387.ndpi"


def test_levels_are_lazy_arrays_chunked_on_the_tile_grid(ndpi: Path) -> None:
    with open_slide(ndpi) as reader:
        counter = _Counting(reader)
        levels = reader.multiscale(tile_size=256)
        assert len(levels) == reader.info.level_count
        for array, (w, h) in zip(levels, reader.info.level_dimensions, strict=True):
            assert isinstance(array, da.Array)
            assert array.shape == (h, w, 3) and array.dtype == np.uint8
            assert max(array.chunks[0]) <= 256 and max(array.chunks[1]) <= 256
        assert counter.tiles == Counter() and counter.regions == 0  # building reads nothing


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_a_slice_reads_exactly_the_tiles_it_touches(ndpi: Path, scheduler: str) -> None:
    with open_slide(ndpi) as reader, dask.config.set(scheduler=scheduler):
        counter = _Counting(reader)
        level0 = reader.multiscale()[0]
        part = level0[300:600, 100:200].compute()
        # rows 300-599 lie in tile rows 1 and 2, columns 100-199 in tile column 0
        assert set(counter.tiles) == {(0, 0, 1, 256), (0, 0, 2, 256)}
        np.testing.assert_array_equal(part, reader.read_region((100, 300), 0, (100, 300)))


def test_panning_back_reads_no_tile_twice(ndpi: Path) -> None:
    with open_slide(ndpi) as reader:
        counter = _Counting(reader)
        level1 = reader.multiscale()[1]
        first = level1[0:600, 0:600].compute()
        reads_after_first = counter.regions
        level1[200:800, 300:900].compute()  # overlaps: only the new tiles are read
        again = level1[0:600, 0:600].compute()
    first_tiles = {(r, c) for r in range(3) for c in range(3)}  # rows/cols 0-599
    second_tiles = {(r, c) for r in range(4) for c in range(1, 4)}  # rows 200-799, cols 300-899
    assert reads_after_first == len(first_tiles)
    assert counter.regions == len(first_tiles | second_tiles)
    np.testing.assert_array_equal(first, again)


def test_multiscale_pixels_equal_raw_openslide(ndpi: Path) -> None:
    with openslide.OpenSlide(ndpi) as slide, open_slide(ndpi) as reader:
        levels = reader.multiscale(tile_size=200)
        for level in (2, 5):
            w, h = slide.level_dimensions[level]
            expected = np.asarray(slide.read_region((0, 0), level, (w, h)))[..., :3]
            np.testing.assert_array_equal(levels[level].compute(), expected)


def test_view_supports_steps_and_integer_indices(ndpi: Path) -> None:
    with open_slide(ndpi) as reader:
        level3 = reader.multiscale()[3]
        full = level3.compute()
        np.testing.assert_array_equal(level3[::-7, 5:400:3, 1].compute(), full[::-7, 5:400:3, 1])
        np.testing.assert_array_equal(level3[100].compute(), full[100])


def test_tile_cache_is_bounded_and_least_recently_used() -> None:
    tile = np.zeros((10, 10, 3), np.uint8)  # 300 bytes
    cache = TileCache(capacity_bytes=1000)
    for key in range(5):
        cache.put(key, tile.copy())
    assert len(cache) == 3 and cache.size_bytes == 900
    assert cache.get(0) is None and cache.get(1) is None
    assert cache.get(2) is not None  # now most recent: 3 goes next
    cache.put(5, tile.copy())
    assert cache.get(3) is None and cache.get(2) is not None
    stored = cache.get(5)
    assert stored is not None and not stored.flags.writeable
    assert TileCache(capacity_bytes=100).put("big", tile.copy()) is not None  # too big: not kept


def test_reader_cache_stays_within_its_bound(ndpi: Path) -> None:
    bound = 20 * 256 * 256 * 3
    with open_slide(ndpi, tile_cache_bytes=bound) as reader:
        cols, rows = reader.tile_grid(0)
        for row in range(rows):
            for col in range(cols):
                reader.read_tile(0, col, row)
        assert cols * rows > 20
        assert reader.tile_cache.size_bytes <= bound
        counter = _Counting(reader)
        reader.read_tile(0, cols - 1, rows - 1)  # the last one read is still held
        assert counter.regions == 0


def test_threads_reading_the_same_tiles_agree(shared_data: Path) -> None:
    svs = shared_data / "wsi" / "CMU-1-Small-Region.svs"
    with open_slide(svs) as reader:
        cols, rows = reader.tile_grid(0)
        cells = [(c, r) for r in range(rows) for c in range(cols)]
        expected = {
            cr: reader.read_region((cr[0] * 256, cr[1] * 256), 0, (256, 256)) for cr in cells
        }
    with open_slide(svs) as reader, ThreadPoolExecutor(4) as pool:
        tiles = list(pool.map(lambda cr: reader.read_tile(0, *cr), cells * 3))
    for cr, tile in zip(cells * 3, tiles, strict=True):
        h, w = tile.shape[:2]
        np.testing.assert_array_equal(tile, expected[cr][:h, :w])
