"""The lean element reader agrees with pydicom on every element the importer reads, and leaves
what it does not understand (big endian, truncation, no preamble) to pydicom."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless, generate_uid

from app.imaging.dicom_files import IMPORT_KEYWORDS, NESTED_KEYWORDS, open_dicom
from app.imaging.dicom_import import load_mri
from app.imaging.lean_reader import read_import_dataset
from tests.test_mri_support import slice_pixels, write_slice

WANTED = frozenset(int(pydicom.tag.Tag(k)) for k in (*IMPORT_KEYWORDS, *NESTED_KEYWORDS))


def _assert_same_kept_elements(ours: Dataset, theirs: Dataset, where: str) -> int:
    """Every wanted element of pydicom's dataset is in ours with the same value; returns how
    many were compared (nested ones included)."""
    compared = 0
    for elem in theirs:
        if int(elem.tag) not in WANTED:
            continue
        assert elem.tag in ours, f"{where}: {elem.tag} missing"
        mine = ours[elem.tag]
        if elem.VR == "SQ":
            assert len(mine.value) == len(elem.value), f"{where}: {elem.tag} item count"
            for i, (a, b) in enumerate(zip(mine.value, elem.value, strict=True)):
                compared += _assert_same_kept_elements(a, b, f"{where} {elem.tag}[{i}]")
        elif elem.tag != 0x7FE00010:
            assert mine.value == elem.value, f"{where}: {elem.tag}"
        compared += 1
    return compared


def _check_against_pydicom(path: Path) -> Dataset:
    data = path.read_bytes()
    ours = read_import_dataset(data, WANTED)
    assert ours is not None, f"{path.name} fell back to pydicom"
    theirs = pydicom.dcmread(io.BytesIO(data))
    assert _assert_same_kept_elements(ours, theirs, path.name) > 5
    assert ours.file_meta.TransferSyntaxUID == theirs.file_meta.TransferSyntaxUID
    np.testing.assert_array_equal(ours.pixel_array, theirs.pixel_array)
    return ours


def test_real_mri_files_read_as_pydicom_reads_them(shared_data: Path) -> None:
    files = sorted(p for p in (shared_data / "mri").rglob("*.dcm") if "IM_" in p.name)
    files += sorted((shared_data / "mri" / "enhanced_multiframe").glob("*.dcm"))
    assert len(files) >= 10
    for path in files:
        _check_against_pydicom(path)


def test_enhanced_functional_groups_keep_only_what_the_importer_reads(shared_data: Path) -> None:
    path = shared_data / "mri" / "enhanced_multiframe" / "Siemens_XA10_6_1.dcm"
    ours = read_import_dataset(path.read_bytes(), WANTED)
    theirs = pydicom.dcmread(path)
    assert ours is not None
    frame = ours.PerFrameFunctionalGroupsSequence[0]
    full = theirs.PerFrameFunctionalGroupsSequence[0]
    assert {int(e.tag) for e in frame} == {int(e.tag) for e in full} & WANTED
    assert len(frame) < len(full)
    assert "ReferencedImageEvidenceSequence" not in ours  # an unwanted top-level sequence


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


def test_undefined_length_sequences_are_skipped_or_kept(tmp_path: Path) -> None:
    path = _private_sequence_slice(tmp_path / "private.dcm")
    ours = _check_against_pydicom(path)
    assert ours.ContrastBolusAgentSequence[0].CodeMeaning == "gadoxetate"
    assert 0x00291010 not in ours
    assert isinstance(ours["PixelData"].value, memoryview)  # a view of the file, no copy


def test_implicit_vr_little_endian(tmp_path: Path) -> None:
    path = _private_sequence_slice(tmp_path / "implicit.dcm")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    ours = _check_against_pydicom(path)
    assert ours.ContrastBolusAgentSequence[0].CodeMeaning == "gadoxetate"


def test_encapsulated_pixel_data(tmp_path: Path) -> None:
    path = _private_sequence_slice(tmp_path / "rle.dcm")
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(path, enforce_file_format=True)
    _check_against_pydicom(path)


def test_what_it_does_not_understand_is_left_to_pydicom(tmp_path: Path) -> None:
    path = _private_sequence_slice(tmp_path / "slice.dcm")
    data = path.read_bytes()
    assert read_import_dataset(data[:-7], WANTED) is None  # truncated pixel data
    assert read_import_dataset(data[128:], WANTED) is None  # no preamble
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    big = tmp_path / "big.dcm"
    pydicom.dcmwrite(big, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    assert big.read_bytes()[128:132] == b"DICM"
    assert read_import_dataset(big.read_bytes(), WANTED) is None
    obj = open_dicom(big)  # pydicom reads it instead
    assert obj.dataset is not None and obj.dataset.InstanceNumber == 1


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize("cut", [200, 400, 600])
def test_a_truncated_file_is_left_to_pydicom_and_reported(tmp_path: Path, cut: int) -> None:
    path = _private_sequence_slice(tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[:cut])
    assert read_import_dataset(path.read_bytes(), WANTED) is None
    result = load_mri([path])
    assert not result.series
    assert [(p, path.name in message) for p, message in result.errors] == [(path, True)]
