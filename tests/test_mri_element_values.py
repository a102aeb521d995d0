"""`ElementValues` decodes DS/IS numbers and UI text as pydicom's own conversion does, and
leaves anything unusual to pydicom."""

from __future__ import annotations

import math

import pytest
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from app.imaging.element_values import ElementValues

_IPP = Tag("ImagePositionPatient")  # DS, 3 values
_SLICE_THICKNESS = Tag("SliceThickness")  # DS, 1 value
_INSTANCE_NUMBER = Tag("InstanceNumber")  # IS
_SOP_INSTANCE_UID = Tag("SOPInstanceUID")  # UI


def _dataset(tag: int, raw: bytes, vr: str | None) -> tuple[Dataset, RawDataElement]:
    """A dataset holding one raw element (explicit VR, or implicit when `vr` is None)."""
    elem = RawDataElement(Tag(tag), vr, len(raw), raw, 0, vr is None, True)
    ds = Dataset()
    ds[tag] = elem
    return ds, elem


def _pydicom_floats(elem: RawDataElement) -> tuple[float, ...]:
    """The numbers pydicom's documented conversion gives for a raw element."""
    value = convert_raw_data_element(elem).value
    items = value if isinstance(value, MultiValue) else [value]
    return tuple(float(v) for v in items)


@pytest.mark.parametrize(
    ("tag", "raw"),
    [
        (_IPP, b"-128.0\\-128.0\\-300.0 "),
        (_IPP, b" 1e2\\+0.5\\-3.25E-1"),
        (_IPP, b"-97.91337500000\\-141.2186500000\\41.57968800000 "),
        (_SLICE_THICKNESS, b"2 "),
        (_INSTANCE_NUMBER, b"12 "),
        (_INSTANCE_NUMBER, b"-7"),
    ],
)
@pytest.mark.parametrize("vr_explicit", [True, False])
def test_numbers_match_pydicom(tag: int, raw: bytes, vr_explicit: bool) -> None:
    vr = ("IS" if tag == _INSTANCE_NUMBER else "DS") if vr_explicit else None
    ds, elem = _dataset(tag, raw, vr)
    expected = _pydicom_floats(elem)
    got = ElementValues().floats(ds, tag)
    assert got is not None
    assert got == pytest.approx(expected, rel=0, abs=0)


@pytest.mark.parametrize("raw", [b"1,5\\2\\3", b"abc", b""])
def test_unusual_numbers_left_to_pydicom(raw: bytes) -> None:
    """Bytes outside the DS repertoire (or empty) give what pydicom's conversion gives: here
    no usable numbers, never a made-up value."""
    ds, _ = _dataset(_IPP, raw, "DS")
    assert ElementValues().floats(ds, _IPP) is None


def test_non_finite_numbers_are_not_values() -> None:
    ds, _ = _dataset(_SLICE_THICKNESS, b"1e999", "DS")
    value = ElementValues().floats(ds, _SLICE_THICKNESS)
    assert value is None or all(math.isfinite(v) for v in value)


@pytest.mark.parametrize(
    "raw",
    [b"1.2.826.0.1.3680043.8.498.1\x00", b"1.2.3 ", b"1.2.3\\1.2.4\x00", b"1.2.840.10008.1.2.1"],
)
@pytest.mark.parametrize("vr", ["UI", None])
def test_uid_text_matches_pydicom(raw: bytes, vr: str | None) -> None:
    ds, elem = _dataset(_SOP_INSTANCE_UID, raw, vr)
    value = convert_raw_data_element(elem).value
    expected = "\\".join(str(v) for v in value) if isinstance(value, MultiValue) else str(value)
    assert ElementValues().text(ds, _SOP_INSTANCE_UID) == expected


def test_cache_keys_on_the_bytes() -> None:
    """Two datasets with different positions never share a cached value."""
    values = ElementValues()
    a, _ = _dataset(_IPP, b"0\\0\\1", "DS")
    b, _ = _dataset(_IPP, b"0\\0\\2", "DS")
    assert values.floats(a, _IPP) == (0.0, 0.0, 1.0)
    assert values.floats(b, _IPP) == (0.0, 0.0, 2.0)
