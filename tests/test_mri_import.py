"""MRI import of every real file under ../shared/data/mri, checked against values derived here
from the tags (pydicom) or by SimpleITK in the same run, never against numbers copied from our
own output."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from app.errors import Cancelled
from app.imaging import dicom_files
from app.imaging.dicom_import import MriImport, load_mri, set_phase
from app.imaging.series import MriSeries, Phase

LIVER = "mri/liver_philips_s401_T2W_TRA_BH"
ENHANCED = "mri/enhanced_multiframe"


@pytest.fixture(scope="module")
def all_mri(shared_data: Path) -> MriImport:
    """Everything under mri/, imported in one call (as the case importer does)."""
    files = sorted(p for p in (shared_data / "mri").rglob("*") if p.is_file())
    return load_mri(files)


def _series_from(result: MriImport, file: Path) -> MriSeries:
    matches = [s for s in result.series if file in s.files]
    assert len(matches) == 1, f"{file.name} is in {len(matches)} series"
    return matches[0]


def _sitk_geometry(image: sitk.Image) -> dict[str, object]:
    """Shape (z, y, x), spacing (z, y, x), origin and orientation as SimpleITK reads them."""
    x, y, z = image.GetSize()
    sx, sy, sz = image.GetSpacing()
    d = np.asarray(image.GetDirection()).reshape(3, 3)  # columns: row, column, slice axes
    return {
        "shape": (z, y, x),
        "spacing": (sz, sy, sx),
        "origin": np.asarray(image.GetOrigin()),
        "iop": np.concatenate([d[:, 0], d[:, 1]]),
        "normal": d[:, 2],
    }


def test_liver_series_matches_simpleitk(shared_data: Path, all_mri: MriImport) -> None:
    files = sorted((shared_data / LIVER).glob("IM_*.dcm"))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in files])
    reference = reader.Execute()
    expected = _sitk_geometry(reference)
    series = _series_from(all_mri, files[0])

    assert series.volume_count == 1
    assert series.shape_zyx == expected["shape"] == (len(files), 480, 480)
    assert series.frames == len(files)
    assert set(series.files) == set(files)
    np.testing.assert_allclose(series.spacing_mm_zyx, expected["spacing"], rtol=1e-6)
    np.testing.assert_allclose(series.origin_mm, expected["origin"], atol=1e-4)
    np.testing.assert_allclose(series.image_orientation_patient, expected["iop"], atol=1e-6)
    np.testing.assert_allclose(series.normal, expected["normal"], atol=1e-6)
    # SimpleITK applies RescaleSlope/Intercept as well (its pixel type is then float)
    voxels = sitk.GetArrayFromImage(reference).astype(np.float32)
    np.testing.assert_allclose(series.voxels[0], voxels, rtol=1e-5, atol=1e-3)
    assert series.warnings == []
    assert series.phase is Phase.UNKNOWN  # a T2 without contrast tags or phase keywords


def test_liver_series_matches_its_tags(shared_data: Path, all_mri: MriImport) -> None:
    files = sorted((shared_data / LIVER).glob("IM_*.dcm"))
    dss = [pydicom.dcmread(f) for f in files]
    iop = np.asarray(dss[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    dss.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, float), normal)))
    positions = np.asarray([d.ImagePositionPatient for d in dss], dtype=float)
    steps = np.diff(positions @ normal)
    series = _series_from(all_mri, files[0])

    assert series.spacing_mm_zyx[0] == pytest.approx(float(np.median(steps)), rel=1e-6)
    assert series.spacing_mm_zyx[1:] == pytest.approx([float(v) for v in dss[0].PixelSpacing])
    np.testing.assert_allclose(series.origin_mm, positions[0])
    for z in (0, 12, 24):
        d = dss[z]
        expected = d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
        np.testing.assert_allclose(series.voxels[0, z], expected, rtol=1e-6)
    assert series.series_instance_uid == dss[0].SeriesInstanceUID
    assert series.acquisition_time_s is not None


def test_presentation_state_is_skipped_with_reason(shared_data: Path, all_mri: MriImport) -> None:
    ps = shared_data / LIVER / "PS_0026.dcm"
    assert "PixelData" not in pydicom.dcmread(ps)
    reasons = dict(all_mri.skipped)
    assert "Presentation State" in reasons[ps]
    assert "no pixel data" in reasons[ps]
    assert all(ps not in s.files for s in all_mri.series)


def test_non_dicom_readme_is_an_error_naming_it(shared_data: Path, all_mri: MriImport) -> None:
    readme = shared_data / LIVER / "SOURCE_README.txt"
    errors = dict(all_mri.errors)
    assert "'SOURCE_README.txt'" in errors[readme]
    assert "not a DICOM file" in errors[readme]


def test_single_siemens_slice(shared_data: Path, all_mri: MriImport) -> None:
    path = shared_data / "mri/single/pydicom_examples_overlay_abdomen_liver.dcm"
    ds = pydicom.dcmread(path)
    series = _series_from(all_mri, path)
    assert series.shape_zyx == (1, ds.Rows, ds.Columns)
    assert series.frames == 1
    # a single slice: its Z extent is the slice thickness (no SpacingBetweenSlices)
    assert "SpacingBetweenSlices" not in ds
    expected_spacing = (float(ds.SliceThickness), *(float(v) for v in ds.PixelSpacing))
    assert series.spacing_mm_zyx == pytest.approx(expected_spacing)
    np.testing.assert_allclose(series.origin_mm, [float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(
        series.image_orientation_patient, [float(v) for v in ds.ImageOrientationPatient]
    )
    np.testing.assert_array_equal(series.voxels[0, 0], ds.pixel_array.astype(np.float32))
    assert series.series_description == ds.SeriesDescription


def test_legacy_heart_without_geometry_is_an_error(shared_data: Path, all_mri: MriImport) -> None:
    path = shared_data / "mri/single/MR-MONO2-8-16x-heart.dcm"
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert int(ds.NumberOfFrames) == 16
    assert "ImagePositionPatient" not in ds and "ImageOrientationPatient" not in ds
    message = dict(all_mri.errors)[path]
    assert "'MR-MONO2-8-16x-heart.dcm'" in message
    assert "ImagePositionPatient" in message and "patient space" in message
    assert all(path not in s.files for s in all_mri.series)


def test_enhanced_pcasl_matches_simpleitk_and_its_frames(
    shared_data: Path, all_mri: MriImport
) -> None:
    path = shared_data / ENHANCED / "1901_WIP_3DpCASL_real.dcm"
    reference = sitk.ReadImage(str(path))
    expected = _sitk_geometry(reference)
    ds = pydicom.dcmread(path)
    frames = ds.PerFrameFunctionalGroupsSequence
    positions = np.asarray(
        [f.PlanePositionSequence[0].ImagePositionPatient for f in frames], dtype=float
    )
    iop = np.asarray(frames[0].PlaneOrientationSequence[0].ImageOrientationPatient, float)
    distances = positions @ np.cross(iop[:3], iop[3:])
    n_positions = len(np.unique(np.round(distances, 2)))
    series = _series_from(all_mri, path)

    assert series.frames == int(ds.NumberOfFrames) == len(frames)
    assert series.volume_count == len(frames) // n_positions  # 40 distinct positions: 1 volume
    assert series.shape_zyx == expected["shape"] == (n_positions, ds.Rows, ds.Columns)
    np.testing.assert_allclose(series.spacing_mm_zyx, expected["spacing"], rtol=1e-5)
    np.testing.assert_allclose(series.origin_mm, positions[np.argmin(distances)], atol=1e-6)
    np.testing.assert_allclose(series.origin_mm, expected["origin"], atol=1e-4)
    np.testing.assert_allclose(series.image_orientation_patient, iop, atol=1e-9)
    # per-frame rescale (PixelValueTransformationSequence), frames ordered along the normal
    order = np.argsort(distances)
    slopes = [float(f.PixelValueTransformationSequence[0].RescaleSlope) for f in frames]
    intercepts = [float(f.PixelValueTransformationSequence[0].RescaleIntercept) for f in frames]
    pixels = ds.pixel_array
    for z in (0, 17, 39):
        k = order[z]
        expected_z = pixels[k] * slopes[k] + intercepts[k]
        np.testing.assert_allclose(series.voxels[0, z], expected_z, rtol=1e-6, atol=1e-6)


def test_enhanced_siemens_pair_is_two_time_points(shared_data: Path, all_mri: MriImport) -> None:
    paths = [shared_data / ENHANCED / f"Siemens_XA10_6_{k}.dcm" for k in (1, 2)]
    dss = [pydicom.dcmread(p) for p in paths]
    assert dss[0].SeriesInstanceUID == dss[1].SeriesInstanceUID
    temporal = [
        {
            int(f.FrameContentSequence[0].TemporalPositionIndex)
            for f in d.PerFrameFunctionalGroupsSequence
        }
        for d in dss
    ]
    assert temporal == [{1}, {2}]
    series = _series_from(all_mri, paths[0])
    assert set(series.files) == set(paths)
    assert series.frames == sum(int(d.NumberOfFrames) for d in dss)
    assert series.volume_count == 2
    assert series.volume_labels == ["time point 1", "time point 2"]
    for v, path in enumerate(paths):
        reference = sitk.ReadImage(str(path))
        expected = _sitk_geometry(reference)
        assert series.shape_zyx == expected["shape"]
        np.testing.assert_allclose(series.spacing_mm_zyx, expected["spacing"], rtol=1e-6)
        np.testing.assert_allclose(series.origin_mm, expected["origin"], atol=1e-4)
        np.testing.assert_allclose(
            series.voxels[v], sitk.GetArrayFromImage(reference).astype(np.float32)
        )


def test_every_mri_file_is_accounted_for(shared_data: Path, all_mri: MriImport) -> None:
    files = {p for p in (shared_data / "mri").rglob("*") if p.is_file()}
    used = {f for s in all_mri.series for f in s.files}
    skipped = {p for p, _ in all_mri.skipped}
    errors = {p for p, _ in all_mri.errors}
    assert used | skipped | errors | set(all_mri.other_images) == files
    assert not used & (skipped | errors)
    for s in all_mri.series:
        assert s.voxels.dtype == np.float32
        assert s.voxels.shape == (s.volume_count, *s.shape_zyx)
        assert len(s.volume_labels) == s.volume_count
        assert np.all(np.isfinite(s.voxels))


def test_dicom_whole_slide_images_go_to_other_images(shared_data: Path) -> None:
    wsi = sorted((shared_data / "wsi").rglob("*.dcm"))
    sop_classes = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID) for p in wsi}
    assert sop_classes == {"1.2.840.10008.5.1.4.1.1.77.1.6"}  # VL Whole Slide Microscopy
    result = load_mri(wsi)
    assert sorted(result.other_images) == wsi
    assert result.series == [] and result.errors == [] and result.skipped == []


def test_progress_is_reported_to_the_end(shared_data: Path) -> None:
    files = sorted((shared_data / LIVER).glob("*.dcm"))
    calls: list[tuple[int, int]] = []
    load_mri(files, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (2 * len(files), 2 * len(files))
    assert all(total == 2 * len(files) for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) >= len(files)


def test_cancel_before_start_raises_at_once(shared_data: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    calls: list[int] = []
    with pytest.raises(Cancelled):
        load_mri(
            sorted((shared_data / LIVER).glob("*.dcm")),
            progress=lambda done, total: calls.append(done),
            cancel=cancel,
        )
    assert calls == []


def test_cancel_midway_stops_reading(shared_data: Path) -> None:
    files = sorted((shared_data / LIVER).glob("IM_*.dcm"))
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        load_mri(files, progress=progress, cancel=cancel)
    assert max(seen) == 3  # no file read after the cancel


def test_set_phase_relabels(shared_data: Path) -> None:
    series = load_mri([shared_data / "mri/single/pydicom_examples_overlay_abdomen_liver.dcm"])
    s = series.series[0]
    assert s.phase is Phase.UNKNOWN
    set_phase(s, Phase.ARTERIAL)
    assert s.phase is Phase.ARTERIAL
    assert s.phase_source == "set by the user"


def test_large_files_are_classified_from_their_meta_header(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dicom_files, "LARGE_FILE_BYTES", 0)  # every file counts as large
    wsi = sorted((shared_data / "wsi/dicom_CMU-1-Small-Region").glob("*.dcm"))[:2]
    ps = shared_data / LIVER / "PS_0026.dcm"
    liver = sorted((shared_data / LIVER).glob("IM_*.dcm"))[:3]
    result = load_mri([*wsi, ps, *liver])
    assert result.other_images == wsi
    assert "no pixel data" in dict(result.skipped)[ps]
    assert [s.frames for s in result.series] == [3]
