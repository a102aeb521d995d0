"""`open_dicom` reads what a full `pydicom.dcmread` reads, for every element the importer uses,
and sends every file outside its `read_dataset` path (big endian, deflate) to `dcmread`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from app.imaging.dicom_files import IMPORT_KEYWORDS, open_dicom
from app.imaging.dicom_import import load_mri
from tests.test_mri_support import slice_pixels, write_slice

WANTED = frozenset(int(pydicom.tag.Tag(k)) for k in IMPORT_KEYWORDS)
_PIXEL_DATA = 0x7FE00010


def _assert_same_kept_elements(ours: Dataset, theirs: Dataset) -> int:
    """Every wanted top-level element of the full dataset is in ours with the same value
    (sequences item by item, all their elements); returns how many were compared."""
    compared = 0
    for elem in theirs:
        if int(elem.tag) not in WANTED:
            continue
        assert elem.tag in ours, f"{elem.tag} missing"
        if elem.tag != _PIXEL_DATA:
            assert ours[elem.tag].value == elem.value, f"{elem.tag}"
        compared += 1
    return compared


def _check_against_dcmread(path: Path) -> Dataset:
    obj = open_dicom(path)
    assert obj.dataset is not None
    theirs = pydicom.dcmread(path)
    assert _assert_same_kept_elements(obj.dataset, theirs) > 5
    assert set(obj.dataset.keys()) <= WANTED | {0x00080005}
    assert obj.dataset.file_meta.TransferSyntaxUID == theirs.file_meta.TransferSyntaxUID
    np.testing.assert_array_equal(obj.dataset.pixel_array, theirs.pixel_array)
    return obj.dataset


def _count_dcmread(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts `open_dicom`'s calls of `pydicom.dcmread` (its path for unusual files)."""
    calls = [0]
    real = pydicom.dcmread

    def counting(*args: object, **kwargs: object) -> Dataset:
        calls[0] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pydicom, "dcmread", counting)  # as `dicom_files` calls it
    return calls


def test_real_mri_files_read_as_pydicom_reads_them(shared_data: Path) -> None:
    files = sorted(p for p in (shared_data / "mri").rglob("*.dcm") if "IM_" in p.name)
    files += sorted((shared_data / "mri" / "enhanced_multiframe").glob("*.dcm"))
    assert len(files) >= 10
    for path in files:
        _check_against_dcmread(path)


def test_enhanced_functional_groups_are_read_whole(shared_data: Path) -> None:
    path = shared_data / "mri" / "enhanced_multiframe" / "Siemens_XA10_6_1.dcm"
    obj = open_dicom(path)
    theirs = pydicom.dcmread(path)
    assert obj.dataset is not None
    ours_groups = obj.dataset.PerFrameFunctionalGroupsSequence
    assert len(ours_groups) == int(theirs.NumberOfFrames)
    assert ours_groups[-1] == theirs.PerFrameFunctionalGroupsSequence[-1]
    assert "ReferencedImageEvidenceSequence" not in obj.dataset  # not an import keyword


def _private_sequence_slice(path: Path) -> Path:
    """A slice with a private, nested, undefined-length sequence before the pixel data."""
    write_slice(
        path,
        position=(0.0, 0.0, 4.0),
        pixels=slice_pixels(3),
        series_uid=generate_uid(),
        slope=2.0,
        intercept=-5.0,
    )
    ds = pydicom.dcmread(path)
    inner = Dataset()
    inner.CodeMeaning = "inside a private sequence"
    item = Dataset()
    item.ContentSequence = [inner]
    block = ds.private_block(0x0029, "NEOADJ TEST", create=True)
    block.add_new(0x10, "SQ", [item, Dataset()])
    agent = Dataset()
    agent.CodeMeaning = "gadoxetate"
    ds.ContrastBolusAgentSequence = [agent]
    ds.save_as(path, enforce_file_format=True)
    return path


def test_unwanted_sequences_are_dropped_and_wanted_ones_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _private_sequence_slice(tmp_path / "private.dcm")
    calls = _count_dcmread(monkeypatch)
    ours = _check_against_dcmread(path)
    assert calls == [1]  # the full reference read only: open_dicom used read_dataset
    assert ours.ContrastBolusAgentSequence[0].CodeMeaning == "gadoxetate"
    assert 0x00291010 not in ours


def test_implicit_vr_little_endian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _private_sequence_slice(tmp_path / "implicit.dcm")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    calls = _count_dcmread(monkeypatch)
    ours = _check_against_dcmread(path)
    assert calls == [1]
    assert ours.original_encoding == (True, True)
    assert ours.ContrastBolusAgentSequence[0].CodeMeaning == "gadoxetate"


def test_encapsulated_pixel_data_decodes(tmp_path: Path) -> None:
    path = _private_sequence_slice(tmp_path / "rle.dcm")
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(path, enforce_file_format=True)
    _check_against_dcmread(path)
    result = load_mri([path])
    expected = pydicom.dcmread(path).pixel_array * 2.0 - 5.0
    np.testing.assert_array_equal(result.series[0].voxels[0, 0], expected)


@pytest.mark.parametrize("syntax", [ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian])
def test_big_endian_and_deflated_files_are_read_by_dcmread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syntax: UID
) -> None:
    path = _private_sequence_slice(tmp_path / "slice.dcm")
    ds = pydicom.dcmread(path)
    other = tmp_path / "other.dcm"
    ds.file_meta.TransferSyntaxUID = syntax
    if syntax == ExplicitVRBigEndian:
        pydicom.dcmwrite(other, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    else:
        ds.save_as(other, enforce_file_format=True)
    calls = _count_dcmread(monkeypatch)
    obj = open_dicom(other)
    assert calls == [1]
    assert obj.dataset is not None
    assert obj.dataset.InstanceNumber == 1
    assert obj.dataset.ContrastBolusAgentSequence[0].CodeMeaning == "gadoxetate"
    result = load_mri([other])
    expected = pydicom.dcmread(other).pixel_array * 2.0 - 5.0  # (pydicom writes OW unswapped)
    np.testing.assert_array_equal(result.series[0].voxels[0, 0], expected)


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize("cut", [200, 400, 600])
def test_a_truncated_file_is_reported_by_name(tmp_path: Path, cut: int) -> None:
    path = _private_sequence_slice(tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[:cut])
    result = load_mri([path])
    assert not result.series
    assert [(p, path.name in message) for p, message in result.errors] == [(path, True)]
