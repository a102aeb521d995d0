"""A lean parse of the elements the MRI importer reads, for little-endian DICOM files in memory.

``pydicom.dcmread(..., specific_tags=...)`` still parses every undefined-length sequence of a
file into Datasets to find where it ends (an enhanced MR's per-frame functional groups, vendors'
private sequences), and its general element loop is most of the import time of a classic
slice. `read_import_dataset` walks the element stream with `struct` instead: it keeps
pydicom's `RawDataElement`s of the wanted tags (converted later, as dcmread's are), parses the
kept sequences into items holding only the wanted tags, and steps over everything else by its
length (an unwanted undefined-length sequence is skipped item by item, never built).

Only what it fully understands is read this way: a 128-byte preamble and 'DICM', a group-2
file meta header, and explicit or implicit VR little endian datasets (encapsulated pixel data
included). Anything else (big endian, deflate, no preamble, a length running past the end, an
unknown VR...) returns None, and the caller parses the file with pydicom, which then gives its
usual diagnosis.
"""

from __future__ import annotations

from collections.abc import Collection
from struct import Struct
from typing import cast

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.values import convert_string

__all__ = ["read_import_dataset"]

_IMPLICIT_LE = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_CHARSET = 0x00080005
_PIXEL_DATA = 0x7FE00010
_TAG_LENGTH = Struct("<HHL")  # implicit VR header; also an item or delimiter header
_EXPLICIT = Struct("<HH2sH")  # explicit VR header with a 2-byte length
_LONG_LENGTH = Struct("<L")


class _Unsupported(Exception):
    """The file holds something this reader leaves to pydicom."""


def read_import_dataset(data: bytes, wanted: Collection[int]) -> Dataset | None:
    """The file's elements whose tags are in `wanted`, at every depth, or None.

    Args:
        data: The whole file.
        wanted: Tags to keep (as ints); (0008,0005) Specific Character Set is always kept.
            A kept sequence's items keep only these tags too.

    Returns:
        A Dataset with ``file_meta`` like ``dcmread(..., specific_tags=wanted)``'s for the kept
        elements (raw values, converted on access; sequences as parsed items), or None when
        the file is outside this reader's scope (see the module doc). Native (defined-length)
        PixelData is a read-only ``memoryview`` into `data`, not a copy.
    """
    if len(data) < 144 or data[128:132] != b"DICM":
        return None
    keep = frozenset(wanted) | {_CHARSET}
    try:
        meta_elements, pos = _file_meta(data)
        syntax_elem = meta_elements.get(BaseTag(0x00020010))
        syntax = (syntax_elem.value or b"").rstrip(b"\0 ").decode("ascii") if syntax_elem else ""
        if not syntax or syntax == _BIG_ENDIAN or syntax in _DEFLATED:
            return None
        implicit = syntax == _IMPLICIT_LE
        parser = _Parser(data, implicit, keep)
        elements, end = parser.elements(pos, len(data), top=True)
        if end != len(data):
            return None
    except (_Unsupported, UnicodeDecodeError, IndexError, ValueError) as exc:
        del exc  # outside this reader's scope: pydicom parses the file
        return None
    ds = Dataset(elements)
    ds.file_meta = FileMetaDataset(meta_elements)
    ds.set_original_encoding(implicit, True, parser.encoding)
    return ds


def _file_meta(data: bytes) -> tuple[dict[BaseTag, RawDataElement | DataElement], int]:
    """Group-2 elements (explicit VR little endian) from byte 132, and where the dataset starts."""
    out: dict[BaseTag, RawDataElement | DataElement] = {}
    pos = 132
    while pos + 8 <= len(data):
        group, element, vr, length = _EXPLICIT.unpack_from(data, pos)
        if group != 2:
            break
        header = 8
        if vr in _LONG_VRS:
            (length,) = _LONG_LENGTH.unpack_from(data, pos + 8)
            header = 12
        start = pos + header
        if length == _UNDEFINED or start + length > len(data):
            raise _Unsupported
        tag = BaseTag(group << 16 | element)
        out[tag] = RawDataElement(
            tag, vr.decode("ascii"), length, data[start : start + length], start, False, True
        )
        pos = start + length
    return out, pos


