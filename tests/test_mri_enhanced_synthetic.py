"""Enhanced MR multi-frame objects written here with known frame content: repeated positions
become volumes of one geometry (echoes, label/control pairs told apart by a dimension index),
shared functional groups stand in for missing per-frame ones, per-frame rescale is applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian, generate_uid

from app.imaging.dicom_import import load_mri

ROWS, COLS = 6, 5
pytestmark = pytest.mark.timeout(60)


def _item(**elements: object) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def _write_enhanced(
    path: Path,
    frames: list[dict[str, object]],
    *,
    dimension_pointers: list[str],
    pixel_spacing: tuple[float, float] = (1.5, 1.25),
) -> np.ndarray:
    """Write an Enhanced MR object; each frame dict gives z_mm, dims, and optional echo_ms,
    slope, intercept. Returns the stored pixels (frames, ROWS, COLS)."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 3000, size=(len(frames), ROWS, COLS), dtype=np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    ds.SOPClassUID, ds.SOPInstanceUID = EnhancedMRImageStorage, generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = "MR"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesDescription = "synthetic enhanced"
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = ROWS, COLS
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.DimensionIndexSequence = Sequence(
        [
            _item(DimensionIndexPointer=Tag(k), FunctionalGroupPointer=Tag("FrameContentSequence"))
            for k in dimension_pointers
        ]
    )
    ds.SharedFunctionalGroupsSequence = Sequence(
        [
            _item(
                PixelMeasuresSequence=Sequence(
                    [_item(PixelSpacing=list(pixel_spacing), SliceThickness=2.0)]
                ),
                PlaneOrientationSequence=Sequence(
                    [_item(ImageOrientationPatient=[1, 0, 0, 0, 0, -1])]  # coronal
                ),
                PixelValueTransformationSequence=Sequence(
                    [_item(RescaleSlope=1, RescaleIntercept=0, RescaleType="US")]
                ),
            )
        ]
    )
    per_frame = []
    for f in frames:
        group = _item(
            FrameContentSequence=Sequence([_item(DimensionIndexValues=list(f["dims"]))]),
            PlanePositionSequence=Sequence(
                [_item(ImagePositionPatient=[-10.0, float(f["z_mm"]), 40.0])]
            ),
        )
        if "echo_ms" in f:
            group.MREchoSequence = Sequence([_item(EffectiveEchoTime=f["echo_ms"])])
        if "slope" in f:
            group.PixelValueTransformationSequence = Sequence(
                [_item(RescaleSlope=f["slope"], RescaleIntercept=f["intercept"])]
            )
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return pixels


def test_echoes_with_per_frame_rescale(tmp_path: Path) -> None:
    # coronal: normal = row x column = (1,0,0) x (0,0,-1) = (0,1,0), so z grows with y
    frames: list[dict[str, object]] = [
        {"z_mm": z, "dims": [1, k + 1, e + 1], "echo_ms": te, "slope": 1 + e, "intercept": -e}
        for e, te in enumerate((4.5, 9.0))
        for k, z in enumerate((6.0, 0.0, 3.0))
    ]
    pixels = _write_enhanced(
        tmp_path / "echo.dcm",
        frames,
        dimension_pointers=["StackID", "InStackPositionNumber", "EffectiveEchoTime"],
    )
    series = load_mri([tmp_path / "echo.dcm"]).series[0]
    assert series.volume_count == 2 and series.shape_zyx == (3, ROWS, COLS)
    assert series.volume_labels == ["TE 4.5 ms", "TE 9 ms"]
    assert series.spacing_mm_zyx == pytest.approx((3.0, 1.5, 1.25))
    assert series.origin_mm == pytest.approx((-10.0, 0.0, 40.0))
    assert series.image_orientation_patient == (1, 0, 0, 0, 0, -1)
    for i, f in enumerate(frames):
        v = 0 if f["echo_ms"] == 4.5 else 1
        z = round(float(f["z_mm"]) / 3.0)  # type: ignore[arg-type]
        expected = pixels[i] * float(f["slope"]) + float(f["intercept"])  # type: ignore[arg-type]
        np.testing.assert_allclose(series.voxels[v, z], expected)
    assert series.warnings == []


def test_label_control_told_apart_by_a_dimension_index(tmp_path: Path) -> None:
    frames: list[dict[str, object]] = [
        {"z_mm": z, "dims": [1, k + 1, c]} for c in (2, 1) for k, z in enumerate((0.0, 4.0))
    ]
    pixels = _write_enhanced(
        tmp_path / "asl.dcm",
        frames,
        dimension_pointers=["StackID", "InStackPositionNumber", "ASLContext"],
    )
    series = load_mri([tmp_path / "asl.dcm"]).series[0]
    assert series.volume_count == 2 and series.shape_zyx == (2, ROWS, COLS)
    assert series.volume_labels == ["index 1", "index 2"]  # ordered by the index value
    np.testing.assert_array_equal(series.voxels[0], pixels[2:4])  # context 1
    np.testing.assert_array_equal(series.voxels[1], pixels[0:2])  # context 2


def test_inconsistent_frame_count_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.dcm"
    _write_enhanced(path, [{"z_mm": 0.0, "dims": [1, 1]}], dimension_pointers=["StackID"])
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 3
    ds.save_as(path)
    message = dict(load_mri([path]).errors)[path]
    assert "'bad.dcm'" in message and "1 per-frame functional groups for 3 frames" in message


def test_frame_without_position_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nopos.dcm"
    _write_enhanced(
        path,
        [{"z_mm": 0.0, "dims": [1, 1]}, {"z_mm": 2.0, "dims": [1, 2]}],
        dimension_pointers=["StackID", "InStackPositionNumber"],
    )
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    ds.save_as(path)
    message = dict(load_mri([path]).errors)[path]
    assert "'nopos.dcm' (frame 2)" in message and "ImagePositionPatient" in message
