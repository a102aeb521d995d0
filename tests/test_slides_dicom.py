"""DICOM whole-slide images: the 12-level CMU pyramid and the single-level TCGA file that
OpenSlide refuses, checked against pydicom's own tags and frame decoding."""

from __future__ import annotations

import copy
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import generate_uid

from app.slides import group_wsi_files, is_dicom_wsi_file, open_slide


@pytest.fixture(scope="module")
def pyramid_dir(shared_data: Path) -> Path:
    return shared_data / "wsi" / "dicom_CMU-1-Small-Region"


@pytest.fixture(scope="module")
def single_level(shared_data: Path) -> Path:
    return shared_data / "wsi" / "TCGA-XK-AAJU_sm_single-level.dcm"


@pytest.fixture(scope="module")
def single_level_pixels(single_level: Path) -> NDArray[np.uint8]:
    return _total_matrix(single_level)


def _read(path: Path, stop_before_pixels: bool = False) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)


def _total_matrix(path: Path) -> NDArray[np.uint8]:
    """The whole pixel matrix of a TILED_FULL file, from pydicom's frames (row-major tiles)."""
    ds = _read(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JFIF streams labelled RGB: pydicom converts them
        frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns, 3)
    width, height = int(ds.TotalPixelMatrixColumns), int(ds.TotalPixelMatrixRows)
    cols = -(-width // ds.Columns)
    rows = -(-height // ds.Rows)
    canvas = np.zeros((rows * ds.Rows, cols * ds.Columns, 3), dtype=np.uint8)
    for index in range(rows * cols):
        r, c = divmod(index, cols)
        canvas[r * ds.Rows : (r + 1) * ds.Rows, c * ds.Columns : (c + 1) * ds.Columns] = frames[
            index
        ]
    return canvas[:height, :width]


def test_pyramid_metadata_matches_the_tags(pyramid_dir: Path) -> None:
    headers = [_read(p, stop_before_pixels=True) for p in sorted(pyramid_dir.iterdir())]
    sizes = sorted(
        ((int(h.TotalPixelMatrixColumns), int(h.TotalPixelMatrixRows)) for h in headers),
        reverse=True,
    )
    base = next(h for h in headers if int(h.TotalPixelMatrixColumns) == sizes[0][0])
    row_mm, col_mm = (
        float(v)
        for v in base.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    )
    with open_slide(pyramid_dir) as reader:
        info = reader.info
    assert info.vendor == "dicom"
    assert info.level_count == len(headers) == 12
    assert info.level_dimensions == sizes
    assert info.dimensions == sizes[0]
    for (w, h), downsample in zip(sizes, info.level_downsamples, strict=True):
        low, high = sorted((sizes[0][0] / w, sizes[0][1] / h))
        assert low - 1e-9 <= downsample <= high + 1e-9
    assert info.mpp == pytest.approx((col_mm * 1000, row_mm * 1000))
    assert "OpticalPathSequence" not in base and info.objective_power is None
    assert all(str(h.ImageType[2]) == "VOLUME" for h in headers) and info.associated_images == []
    assert sorted(info.files) == sorted(pyramid_dir.iterdir())
    assert info.warnings == []


def test_files_group_by_series(pyramid_dir: Path, single_level: Path, shared_data: Path) -> None:
    files = [*sorted(pyramid_dir.iterdir()), single_level]
    mr = shared_data / "mri" / "single" / "MR-MONO2-8-16x-heart.dcm"
    groups = group_wsi_files([mr, *reversed(files)])
    assert sorted(groups) == sorted([sorted(pyramid_dir.iterdir()), [single_level]])


def test_any_file_of_the_series_opens_the_whole_pyramid(pyramid_dir: Path) -> None:
    one_file = pyramid_dir / "level-5-frames-0-1.dcm"
    assert is_dicom_wsi_file(one_file)
    with open_slide(one_file) as by_file, open_slide(pyramid_dir) as by_folder:
        assert by_file.info.level_dimensions == by_folder.info.level_dimensions
        assert sorted(by_file.info.files) == sorted(by_folder.info.files)
        assert by_file.info.source == one_file


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_pyramid_levels_equal_pydicom_frames(pyramid_dir: Path, level: int) -> None:
    header_of = {
        int(_read(p, stop_before_pixels=True).TotalPixelMatrixColumns): p
        for p in pyramid_dir.iterdir()
    }
    with open_slide(pyramid_dir) as reader:
        width, height = reader.info.level_dimensions[level]
        got = reader.read_region((0, 0), level, (width, height))
    np.testing.assert_array_equal(got, _total_matrix(header_of[width]))


def test_pyramid_colours_match_the_svs_it_was_converted_from(
    pyramid_dir: Path, shared_data: Path
) -> None:
    svs = shared_data / "wsi" / "CMU-1-Small-Region.svs"
    with open_slide(pyramid_dir) as dicom, open_slide(svs) as aperio:
        a = dicom.read_region((0, 0), 0, (1000, 1000)).astype(int)
        b = aperio.read_region((0, 0), 0, (1000, 1000)).astype(int)
    # re-encoded JPEG: close, not equal (a YCbCr/RGB mix-up would differ by ~80 grey levels)
    assert np.abs(a - b).mean() < 2.0


def test_single_level_file_openslide_refuses_is_read(
    single_level: Path, single_level_pixels: NDArray[np.uint8]
) -> None:
    import openslide

    with pytest.raises(openslide.OpenSlideError):
        openslide.OpenSlide(single_level)
    header = _read(single_level, stop_before_pixels=True)
    assert "SharedFunctionalGroupsSequence" not in header  # no pixel spacing anywhere
    with open_slide(single_level) as reader:
        info = reader.info
        whole = reader.read_region((0, 0), 0, info.dimensions)
        outside = reader.read_region((info.dimensions[0] - 10, -5), 0, (30, 20))
    assert info.dimensions == (
        int(header.TotalPixelMatrixColumns),
        int(header.TotalPixelMatrixRows),
    )
    assert info.level_count == 1 and info.level_downsamples == [1.0]
    assert info.mpp is None
    assert any("physical sizes" in w and single_level.name in w for w in info.warnings)
    assert info.to_json()["mpp"] is None
    reference = single_level_pixels
    np.testing.assert_array_equal(whole, reference)
    np.testing.assert_array_equal(outside[5:, :10], reference[:15, -10:])
    assert (outside[:5] == 255).all() and (outside[:, 10:] == 255).all()


def test_concurrent_tile_reads_equal_the_pixel_matrix(
    single_level: Path, single_level_pixels: NDArray[np.uint8]
) -> None:
    size = 384  # not a multiple of the 500 px frames: tiles straddle frames
    with open_slide(single_level) as shared, ThreadPoolExecutor(4) as pool:
        cols, rows = shared.tile_grid(0, size)
        cells = [(c, r) for r in range(rows) for c in range(cols)] * 2
        tiles = list(pool.map(lambda cr: shared.read_tile(0, cr[0], cr[1], size), cells))
    for (col, row), tile in zip(cells, tiles, strict=True):
        expected = single_level_pixels[row * size : (row + 1) * size, col * size : (col + 1) * size]
        np.testing.assert_array_equal(tile, expected)


def _derived(source: Path, out: Path, frame_order: list[int], sparse: bool, **tags: object) -> None:
    """A copy of `source` holding `frame_order`'s frames, TILED_SPARSE with their positions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the real file has over-long UIDs
        _write_derived(source, out, frame_order, sparse, tags)


def _write_derived(
    source: Path, out: Path, frame_order: list[int], sparse: bool, tags: dict[str, object]
) -> None:
    ds = _read(source)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    cols = -(-int(ds.TotalPixelMatrixColumns) // ds.Columns)
    derived = copy.deepcopy(ds)
    derived.SOPInstanceUID = generate_uid()
    derived.file_meta.MediaStorageSOPInstanceUID = derived.SOPInstanceUID
    derived.PixelData = encapsulate([frames[i] for i in frame_order])
    derived["PixelData"].VR = "OB"
    derived["PixelData"].is_undefined_length = True
    derived.NumberOfFrames = len(frame_order)
    if sparse:
        derived.DimensionOrganizationType = "TILED_SPARSE"
        items = []
        for index in frame_order:
            row, col = divmod(index, cols)
            position = Dataset()
            position.ColumnPositionInTotalImagePixelMatrix = col * ds.Columns + 1
            position.RowPositionInTotalImagePixelMatrix = row * ds.Rows + 1
            item = Dataset()
            item.PlanePositionSlideSequence = [position]
            items.append(item)
        derived.PerFrameFunctionalGroupsSequence = items
    for keyword, value in tags.items():
        setattr(derived, keyword, value)
    derived.save_as(out, enforce_file_format=True)


def test_tiled_sparse_frames_are_placed_by_position(
    single_level: Path, single_level_pixels: NDArray[np.uint8], tmp_path: Path
) -> None:
    order = list(range(41, 0, -1))  # reversed, and frame 0 (the top-left tile) missing
    path = tmp_path / "sparse.dcm"
    _derived(single_level, path, order, sparse=True)
    reference = single_level_pixels
    with open_slide(path) as reader:
        whole = reader.read_region((0, 0), 0, reader.info.dimensions)
    tile_h, tile_w = 500, 500
    np.testing.assert_array_equal(whole[tile_h:], reference[tile_h:])
    np.testing.assert_array_equal(whole[:tile_h, tile_w:], reference[:tile_h, tile_w:])
    assert (whole[:tile_h, :tile_w] == 255).all()  # absent tile: white


def test_concatenated_instances_form_one_level(
    single_level: Path, single_level_pixels: NDArray[np.uint8], tmp_path: Path
) -> None:
    folder = tmp_path / "concatenation"
    folder.mkdir()
    uid = generate_uid()
    _derived(
        single_level,
        folder / "part1.dcm",
        list(range(20)),
        sparse=False,
        ConcatenationUID=uid,
        ConcatenationFrameOffsetNumber=0,
        InConcatenationNumber=1,
        InstanceNumber=1,
    )
    _derived(
        single_level,
        folder / "part2.dcm",
        list(range(20, 42)),
        sparse=False,
        ConcatenationUID=uid,
        ConcatenationFrameOffsetNumber=20,
        InConcatenationNumber=2,
        InstanceNumber=2,
    )
    with open_slide(folder) as reader:
        assert reader.info.level_count == 1 and len(reader.info.files) == 2
        whole = reader.read_region((0, 0), 0, reader.info.dimensions)
    np.testing.assert_array_equal(whole, single_level_pixels)
