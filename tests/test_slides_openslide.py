"""Slides OpenSlide reads (the real SVS and NDPI): metadata against tifffile, pixels against
raw OpenSlide and tifffile's own JPEG decoding."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from numpy.typing import NDArray

from app.errors import Cancelled
from app.slides import SlideReader, is_slide_file, open_slide


@pytest.fixture(scope="module")
def svs(shared_data: Path) -> Path:
    return shared_data / "wsi" / "CMU-1-Small-Region.svs"


@pytest.fixture(scope="module")
def ndpi(shared_data: Path) -> Path:
    return shared_data / "wsi" / "test3-DAPI-2-387.ndpi"


def _raw_rgb_on_white(
    slide: openslide.OpenSlide, xy: tuple[int, int], level: int, size: tuple[int, int]
) -> NDArray[np.uint8]:
    """OpenSlide's public RGBA, composited over white with float maths."""
    rgba = np.asarray(slide.read_region(xy, level, size)).astype(np.float64)
    alpha = rgba[..., 3:4] / 255.0
    return np.rint(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def test_svs_metadata_matches_the_tiff_tags(svs: Path) -> None:
    with tifffile.TiffFile(svs) as tif:
        description = tif.pages[0].description
        baseline = tif.series[0]
        level_shapes = [lvl.shape for lvl in baseline.levels]
        associated = sorted(s.name.lower() for s in tif.series[1:])
    mpp = float(re.search(r"MPP = ([\d.]+)", description).group(1))  # type: ignore[union-attr]
    magnification = float(re.search(r"AppMag = ([\d.]+)", description).group(1))  # type: ignore[union-attr]
    with open_slide(svs) as reader:
        info = reader.info
    assert info.vendor == "aperio" and description.startswith("Aperio")
    assert info.dimensions == (level_shapes[0][1], level_shapes[0][0])
    assert info.level_count == len(level_shapes)
    assert info.level_dimensions == [(s[1], s[0]) for s in level_shapes]
    assert info.level_downsamples == [1.0]
    assert info.mpp == pytest.approx((mpp, mpp))
    assert info.objective_power == magnification
    assert info.associated_images == associated == ["label", "macro", "thumbnail"]
    assert info.warnings == []
    assert info.files == [svs]


def test_ndpi_metadata_matches_the_tiff_tags(ndpi: Path) -> None:
    with tifffile.TiffFile(ndpi) as tif:
        assert tif.is_ndpi
        page = tif.pages[0]
        x_res = page.tags["XResolution"].value
        assert page.tags["ResolutionUnit"].value == 3  # centimetre
        mpp = 1e4 * x_res[1] / x_res[0]
        magnification = float(page.tags[65421].value)  # NDPI source lens
        pages = [(lvl.shape[1], lvl.shape[0]) for lvl in tif.series[0].levels]
    with open_slide(ndpi) as reader:
        info = reader.info
    assert info.vendor == "hamamatsu"
    assert info.dimensions == pages[0]
    # OpenSlide lists the NDPI's pages, then halves the smallest by JPEG scaling (1/2-1/8)
    assert info.level_dimensions[: len(pages)] == pages
    w, h = pages[-1]
    assert info.level_dimensions[len(pages) :] == [
        (w // 2**k, h // 2**k) for k in range(1, info.level_count - len(pages) + 1)
    ]
    for (lw, lh), downsample in zip(info.level_dimensions, info.level_downsamples, strict=True):
        assert downsample == pytest.approx(pages[0][0] / lw) == pytest.approx(pages[0][1] / lh)
    assert info.mpp == pytest.approx((mpp, mpp))
    assert info.objective_power == magnification == 40.0
    assert info.associated_images == ["macro"]


@pytest.mark.parametrize(
    ("level", "xy", "size"),
    [
        (0, (0, 0), (300, 200)),
        (0, (1000, 1500), (512, 512)),
        (0, (2000, 2800), (400, 300)),  # runs past the right and bottom edges
        (0, (-50, -20), (120, 80)),  # starts outside the slide
    ],
)
def test_svs_regions_equal_raw_openslide(
    svs: Path, level: int, xy: tuple[int, int], size: tuple[int, int]
) -> None:
    with openslide.OpenSlide(svs) as slide, open_slide(svs) as reader:
        expected = _raw_rgb_on_white(slide, xy, level, size)
        got = reader.read_region(xy, level, size)
    assert got.shape == (size[1], size[0], 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("level", [0, 2, 4, 6])
def test_ndpi_tiles_equal_raw_openslide_on_every_level(ndpi: Path, level: int) -> None:
    with openslide.OpenSlide(ndpi) as slide, open_slide(ndpi) as reader:
        width, height = reader.info.level_dimensions[level]
        cols, rows = reader.tile_grid(level)
        downsample = slide.level_downsamples[level]
        for col, row in {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2)}:
            tile = reader.read_tile(level, col, row)
            w, h = min(256, width - col * 256), min(256, height - row * 256)
            xy = (round(col * 256 * downsample), round(row * 256 * downsample))
            np.testing.assert_array_equal(tile, _raw_rgb_on_white(slide, xy, level, (w, h)))


def test_svs_level0_agrees_with_tifffile_decoding(svs: Path) -> None:
    reference = tifffile.imread(svs, key=0)
    with open_slide(svs) as reader:
        width, height = reader.info.dimensions
        whole = reader.read_region((0, 0), 0, (width, height))
    assert whole.shape == reference.shape
    # two JPEG decoders: identical up to IDCT rounding
    assert np.abs(whole.astype(int) - reference).mean() < 1.0


def test_edge_tiles_are_clipped_and_the_grid_covers_the_slide(svs: Path) -> None:
    with open_slide(svs) as reader:
        cols, rows = reader.tile_grid(0)
        assert (cols, rows) == (-(-2220 // 256), -(-2967 // 256))
        assert reader.read_tile(0, cols - 1, 0).shape == (256, 2220 - (cols - 1) * 256, 3)
        assert reader.read_tile(0, 0, rows - 1).shape == (2967 - (rows - 1) * 256, 256, 3)
        with pytest.raises(ValueError, match="outside"):
            reader.read_tile(0, cols, 0)
        with pytest.raises(ValueError, match="level"):
            reader.read_region((0, 0), 1, (10, 10))


def _exact_area_average(image: NDArray[np.uint8], out_h: int, out_w: int) -> NDArray[np.float64]:
    """Each output pixel = mean of the input area it covers (dense weights, float maths)."""

    def weights(n_in: int, n_out: int) -> NDArray[np.float64]:
        f = n_in / n_out
        edges = np.arange(n_out + 1) * f
        lo, hi = edges[:-1, None], edges[1:, None]
        pixels = np.arange(n_in)[None, :]
        overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0, None)
        return overlap / overlap.sum(axis=1, keepdims=True)

    wy, wx = weights(image.shape[0], out_h), weights(image.shape[1], out_w)
    return np.stack([wy @ image[..., c].astype(np.float64) @ wx.T for c in range(3)], axis=-1)


@pytest.mark.parametrize(("name", "max_size"), [("svs", 300), ("ndpi", 200)])
def test_thumbnail_is_the_exact_area_average(
    name: str, max_size: int, request: pytest.FixtureRequest
) -> None:
    path = request.getfixturevalue(name)
    with open_slide(path) as reader:
        thumb = reader.thumbnail(max_size)
        width0, height0 = reader.info.dimensions
        out_h = max_size if height0 >= width0 else round(height0 * max_size / width0)
        out_w = max_size if width0 > height0 else round(width0 * max_size / height0)
        # the coarsest level that still has at least the thumbnail's size
        level = max(
            i for i, (w, h) in enumerate(reader.info.level_dimensions) if w >= out_w and h >= out_h
        )
        source = reader.read_region((0, 0), level, reader.info.level_dimensions[level])
    assert thumb.shape == (out_h, out_w, 3)
    assert np.abs(thumb - _exact_area_average(source, out_h, out_w)).max() <= 0.5 + 1e-6


def test_thumbnail_reports_progress_and_can_be_cancelled(shared_data: Path) -> None:
    single = shared_data / "wsi" / "TCGA-XK-AAJU_sm_single-level.dcm"  # 3236 x 2638, one level
    seen: list[tuple[int, int]] = []
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        cancel.set()  # stop after the first block

    with open_slide(single) as reader, pytest.raises(Cancelled):
        reader.thumbnail(256, progress=progress, cancel=cancel)
    assert seen == [(1, 4)]  # 2 x 2 blocks of 2048 px


def test_associated_images_only_on_request_and_no_pixels_in_json(svs: Path) -> None:
    with tifffile.TiffFile(svs) as tif:
        label_shape = next(s.shape for s in tif.series if s.name == "Label")
    with open_slide(svs) as reader:
        entry = reader.info.to_json()
        label = reader.associated_image("label")
        with pytest.raises(KeyError):
            reader.associated_image("overview")
    assert label.shape == label_shape and label.dtype == np.uint8
    assert set(entry) == {
        "source",
        "vendor",
        "dimensions",
        "level_count",
        "level_dimensions",
        "mpp",
        "objective_power",
        "associated_images",
        "warnings",
    }
    assert entry["dimensions"] == [2220, 2967] and entry["mpp"] == [0.499, 0.499]
    json.dumps(entry)  # serialisable as is


def test_reader_is_a_context_manager_and_closes(svs: Path) -> None:
    with open_slide(svs) as reader:
        assert isinstance(reader, SlideReader)
        reader.read_tile(0, 0, 0)
        assert len(reader.tile_cache) == 1
    assert len(reader.tile_cache) == 0
    with pytest.raises(RuntimeError, match="closed"):
        reader.read_region((0, 0), 0, (8, 8))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.svs", True),
        ("b.NDPI", True),
        ("c.mrxs", True),
        ("d.tiff", True),
        ("e.qptiff", True),
        ("f.dcm", False),
        ("g.vcf", False),
        ("h.png", False),
    ],
)
def test_is_slide_file_by_extension(name: str, expected: bool) -> None:
    assert is_slide_file(Path(name)) is expected


def test_an_mrxs_slide_spans_its_data_folder(tmp_path: Path) -> None:
    from app.slides.openslide_reader import _slide_files

    index = tmp_path / "case.mrxs"
    index.write_text("[GENERAL]\n", encoding="utf-8")
    (tmp_path / "case").mkdir()
    for name in ("Slidedat.ini", "Data0000.dat", "Index.dat"):
        (tmp_path / "case" / name).write_bytes(b"x")
    assert _slide_files(index, "mirax") == [
        index,
        *(tmp_path / "case" / n for n in ("Data0000.dat", "Index.dat", "Slidedat.ini")),
    ]
    assert _slide_files(index, "aperio") == [index]
