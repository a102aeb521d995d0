"""Every kind of bad slide input gives a CaseImportError naming the file, never a crash."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from app.errors import CaseImportError
from app.slides import open_slide, write_pyramidal_tiff


def _cut(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def _assert_refused(path: Path, *words: str, named: Path | None = None) -> CaseImportError:
    with pytest.raises(CaseImportError) as caught, open_slide(path) as reader:
        width, height = reader.info.dimensions
        reader.read_region((0, 0), 0, (width, height))
    message = caught.value.user_message
    assert (named or path).name in message
    assert str(path.parent) not in message  # the name, not the full path
    for word in words:
        assert word in message
    return caught.value


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("name", ["CMU-1-Small-Region.svs", "test3-DAPI-2-387.ndpi"])
def test_truncated_real_slides_are_refused(
    shared_data: Path, tmp_path: Path, name: str, fraction: float
) -> None:
    path = _cut(shared_data / "wsi" / name, tmp_path / name, fraction)
    _assert_refused(path)


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95, 0.999])
def test_truncated_generated_pyramid_is_refused(tmp_path: Path, fraction: float) -> None:
    full = tmp_path / "full.tiff"
    image = np.random.default_rng(1).integers(0, 255, (900, 700, 3), dtype=np.uint8)
    write_pyramidal_tiff(full, image, 0.5, "SYNTHETIC", compression="deflate")
    _assert_refused(_cut(full, tmp_path / "cut.tiff", fraction))


def test_truncated_tile_data_with_intact_directories_is_named_truncated(tmp_path: Path) -> None:
    """A BigTIFF with every directory first and the pixels after: cutting loses only pixels."""
    path = tmp_path / "dirs-first.tif"
    image = np.random.default_rng(2).integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(image, tile=(256, 256), photometric="rgb", compression="zlib", metadata=None)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        first_data = min(page.dataoffsets)
        assert page.offset < first_data  # the directory precedes the tiles
    data = path.read_bytes()
    path.write_bytes(data[: (first_data + len(data)) // 2])
    _assert_refused(path, "truncated")


def test_corrupt_tile_data_is_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.tif"
    image = np.random.default_rng(3).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    write_pyramidal_tiff(path, image, 0.5, "SYNTHETIC", compression="jpeg")
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = bytes(count)  # tile (0, 0) becomes zeros
    path.write_bytes(bytes(data))
    _assert_refused(path, "damaged")


def test_garbage_svs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.svs"
    path.write_bytes(os.urandom(5000))
    _assert_refused(path, "not a whole-slide image")


def test_text_file_with_slide_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.tif"
    path.write_text("not an image", encoding="utf-8")
    _assert_refused(path)


def test_zero_byte_tiff_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.tiff"
    path.touch()
    _assert_refused(path, "empty")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    _assert_refused(tmp_path / "absent.svs", "does not exist")


def test_non_dicom_with_dcm_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.dcm"
    path.write_bytes(b"\x00" * 200)
    _assert_refused(path, "not a DICOM file")


def test_dicom_mr_image_is_not_a_slide(shared_data: Path) -> None:
    _assert_refused(
        shared_data / "mri" / "single" / "MR-MONO2-8-16x-heart.dcm", "not a whole-slide"
    )


@pytest.mark.parametrize("fraction", [0.001, 0.05, 0.5, 0.99])
def test_truncated_dicom_slide_is_refused(
    shared_data: Path, tmp_path: Path, fraction: float
) -> None:
    source = shared_data / "wsi" / "TCGA-XK-AAJU_sm_single-level.dcm"
    _assert_refused(_cut(source, tmp_path / source.name, fraction), "truncated")


def test_truncated_level_of_a_dicom_pyramid_is_refused(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pyramid"
    shutil.copytree(shared_data / "wsi" / "dicom_CMU-1-Small-Region", folder)
    victim = folder / "level-1-frames-0-9.dcm"
    _cut(victim, victim, 0.7)
    _assert_refused(folder / "level-0-frames-0-30.dcm", "truncated", named=victim)


def test_folder_without_slides_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here", encoding="utf-8")
    _assert_refused(tmp_path, "no DICOM whole-slide image")
