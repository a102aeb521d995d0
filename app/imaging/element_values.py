"""Element values of many similar datasets, each distinct raw encoding converted once."""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

_SPECIFIC_CHARACTER_SET = 0x00080005
_DECIMAL_VRS = frozenset({"DS", "IS"})
_DECIMAL_REPERTOIRE = re.compile(rb"[ \\0-9.+eE-]*\Z").match
"""The characters of DS/IS values (PS3.5 6.2), as pydicom checks them in its numpy mode."""

_RawKey = tuple[int, str | None, bool, bool, bytes]
"""(tag, VR, implicit VR, little endian, raw bytes): what a raw element's conversion depends on
(for numbers, CS, UI, DA/TM/DT)."""


def _raw_key(tag: int, elem: RawDataElement) -> _RawKey:
    return (tag, elem.VR, elem.is_implicit_VR, elem.is_little_endian, elem.value or b"")


@functools.lru_cache(maxsize=512)
def _vr_of(tag: int, explicit_vr: str | None) -> str | None:
    """The element's VR: the explicit one, else the data dictionary's (None if unknown)."""
    if explicit_vr is not None:
        return explicit_vr
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def _decimal_floats(raw: bytes) -> tuple[float, ...] | None:
    """A DS/IS value's numbers, decoded as pydicom's numpy mode does (backslash-separated
    decimal strings); None when the bytes are not plain finite numbers (then pydicom's own
    conversion decides)."""
    if not raw or _DECIMAL_REPERTOIRE(raw) is None:
        return None
    try:
        out = tuple(float(v) for v in raw.split(b"\\"))
    except ValueError:
        return None
    return out if all(math.isfinite(v) for v in out) else None


def _as_floats(value: Any) -> tuple[float, ...] | None:
    """A converted value's items as finite floats; None when absent, empty or not numeric."""
    if value is None or value == "":
        return None
    items = value if isinstance(value, MultiValue | list | tuple) else (value,)
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None
    return out if out and all(math.isfinite(v) for v in out) else None


class ElementValues:
    """Element values of many similar datasets; each distinct raw encoding is converted once.

    The slices of a series, and the frames of a multi-frame object, repeat most values byte
    for byte (orientation, spacing, rescale...). pydicom's conversion of a raw element is the
    main per-frame cost, so it runs once per distinct (tag, VR, encoding, bytes). `raw`,
    `floats`, `number`, `integer` and `text` are for values whose decoding does not depend on
    the character set (numbers, CS, UI, DA/TM/DT); `string` is for free text (LO, SH...).

    Elements are looked up in an int-keyed index of the last dataset asked about (built from
    `Dataset.items()`): `Dataset.get_item` compares pydicom's `BaseTag` keys in Python, about
    a microsecond per lookup, and the importer makes dozens per file. Ask about one dataset's
    elements together; a dataset must not change while it is being read.
    """

    def __init__(self) -> None:
        self._converted: dict[_RawKey, Any] = {}
        self._floats: dict[_RawKey, tuple[float, ...] | None] = {}
        self._strings: dict[tuple[int, str | None, object, bytes], str] = {}
        self._indexed: Dataset | None = None
        self._index: dict[int, DataElement | RawDataElement] = {}

    def _element(self, ds: Dataset, tag: int) -> DataElement | RawDataElement | None:
        """The element `tag` of `ds` as stored (a raw element until someone converts it)."""
        if ds is not self._indexed:
            self._index = {int(t): elem for t, elem in ds.items()}
            self._indexed = ds
        elem = self._index.get(int(tag))  # an int key: a BaseTag compares in Python
        if isinstance(elem, RawDataElement) and elem.value is None:
            found = ds.get_item(tag)  # a deferred value: pydicom reads it
            return found if isinstance(found, DataElement | RawDataElement) else None
        return elem

    def raw(self, ds: Dataset, tag: int) -> Any:
        """The element's value as pydicom converts it, or None when absent."""
        elem = self._element(ds, tag)
        if elem is None:
            return None
        if not isinstance(elem, RawDataElement):
            return elem.value
        return self._convert(ds, elem, _raw_key(tag, elem))

    def _convert(self, ds: Dataset, elem: RawDataElement, key: _RawKey) -> Any:
        try:
            return self._converted[key]
        except KeyError:
            value = convert_raw_data_element(elem, ds=ds).value
            self._converted[key] = value
            return value

    def floats(self, ds: Dataset | None, tag: int) -> tuple[float, ...] | None:
        """All values as floats; None when absent, empty or not numeric."""
        if ds is None:
            return None
        elem = self._element(ds, tag)
        if not isinstance(elem, RawDataElement):
            return _as_floats(self.raw(ds, tag))
        key = _raw_key(tag, elem)
        try:
            return self._floats[key]
        except KeyError:
            pass
        out = None
        if _vr_of(tag, elem.VR) in _DECIMAL_VRS:
            out = _decimal_floats(elem.value or b"")
        if out is None:
            out = _as_floats(self._convert(ds, elem, key))
        self._floats[key] = out
        return out

    def number(self, ds: Dataset | None, tag: int) -> float | None:
        """The first value as a float, or None."""
        values = self.floats(ds, tag)
        return values[0] if values else None

    def integer(self, ds: Dataset | None, tag: int) -> int | None:
        """The first value as an int, or None."""
        value = self.number(ds, tag)
        return int(value) if value is not None else None

    def text(self, ds: Dataset | None, tag: int) -> str:
        """The value as text (multiple values joined with backslashes), "" when absent.

        UI values (a new SOP Instance UID in every file) are decoded as pydicom does (trailing
        NULs and spaces dropped, each UID stripped) without building `UID` objects."""
        if ds is None:
            return ""
        elem = self._element(ds, tag)
        if isinstance(elem, RawDataElement) and elem.value and _vr_of(tag, elem.VR) == "UI":
            uids = elem.value.decode("latin-1").rstrip("\0 ").split("\\")
            return "\\".join(uid.strip() for uid in uids)
        value = self.raw(ds, tag)
        if value is None:
            return ""
        if isinstance(value, MultiValue | list | tuple):
            return "\\".join(str(v) for v in value)
        return str(value)

    def string(self, ds: Dataset, tag: int) -> str:
        """A text value in the dataset's character set, stripped; "" when absent.

        The Specific Character Set is part of the cache key, so text in different character
        sets is never confused.
        """
        elem = self._element(ds, tag)
        if elem is None:
            return ""
        if not isinstance(elem, RawDataElement):
            return str(elem.value or "").strip()
        charset = self._element(ds, _SPECIFIC_CHARACTER_SET)
        charset_bytes = charset.value if isinstance(charset, RawDataElement) else repr(charset)
        key = (tag, elem.VR, charset_bytes, elem.value or b"")
        try:
            return str(self._strings[key])
        except KeyError:
            text = str(convert_raw_data_element(elem, ds=ds).value or "").strip()
            self._strings[key] = text
            return text

    def item(self, ds: Dataset | None, tag: int) -> Dataset | None:
        """The first item of a sequence element, or None."""
        if ds is None:
            return None
        elem = self._element(ds, tag)
        if elem is None:
            return None
        if isinstance(elem, RawDataElement):
            elem = self._index[tag] = ds[tag]  # pydicom parses the sequence
        seq = elem.value
        return seq[0] if seq else None
