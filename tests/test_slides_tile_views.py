"""OpenSlide tiles: contiguous RGB from premultiplied ARGB, equal to raw OpenSlide with two threads;
the LRU counts the buffer a view keeps alive."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import numpy as np
import openslide

from app.slides import open_slide
from app.slides.openslide_reader import _premultiplied_to_rgb_on_white
from app.slides.tile_cache import TileCache, held_bytes


def _argb(alpha: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """(h, w) uint32 0xAARRGGBB from (h, w) alpha and (h, w, 3) premultiplied colour."""
    a, r, g, b = (x.astype(np.uint32) for x in (alpha, rgb[..., 0], rgb[..., 1], rgb[..., 2]))
    return (a << 24) | (r << 16) | (g << 8) | b


def test_opaque_argb_becomes_contiguous_rgb() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    argb = _argb(np.full((5, 7), 255, np.uint8), rgb)
    out = _premultiplied_to_rgb_on_white(argb)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


def test_transparent_pixels_are_composited_on_white() -> None:
    alpha = np.array([[255, 0, 128]], np.uint8)
    colour = np.array([[[10, 20, 30], [0, 0, 0], [100, 50, 0]]], np.uint8)  # premultiplied
    out = _premultiplied_to_rgb_on_white(_argb(alpha, colour))
    expected = colour.astype(int) + (255 - alpha.astype(int))[..., None]
    np.testing.assert_array_equal(out, expected)


def test_cache_counts_the_buffer_a_view_keeps_alive() -> None:
    buffer = np.zeros((10, 10, 4), np.uint8)  # 400 bytes
    view = buffer[..., 1:]  # 300 bytes seen, 400 held
    assert held_bytes(view) == 400 and held_bytes(buffer.copy()) == 400
    cache = TileCache(capacity_bytes=1000)
    for key in range(3):
        cache.put(key, np.zeros((10, 10, 4), np.uint8)[..., 1:])
    assert len(cache) == 2 and cache.size_bytes == 800


def test_tiles_read_by_two_threads_equal_raw_openslide(shared_data: Path) -> None:
    svs = shared_data / "wsi" / "CMU-1-Small-Region.svs"
    with open_slide(svs) as reader, openslide.OpenSlide(svs) as slide:
        cols, rows = reader.tile_grid(0)
        keys = [(c, r) for r in range(rows) for c in range(cols)]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            tiles = list(pool.map(lambda k: reader.read_tile(0, k[0], k[1]), keys))
        for (col, row), tile in zip(keys, tiles, strict=True):
            assert not tile.flags.writeable
            w, h = tile.shape[1], tile.shape[0]
            rgba = np.asarray(slide.read_region((col * 256, row * 256), 0, (w, h)))
            assert (rgba[..., 3] == 255).all()
            np.testing.assert_array_equal(tile, rgba[..., :3])
        assert reader.tile_cache.size_bytes == sum(t.nbytes for t in tiles)
        assert all(t.flags.c_contiguous for t in tiles)
