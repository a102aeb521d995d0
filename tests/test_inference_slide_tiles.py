"""Slide preprocessing: tissue detection, tiles at a fixed mpp, refusals, lazy reads, cancel."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from app.errors import Cancelled
from app.slides import SlideInfo
from inference.input_spec import InputSpec
from inference.slide_tiles import SlideInput, SlideRefusal, preprocess_slide, tissue_mask

SPEC = InputSpec(tile_size_px=32, tile_mpp=2.0, max_tiles=10)
PINK = (200, 120, 170)
WHITE = (242, 242, 244)


@dataclass
class FakeSlide:
    """An in-memory two-level pyramid (downsamples 1 and 4) with optional per-read delay."""

    level0: np.ndarray
    mpp: float | None
    delay_s: float = 0.0
    reads: int = 0

    def __post_init__(self) -> None:
        h, w = self.level0.shape[:2]
        self.level1 = (
            self.level0.reshape(h // 4, 4, w // 4, 4, 3).mean(axis=(1, 3)).astype(np.uint8)
        )
        self.info = SlideInfo(
            Path("fake.tiff"),
            "fake",
            (w, h),
            2,
            [(w, h), (w // 4, h // 4)],
            [1.0, 4.0],
            None if self.mpp is None else (self.mpp, self.mpp),
            None,
            [],
            [],
        )
        self.levels_read: list[int] = []  # levels of tile-sized reads (not the overview)

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> np.ndarray:
        if size[0] <= 256:  # a tile, not the whole-level overview used for tissue detection
            time.sleep(self.delay_s)
            self.reads += 1
            self.levels_read.append(level)
        img = self.level0 if level == 0 else self.level1
        d = 1 if level == 0 else 4
        x, y = location[0] // d, location[1] // d
        return img[y : y + size[1], x : x + size[0]].copy()

    def thumbnail(self, max_size: int) -> np.ndarray:
        return self.level1


def _slide(tissue: bool = True, mpp: float | None = 0.5, delay_s: float = 0.0) -> FakeSlide:
    img = np.empty((1024, 1024, 3), np.uint8)
    img[:] = WHITE
    if tissue:
        img[256:768, 128:640] = PINK  # 512 x 512 px of tissue at level 0
    return FakeSlide(img, mpp, delay_s)


def test_tissue_mask_finds_pink_on_white() -> None:
    mask = tissue_mask(_slide().level1)
    assert mask[64:192, 32:160].all()
    assert not mask[:60].any() and not mask[:, 170:].any()


def test_tiles_come_from_tissue_at_the_target_mpp() -> None:
    slide = _slide()
    out = preprocess_slide(slide, SPEC)
    assert isinstance(out, SlideInput)
    # 32 px at 2 µm/px = 64 µm = 128 level-0 px at 0.5 µm/px; tissue is 4 x 4 such tiles.
    assert out.tile_extent_level0_px == pytest.approx(128.0)
    assert len(out.tiles) == 10 and out.tiles.shape[1:] == (3, 32, 32)
    x, y = out.positions_level0_xy[:, 0], out.positions_level0_xy[:, 1]
    assert (
        (x >= 128).all() and (x + 128 <= 640).all() and (y >= 256).all() and (y + 128 <= 768).all()
    )
    assert np.abs(out.tiles.astype(int) - np.array(PINK)[None, :, None, None]).max() <= 1
    assert set(slide.levels_read) == {1}  # level 1 (4 x 0.5 = 2.0 µm/px) is the target


def test_level_coarser_than_the_target_is_not_read() -> None:
    slide = _slide(mpp=0.5)
    spec = InputSpec(tile_size_px=32, tile_mpp=1.0, max_tiles=4)  # level 1 is 2.0 µm/px
    out = preprocess_slide(slide, spec)
    assert isinstance(out, SlideInput)
    assert slide.levels_read and set(slide.levels_read) == {0}
    assert out.tile_extent_level0_px == pytest.approx(64.0)


def test_sampling_is_deterministic() -> None:
    a = preprocess_slide(_slide(), SPEC)
    b = preprocess_slide(_slide(), SPEC)
    assert isinstance(a, SlideInput) and isinstance(b, SlideInput)
    assert np.array_equal(a.positions_level0_xy, b.positions_level0_xy)


def test_slide_without_mpp_is_refused() -> None:
    out = preprocess_slide(_slide(mpp=None), SPEC)
    assert isinstance(out, SlideRefusal) and "mpp unknown" in out.reason


def test_slide_without_tissue_is_refused() -> None:
    out = preprocess_slide(_slide(tissue=False), SPEC)
    assert isinstance(out, SlideRefusal) and "no tissue" in out.reason


def test_too_coarse_slide_is_refused() -> None:
    out = preprocess_slide(_slide(mpp=8.0), SPEC)
    assert isinstance(out, SlideRefusal) and "coarser" in out.reason


def test_cancel_stops_the_tile_loop_within_a_second() -> None:
    slide = _slide(delay_s=0.1)
    spec = InputSpec(tile_size_px=32, tile_mpp=2.0, max_tiles=1000)
    cancel = threading.Event()
    set_at: list[float] = []

    def stop() -> None:
        set_at.append(time.perf_counter())
        cancel.set()

    original = slide.read_region

    def read_then_maybe_stop(*args: object) -> np.ndarray:
        if slide.reads == 3 and not set_at:
            threading.Timer(0.05, stop).start()  # cancel while the tile loop runs
        return original(*args)  # type: ignore[arg-type]

    slide.read_region = read_then_maybe_stop  # type: ignore[method-assign]
    with pytest.raises(Cancelled):
        preprocess_slide(slide, spec, cancel=cancel)
    assert set_at and time.perf_counter() - set_at[0] < 1.0
    assert 3 <= slide.reads < 16
