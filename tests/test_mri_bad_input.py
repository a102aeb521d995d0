"""Bad and unusual MRI input: each gets a clear message naming the file, the rest still imports,
and nothing crashes or hangs. Expected values come from the synthetic ground truth or the tags."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from app.errors import CaseImportError
from app.imaging.dicom_import import is_dicom_file, load_mri, read_dicom_header
from tests.test_mri_support import (
    PATIENT_ID,
    PATIENT_NAME,
    slice_pixels,
    write_slice,
    write_stack,
)

LIVER = "mri/liver_philips_s401_T2W_TRA_BH"
pytestmark = pytest.mark.timeout(120)


def _liver_copies(shared_data: Path, folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    files = sorted((shared_data / LIVER).glob("IM_*.dcm"))[:count]
    return [Path(shutil.copy(f, folder / f.name)) for f in files]


def test_truncated_slice_is_an_error_and_the_rest_keeps_its_geometry(
    shared_data: Path, tmp_path: Path
) -> None:
    files = _liver_copies(shared_data, tmp_path / "liver", 5)
    cut = files[2]
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # cut inside the pixel data
    positions = [pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient for f in files]
    step = float(positions[1][2]) - float(positions[0][2])

    result = load_mri(files)

    message = dict(result.errors)[cut]
    assert "'IM_0003.dcm'" in message and "truncated" in message
    assert len(result.series) == 1
    series = result.series[0]
    assert series.frames == 4 and cut not in series.files
    # the missing slice keeps its place: 5 Z positions, the third one empty
    assert series.shape_zyx == (5, 480, 480)
    assert series.filled_slice_indices == (2,)
    assert not series.voxels[0, 2].any()
    assert series.spacing_mm_zyx[0] == pytest.approx(abs(step))
    assert any("missing slice" in w and f"{2 * abs(step):.2f} mm" in w for w in series.warnings)
    ds = pydicom.dcmread(files[3])
    z3 = 3 if step > 0 else 1
    np.testing.assert_allclose(series.voxels[0, z3], ds.pixel_array * float(ds.RescaleSlope))


@pytest.mark.parametrize("keep_bytes", [90, 200, 1000, 4000])
def test_header_truncated_file_is_an_error(
    shared_data: Path, tmp_path: Path, keep_bytes: int
) -> None:
    files = _liver_copies(shared_data, tmp_path / "liver", 3)
    files[1].write_bytes(files[1].read_bytes()[:keep_bytes])
    result = load_mri(files)
    message = dict(result.errors)[files[1]]
    assert "'IM_0002.dcm'" in message
    assert "truncated" in message or "not a DICOM file" in message
    assert [s.frames for s in result.series] == [2]


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    paths, _ = write_stack(tmp_path / "ok", [0.0, 2.0])
    result = load_mri([empty, *paths])
    assert dict(result.errors)[empty] == "'empty.dcm' is empty (0 bytes)."
    assert [s.frames for s in result.series] == [2]


@pytest.mark.parametrize(
    "content",
    [b"patient notes, not an image\n" * 20, bytes(range(256)) * 3, b"DICM" + bytes(500)],
)
def test_non_dicom_file_with_dcm_name(tmp_path: Path, content: bytes) -> None:
    fake = tmp_path / "IM_9999.dcm"
    fake.write_bytes(content)
    result = load_mri([fake])
    message = dict(result.errors)[fake]
    assert message.startswith("'IM_9999.dcm' is not a DICOM file")
    assert result.series == []


@pytest.mark.parametrize(
    ("missing", "kwargs"),
    [
        ("ImagePositionPatient/ImageOrientationPatient", {"position": None, "orientation": None}),
        ("ImagePositionPatient", {"position": None}),
        ("PixelSpacing", {"position": (0, 0, 0), "pixel_spacing": None}),
    ],
)
def test_image_without_geometry_is_an_error(
    tmp_path: Path, missing: str, kwargs: dict[str, object]
) -> None:
    uid = generate_uid()
    bad = write_slice(
        tmp_path / "nogeo.dcm",
        pixels=slice_pixels(0),
        series_uid=uid,
        **kwargs,  # type: ignore[arg-type]
    )
    good, _ = write_stack(tmp_path / "ok", [0.0, 2.0, 4.0])
    result = load_mri([bad, *good])
    message = dict(result.errors)[bad]
    assert "'nogeo.dcm'" in message and missing in message
    assert "cannot be placed in patient space" in message
    assert [s.frames for s in result.series] == [3]


def test_degenerate_orientation_is_an_error(tmp_path: Path) -> None:
    bad = write_slice(
        tmp_path / "flat.dcm",
        position=(0, 0, 0),
        orientation=(1, 0, 0, 1, 0, 0),  # row and column cosines parallel
        pixels=slice_pixels(0),
        series_uid=generate_uid(),
    )
    message = dict(load_mri([bad]).errors)[bad]
    assert "'flat.dcm'" in message and "perpendicular" in message


def test_missing_slice_keeps_geometry_with_warning(tmp_path: Path) -> None:
    z_mm = [0.0, 3.0, 6.0, 12.0, 15.0]  # the slice at 9 mm is missing
    paths, images = write_stack(tmp_path, z_mm)
    series = load_mri(paths).series[0]
    assert series.shape_zyx == (6, 8, 6)
    assert series.frames == 5
    assert series.spacing_mm_zyx[0] == pytest.approx(3.0)
    assert series.filled_slice_indices == (3,)
    warning = next(w for w in series.warnings if "missing slice" in w)
    assert "6.00 mm" in warning and "3.00 mm" in warning and "6.00 and 12.00" in warning
    for z, k in zip([0, 1, 2, 4, 5], range(5), strict=True):
        np.testing.assert_array_equal(series.voxels[0, z], images[k])
    assert not series.voxels[0, 3].any()


def test_non_uniform_spacing_is_a_warning(tmp_path: Path) -> None:
    z_mm = [0.0, 3.0, 6.7, 9.0, 12.0]
    paths, images = write_stack(tmp_path, z_mm)
    series = load_mri(paths).series[0]
    steps = np.diff(z_mm)
    assert series.shape_zyx == (5, 8, 6)
    assert series.spacing_mm_zyx[0] == pytest.approx(float(np.median(steps)))
    assert any("non-uniform slice spacing" in w for w in series.warnings)
    np.testing.assert_array_equal(series.voxels[0, 2], images[2])


def test_unsorted_files_are_sorted_along_the_normal(tmp_path: Path) -> None:
    # an oblique stack written in shuffled order
    iop = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # sagittal
    z_mm = [4.0, 0.0, 8.0, 2.0, 6.0]
    paths, images = write_stack(tmp_path, z_mm, orientation=iop)
    series = load_mri(paths).series[0]
    order = np.argsort(z_mm)
    normal = np.cross(iop[:3], iop[3:])
    np.testing.assert_allclose(series.normal, normal)
    np.testing.assert_allclose(series.origin_mm, np.array((-20.0, -30.0, 0.0)) + 0 * normal)
    for z, k in enumerate(order):
        np.testing.assert_array_equal(series.voxels[0, z], images[k])
    assert series.spacing_mm_zyx[0] == pytest.approx(2.0)


def test_rescale_slope_and_intercept_are_applied(tmp_path: Path) -> None:
    paths, images = write_stack(tmp_path, [0.0, 1.5], RescaleSlope=2.5, RescaleIntercept=-100)
    series = load_mri(paths).series[0]
    np.testing.assert_allclose(series.voxels[0, 1], images[1] * 2.5 - 100)


def test_copy_of_one_file_is_skipped(tmp_path: Path) -> None:
    paths, _ = write_stack(tmp_path, [0.0, 2.0, 4.0])
    copy = Path(shutil.copy(paths[1], tmp_path / "copy.dcm"))
    result = load_mri([*paths, copy])
    assert dict(result.skipped)[copy] == f"a copy of '{paths[1].name}' (same SOP Instance UID)"
    assert result.series[0].frames == 3 and result.series[0].warnings == []


def test_duplicate_position_without_distinguishing_tag_keeps_the_first(tmp_path: Path) -> None:
    uid = generate_uid()
    paths, images = write_stack(tmp_path, [0.0, 2.0, 4.0], series_uid=uid)
    extra = write_slice(
        tmp_path / "again.dcm",
        position=(-20.0, -30.0, 2.0),
        pixels=slice_pixels(7),
        series_uid=uid,
        instance=9,
    )
    series = load_mri([*paths, extra]).series[0]
    assert series.volume_count == 1 and series.shape_zyx == (3, 8, 6)
    assert series.frames == 3
    assert any("duplicate" in w and "2.00" in w for w in series.warnings)
    np.testing.assert_array_equal(series.voxels[0, 1], images[1])  # instance 2 before 9


def test_echoes_become_volumes(tmp_path: Path) -> None:
    uid = generate_uid()
    echo1, img1 = write_stack(
        tmp_path, [0, 5, 10], series_uid=uid, name="e1", seed=1, EchoNumbers=1, EchoTime=4.6
    )
    echo2, img2 = write_stack(
        tmp_path, [0, 5, 10], series_uid=uid, name="e2", seed=2, EchoNumbers=2, EchoTime=9.2
    )
    series = load_mri([*echo2, *echo1]).series[0]
    assert series.volume_count == 2 and series.shape_zyx == (3, 8, 6)
    assert series.volume_labels == ["echo 1", "echo 2"]
    assert series.frames == 6 and series.warnings == []
    np.testing.assert_array_equal(series.voxels[0], np.stack(img1))
    np.testing.assert_array_equal(series.voxels[1], np.stack(img2))


def test_echo_missing_a_slice_is_left_empty_with_warning(tmp_path: Path) -> None:
    uid = generate_uid()
    echo1, _ = write_stack(tmp_path, [0, 5, 10], series_uid=uid, name="e1", EchoNumbers=1)
    echo2, img2 = write_stack(
        tmp_path, [0, 5, 10], series_uid=uid, name="e2", seed=2, EchoNumbers=2
    )
    series = load_mri([*echo1, echo2[0], echo2[2]]).series[0]
    assert series.volume_count == 2 and series.frames == 5
    assert any("'echo 2' lacks 1 slice" in w for w in series.warnings)
    assert not series.voxels[1, 1].any()
    np.testing.assert_array_equal(series.voxels[1, 2], img2[2])


def test_repeats_without_tags_split_in_acquisition_order(tmp_path: Path) -> None:
    uid = generate_uid()
    first, img1 = write_stack(
        tmp_path, [0, 4], series_uid=uid, name="a", seed=1, AcquisitionTime="101500"
    )
    second, img2 = write_stack(
        tmp_path, [0, 4], series_uid=uid, name="b", seed=2, AcquisitionTime="101000"
    )
    series = load_mri([*first, *second]).series[0]
    assert series.volume_labels == ["repeat 1", "repeat 2"]
    np.testing.assert_array_equal(series.voxels[0], np.stack(img2))  # acquired first
    np.testing.assert_array_equal(series.voxels[1], np.stack(img1))
    assert any("no tag tells apart" in w for w in series.warnings)


def test_orientation_change_splits_the_series(tmp_path: Path) -> None:
    uid = generate_uid()
    axial, _ = write_stack(tmp_path, [0, 3, 6], series_uid=uid, name="ax")
    coronal, _ = write_stack(
        tmp_path, [0, 3], series_uid=uid, name="cor", orientation=(1, 0, 0, 0, 0, -1)
    )
    result = load_mri([*axial, *coronal])
    assert sorted(s.frames for s in result.series) == [2, 3]
    assert {s.series_instance_uid for s in result.series} == {uid}
    for s in result.series:
        assert any("2 geometries" in w for w in s.warnings)
    coronal_series = next(s for s in result.series if s.frames == 2)
    assert coronal_series.image_orientation_patient == (1, 0, 0, 0, 0, -1)


def test_matrix_size_change_splits_the_series(tmp_path: Path) -> None:
    uid = generate_uid()
    paths, _ = write_stack(tmp_path, [0, 3], series_uid=uid)
    big = write_slice(
        tmp_path / "big.dcm",
        position=(-20, -30, 6),
        series_uid=uid,
        pixels=slice_pixels(5, rows=10, cols=10),
    )
    result = load_mri([*paths, big])
    assert sorted(s.shape_zyx for s in result.series) == [(1, 10, 10), (2, 8, 6)]


def test_sheared_stack_is_a_warning(tmp_path: Path) -> None:
    uid = generate_uid()
    paths = [
        write_slice(
            tmp_path / f"t{k}.dcm",
            position=(-20 + 0.5 * k, -30, 3.0 * k),
            pixels=slice_pixels(k),
            series_uid=uid,
            instance=k + 1,
        )
        for k in range(4)
    ]
    series = load_mri(paths).series[0]
    assert series.shape_zyx == (4, 8, 6)
    assert any("shifted in-plane by up to 1.50 mm" in w for w in series.warnings)


def test_legacy_multiframe_with_geometry_in_time(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "mri/single/MR-MONO2-8-16x-heart.dcm"
    ds = pydicom.dcmread(source)
    ds.ImagePositionPatient = [-100.0, -120.0, 30.0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1.25, 1.25]
    path = tmp_path / "heart_geo.dcm"
    ds.save_as(path)
    assert ds.FrameIncrementPointer == pydicom.tag.Tag("FrameTime")

    series = load_mri([path]).series[0]
    frames = int(ds.NumberOfFrames)
    assert series.volume_count == frames and series.shape_zyx == (1, ds.Rows, ds.Columns)
    assert series.volume_labels[:2] == ["frame 1", "frame 2"]
    assert series.spacing_mm_zyx == pytest.approx((float(ds.SliceThickness), 1.25, 1.25))
    np.testing.assert_array_equal(series.voxels[:, 0], ds.pixel_array.astype(np.float32))
    assert any("time points" in w for w in series.warnings)


def test_legacy_multiframe_stacked_in_space(shared_data: Path, tmp_path: Path) -> None:
    ds = pydicom.dcmread(shared_data / "mri/single/MR-MONO2-8-16x-heart.dcm")
    ds.ImagePositionPatient = [-100.0, -120.0, 30.0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1.25, 1.25]
    ds.SpacingBetweenSlices = 7.5
    del ds.FrameIncrementPointer
    path = tmp_path / "heart_stack.dcm"
    ds.save_as(path)

    series = load_mri([path]).series[0]
    assert series.volume_count == 1
    assert series.shape_zyx == (int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    assert series.spacing_mm_zyx[0] == pytest.approx(7.5)
    np.testing.assert_allclose(series.origin_mm, [-100.0, -120.0, 30.0])
    np.testing.assert_array_equal(series.voxels[0], ds.pixel_array.astype(np.float32))
    assert any("assumed to be stacked" in w for w in series.warnings)


def test_no_patient_identifiers_in_logs_or_messages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths, _ = write_stack(tmp_path, [0.0, 3.0, 9.0])
    bad = write_slice(
        tmp_path / "bad.dcm", position=None, pixels=slice_pixels(0), series_uid=generate_uid()
    )
    with caplog.at_level(logging.DEBUG):
        result = load_mri([*paths, bad])
    texts = [caplog.text, *(m for _, m in result.errors)]
    texts += [w for s in result.series for w in s.warnings]
    for text in texts:
        assert PATIENT_NAME not in text and "DOE" not in text and PATIENT_ID not in text


@pytest.mark.parametrize("signed", [False, True])
def test_unused_high_bits_read_as_pydicom_reads_them(tmp_path: Path, signed: bool) -> None:
    stored = np.array([[0x0FFF, 0x0800, 0xF800, 0x7123], [0x0001, 0xA005, 0x07FF, 0x0000]])
    path = write_slice(
        tmp_path / "bits.dcm",
        position=(0, 0, 0),
        pixels=stored.astype(np.uint16),
        series_uid=generate_uid(),
        BitsStored=12,
        HighBit=11,
        PixelRepresentation=int(signed),
    )
    expected = pydicom.dcmread(path).pixel_array  # pydicom's reading of bits 0-11
    series = load_mri([path]).series[0]
    np.testing.assert_array_equal(series.voxels[0, 0], expected.astype(np.float32))
    assert (expected.min() < 0) == signed


def test_read_dicom_header_and_is_dicom_file(shared_data: Path, tmp_path: Path) -> None:
    liver = sorted((shared_data / LIVER).glob("IM_*.dcm"))[0]
    header = read_dicom_header(liver)
    assert "PixelData" not in header and header.Rows == 480
    assert is_dicom_file(liver)
    text = tmp_path / "notes.dcm"
    text.write_text("not an image")
    assert not is_dicom_file(text)
    with pytest.raises(CaseImportError, match=r"'notes\.dcm' is not a DICOM file"):
        read_dicom_header(text)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with pytest.raises(CaseImportError, match=r"'empty\.dcm' is empty"):
        read_dicom_header(empty)
