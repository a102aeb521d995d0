"""Non-blocking tiles for the slide view: the caller never reads, stand-ins come at once from a
coarser cached level, the real pixels follow from worker threads, stale requests are dropped."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from app.slides import SlideReader, open_slide
from app.slides.background_tiles import GLASS_WHITE, BackgroundTiles
from app.slides.multiscale import LevelView
from app.slides.pyramid_writer import write_pyramidal_tiff

SIZE = 1024  # px, level 0 of the test slide: levels 1024, 512, 256
TILE = 256


@pytest.fixture
def source_pixels() -> NDArray[np.uint8]:
    """Smooth deterministic RGB (H, W, 3): level 1 is close to level 0 halved."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    rgb = np.stack([x * 255 // SIZE, y * 255 // SIZE, (x + y) * 127 // SIZE], axis=-1)
    return rgb.astype(np.uint8)


@pytest.fixture
def reader(tmp_path: Path, source_pixels: NDArray[np.uint8]) -> SlideReader:
    path = tmp_path / "slide.tiff"
    write_pyramidal_tiff(path, source_pixels, 0.5, "test slide", compression="deflate")
    return open_slide(path)


def _record_reads(reader: SlideReader, gate: threading.Event | None = None) -> list[str]:
    """Make `reader.read_region` note the reading thread's name (and wait for `gate`)."""
    threads: list[str] = []
    region = reader.read_region

    def read_region(
        location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> NDArray[np.uint8]:
        threads.append(threading.current_thread().name)
        if gate is not None:
            gate.wait(10)
        return region(location, level, size)

    reader.read_region = read_region  # type: ignore[method-assign]
    return threads


def test_the_caller_gets_a_stand_in_at_once_and_the_real_tile_from_a_worker(
    reader: SlideReader, source_pixels: NDArray[np.uint8]
) -> None:
    threads = _record_reads(reader)
    arrived = threading.Semaphore(0)
    tiles = BackgroundTiles(reader, on_tile=arrived.release)
    first = tiles.read_tile(0, 1, 2, TILE)
    assert first.shape == (TILE, TILE, 3) and first.dtype == np.uint8
    assert (first == GLASS_WHITE).all()  # nothing coarser cached yet: white glass
    assert arrived.acquire(timeout=10)
    real = tiles.read_tile(0, 1, 2, TILE)
    np.testing.assert_array_equal(real, source_pixels[2 * TILE : 3 * TILE, TILE : 2 * TILE])
    assert threads == ["slide-tiles-0"] or threads == ["slide-tiles-1"]  # one read, off-thread
    assert tiles.pending == 0
    tiles.close()


def test_a_coarser_cached_tile_stands_in_for_a_finer_one(
    reader: SlideReader, source_pixels: NDArray[np.uint8]
) -> None:
    coarsest = reader.info.level_count - 1
    reader.read_tile(coarsest, 0, 0, TILE)  # the whole 256 px level, as the view reads ahead
    gate = threading.Event()
    threads = _record_reads(reader, gate)  # workers block: no real tile arrives
    tiles = BackgroundTiles(reader, on_tile=lambda: None, workers=1)
    stand_in = tiles.read_tile(0, 3, 1, TILE).astype(float)
    truth = source_pixels[TILE : 2 * TILE, 3 * TILE : 4 * TILE].astype(float)
    assert stand_in.shape == truth.shape
    # a 4x-upsampled copy of a smooth image: within a few grey levels of the truth everywhere
    assert np.abs(stand_in - truth).max() < 12
    assert len(threads) <= 1  # at most the blocked worker's read; the caller read nothing
    gate.set()
    tiles.close()


@pytest.mark.parametrize(("level", "col", "row"), [(0, 3, 1), (0, 0, 3), (1, 1, 0)])
def test_a_stand_in_is_the_coarse_tile_enlarged_by_nearest_neighbour(
    reader: SlideReader, level: int, col: int, row: int
) -> None:
    coarsest = reader.info.level_count - 1
    coarse = reader.read_tile(coarsest, 0, 0, TILE)  # covers the whole slide
    gate = threading.Event()
    _record_reads(reader, gate)  # workers block: the stand-in stays
    tiles = BackgroundTiles(reader, on_tile=lambda: None, workers=1)
    stand_in = tiles.read_tile(level, col, row, TILE)
    factor = 2 ** (coarsest - level)  # level px per coarsest px (1024, 512, 256 px levels)
    ys = (row * TILE + np.arange(TILE)) // factor
    xs = (col * TILE + np.arange(TILE)) // factor
    np.testing.assert_array_equal(stand_in, coarse[ys][:, xs])
    gate.set()
    tiles.close()


def test_stale_requests_are_dropped_and_the_newest_served_first(reader: SlideReader) -> None:
    gate = threading.Event()
    threads = _record_reads(reader, gate)
    served: list[int] = []
    tiles = BackgroundTiles(
        reader, on_tile=lambda: served.append(len(served)), workers=1, max_pending=4
    )
    tiles.read_tile(0, 0, 0, TILE)
    for _ in range(500):  # the worker takes it and blocks in the read
        if threads:
            break
        threading.Event().wait(0.01)
    for row in range(4):
        for col in range(4):
            if (col, row) != (0, 0):
                tiles.read_tile(0, col, row, TILE)
    assert tiles.dropped == 15 - 4  # 15 queued behind the blocked read, 4 kept
    gate.set()
    for _ in range(500):
        if tiles.pending == 0:
            break
        threading.Event().wait(0.01)
    assert tiles.pending == 0 and len(threads) == 1 + 4
    cached = {
        (c, r)
        for r in range(4)
        for c in range(4)
        if reader.tile_cache.get((0, c, r, TILE)) is not None
    }
    assert cached == {(0, 0), (0, 3), (1, 3), (2, 3), (3, 3)}  # the first, then the newest 4
    tiles.close()


def test_level_views_over_it_never_wait_and_close_stops_the_threads(reader: SlideReader) -> None:
    gate = threading.Event()
    threads = _record_reads(reader, gate)  # every read blocks until the gate opens
    tiles = BackgroundTiles(reader, on_tile=lambda: None)
    level = LevelView(tiles, 0, TILE)
    assert level.chunks == (TILE, TILE, 3) and level.size == SIZE * SIZE * 3
    box = level[100:700, 50:900]  # nine tiles, none cached: answered at once with stand-ins
    assert box.shape == (600, 850, 3) and (box == GLASS_WHITE).all()
    assert all(name.startswith("slide-tiles-") for name in threads)
    gate.set()
    tiles.close()
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("slide-"))
    assert tiles.read_tile(0, 0, 0, TILE).shape == (TILE, TILE, 3)  # still answers, reads none
    assert tiles.pending == 0


def test_bad_arguments_are_refused(reader: SlideReader) -> None:
    with pytest.raises(ValueError, match="workers"):
        BackgroundTiles(reader, on_tile=lambda: None, workers=0)