class _Parser:
    """Walks one dataset's element stream; `encoding` follows (0008,0005) as pydicom does."""

    def __init__(self, data: bytes, implicit: bool, keep: frozenset[int]) -> None:
        self.data = data
        self.implicit = implicit
        self.keep = keep
        self.encoding: str | list[str] = "iso8859"

    def elements(
        self, pos: int, end: int, *, top: bool = False
    ) -> tuple[dict[BaseTag, RawDataElement | DataElement], int]:
        """Kept elements from `pos` up to `end` or an item delimiter, and the position after."""
        data, implicit, keep = self.data, self.implicit, self.keep
        out: dict[BaseTag, RawDataElement | DataElement] = {}
        while pos < end:
            if pos + 8 > end:
                raise _Unsupported
            group, element, length = _TAG_LENGTH.unpack_from(data, pos)
            tag = group << 16 | element
            if tag == _ITEM_END:
                if top:
                    raise _Unsupported
                return out, pos + 8
            header = 8
            vr: str | None = None
            if not implicit:
                vr_bytes = data[pos + 4 : pos + 6]
                if vr_bytes in _LONG_VRS:
                    (length,) = _LONG_LENGTH.unpack_from(data, pos + 8)
                    header = 12
                elif b"AA" <= vr_bytes <= b"ZZ":
                    length = length >> 16
                else:
                    raise _Unsupported  # an implicit-VR switch or garbage: pydicom decides
                vr = vr_bytes.decode("ascii")
            start = pos + header
            if length == _UNDEFINED:
                if vr == "UN":
                    raise _Unsupported  # a sequence in implicit VR inside explicit VR data
                is_sequence = vr == "SQ" or (implicit and tag != _PIXEL_DATA)
                if tag in keep and is_sequence:
                    items, pos = self.sequence(start, None)
                    out[BaseTag(tag)] = DataElement(tag, "SQ", items, is_undefined_length=True)
                elif is_sequence:
                    pos = self.skip_sequence(start)
                else:  # encapsulated pixel data
                    value_end, pos = self.encapsulated(start)
                    if tag in keep:
                        out[BaseTag(tag)] = RawDataElement(
                            BaseTag(tag),
                            vr,
                            _UNDEFINED,
                            data[start:value_end],
                            start,
                            implicit,
                            True,
                        )
                continue
            pos = start + length
            if pos > end:
                raise _Unsupported
            if tag not in keep:
                continue
            if vr == "SQ" or (implicit and _dictionary_sq(tag)):
                items, _ = self.sequence(start, pos)
                out[BaseTag(tag)] = DataElement(tag, "SQ", items)
                continue
            # Pixel data stays in `data` (a view, not a copy: it is most of the file).
            value = _view(data, start, pos) if tag == _PIXEL_DATA else data[start:pos]
            if tag == _CHARSET:
                self.encoding = convert_string(value, True)  # type: ignore[assignment]
            out[BaseTag(tag)] = RawDataElement(
                BaseTag(tag), vr, length, value, start, implicit, True
            )
        if pos != end:
            raise _Unsupported
        return out, pos

    def sequence(self, pos: int, end: int | None) -> tuple[Sequence, int]:
        """Items from `pos` up to `end` (defined length) or the sequence delimiter."""
        items = []
        limit = len(self.data) if end is None else end
        while True:
            if end is not None and pos == end:
                break
            if pos + 8 > limit:
                raise _Unsupported
            group, element, length = _TAG_LENGTH.unpack_from(self.data, pos)
            tag = group << 16 | element
            pos += 8
            if tag == _SEQUENCE_END and end is None:
                break
            if tag != _ITEM:
                raise _Unsupported
            item_end = limit if length == _UNDEFINED else pos + length
            if item_end > limit:
                raise _Unsupported
            elements, pos = self.elements(pos, item_end)
            items.append(Dataset(elements, parent_encoding=self.encoding))
        return Sequence(items), pos

    def skip_sequence(self, pos: int) -> int:
        """The position after an undefined-length sequence starting at `pos` (its first item)."""
        data = self.data
        while True:
            if pos + 8 > len(data):
                raise _Unsupported
            group, element, length = _TAG_LENGTH.unpack_from(data, pos)
            tag = group << 16 | element
            pos += 8
            if tag == _SEQUENCE_END:
                return pos
            if tag != _ITEM:
                raise _Unsupported
            pos = self.skip_item(pos) if length == _UNDEFINED else pos + length

    def skip_item(self, pos: int) -> int:
        """The position after an undefined-length item whose elements start at `pos`."""
        saved = self.keep
        self.keep = frozenset()
        try:
            _, pos = self.elements(pos, len(self.data))
        finally:
            self.keep = saved
        return pos

    def encapsulated(self, pos: int) -> tuple[int, int]:
        """End of the fragments of encapsulated pixel data at `pos`, and the position after."""
        data = self.data
        while True:
            if pos + 8 > len(data):
                raise _Unsupported
            group, element, length = _TAG_LENGTH.unpack_from(data, pos)
            tag = group << 16 | element
            if tag == _SEQUENCE_END:
                return pos, pos + 8
            if tag != _ITEM or length == _UNDEFINED:
                raise _Unsupported
            pos += 8 + length


def _view(data: bytes, start: int, stop: int) -> bytes:
    """``data[start:stop]`` as a read-only memoryview (typed as the bytes it stands for)."""
    return cast(bytes, memoryview(data)[start:stop])


def _dictionary_sq(tag: int) -> bool:
    """Whether the data dictionary gives a tag the VR SQ (implicit VR files)."""
    try:
        return bool(dictionary_VR(tag) == "SQ")
    except KeyError:
        return False
