"""Compressed transfer syntaxes that scanners write, through pydicom's pixel-data plugins.

Compressed copies of real liver slices are made here (pydicom's encoders for RLE, JPEG-LS and
JPEG 2000; imagecodecs for JPEG lossless and JPEG baseline/extended, which pydicom cannot
encode) and must import to the same voxels as the uncompressed originals (lossless), or to
what an independent decoder (imagecodecs) reads from the same codestream (lossy).
"""

from __future__ import annotations

import threading
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from app.errors import Cancelled
from app.imaging.dicom_import import load_mri

LIVER = "mri/liver_philips_s401_T2W_TRA_BH"
pytestmark = pytest.mark.timeout(120)


def _liver_slices(shared_data: Path, count: int = 3) -> list[Path]:
    return sorted((shared_data / LIVER).glob("IM_*.dcm"))[10 : 10 + count]


def _with_codestream(ds: pydicom.Dataset, frame: bytes, syntax: UID) -> pydicom.Dataset:
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax
    return ds


def _compress(src: Path, dst: Path, syntax: UID) -> Path:
    ds = pydicom.dcmread(src)
    pixels = ds.pixel_array
    if syntax == JPEGLosslessSV1:
        frame = imagecodecs.jpeg8_encode(
            pixels, lossless=True, predictor=1, bitspersample=int(ds.BitsStored)
        )
        _with_codestream(ds, frame, syntax)
    else:
        ds.compress(syntax)
    ds.save_as(dst)
    return dst


@pytest.mark.parametrize(
    "syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless, JPEGLosslessSV1], ids=str
)
def test_lossless_copies_import_to_the_same_voxels(
    shared_data: Path, tmp_path: Path, syntax: UID
) -> None:
    originals = _liver_slices(shared_data)
    copies = [_compress(f, tmp_path / f.name, syntax) for f in originals]
    assert {str(pydicom.dcmread(c).file_meta.TransferSyntaxUID) for c in copies} == {syntax}

    compressed = load_mri(copies)
    reference = load_mri(originals)
    assert compressed.errors == []
    [got], [want] = compressed.series, reference.series
    assert got.shape_zyx == want.shape_zyx == (3, 480, 480)
    np.testing.assert_array_equal(got.voxels, want.voxels)
    assert got.spacing_mm_zyx == pytest.approx(want.spacing_mm_zyx)
    assert got.origin_mm == pytest.approx(want.origin_mm)


def test_jpeg_extended_12_bit_matches_an_independent_decoder(
    shared_data: Path, tmp_path: Path
) -> None:
    originals = _liver_slices(shared_data)
    copies, expected = [], []
    for f in originals:
        ds = pydicom.dcmread(f)
        frame = imagecodecs.jpeg8_encode(ds.pixel_array, level=90, bitspersample=12)
        expected.append(imagecodecs.jpeg8_decode(frame) * float(ds.RescaleSlope))
        ds = _with_codestream(ds, frame, JPEGExtended12Bit)
        ds.save_as(tmp_path / f.name)
        copies.append(tmp_path / f.name)

    series = load_mri(copies).series[0]
    assert series.shape_zyx == (3, 480, 480)
    # JPEG decoders may differ by one grey level after the inverse DCT
    tolerance = 1.01 * float(pydicom.dcmread(originals[0]).RescaleSlope)
    np.testing.assert_allclose(series.voxels[0], np.stack(expected), atol=tolerance)


def test_jpeg_baseline_8_bit_matches_an_independent_decoder(
    shared_data: Path, tmp_path: Path
) -> None:
    copies, expected = [], []
    for f in _liver_slices(shared_data):
        ds = pydicom.dcmread(f)
        eight_bit = (ds.pixel_array >> 4).astype(np.uint8)  # 12 -> 8 bits stored
        frame = imagecodecs.jpeg8_encode(eight_bit, level=90)
        expected.append(imagecodecs.jpeg8_decode(frame).astype(np.float32))
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        _with_codestream(ds, frame, JPEGBaseline8Bit).save_as(tmp_path / f.name)
        copies.append(tmp_path / f.name)

    series = load_mri(copies).series[0]
    np.testing.assert_allclose(series.voxels[0], np.stack(expected), atol=1.01)


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"]
)
def test_pydicom_compressed_mr_samples_match_the_uncompressed_one(name: str) -> None:
    compressed = load_mri([Path(get_testdata_file(name))])
    reference_ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    assert compressed.errors == []
    series = compressed.series[0]
    assert series.shape_zyx == (1, reference_ds.Rows, reference_ds.Columns)
    np.testing.assert_array_equal(series.voxels[0, 0], reference_ds.pixel_array)


def test_corrupt_codestream_is_an_error_naming_the_file(shared_data: Path, tmp_path: Path) -> None:
    originals = _liver_slices(shared_data, 4)
    copies = [_compress(f, tmp_path / f.name, JPEG2000Lossless) for f in originals]
    ds = pydicom.dcmread(copies[1])
    _with_codestream(ds, b"\xff\x4f\xff\x51" + bytes(200), JPEG2000Lossless).save_as(copies[1])

    result = load_mri(copies)
    message = dict(result.errors)[copies[1]]
    assert f"'{copies[1].name}'" in message and "cannot be decoded" in message
    assert "JPEG 2000" in message
    [series] = result.series
    assert series.frames == 3 and series.filled_slice_indices == (1,)


def test_cancel_while_decoding_raises(shared_data: Path, tmp_path: Path) -> None:
    copies = [_compress(f, tmp_path / f.name, JPEG2000Lossless) for f in _liver_slices(shared_data)]
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == len(copies):  # every header read, decoding under way
            cancel.set()

    with pytest.raises(Cancelled):
        load_mri(copies, progress=progress, cancel=cancel)
