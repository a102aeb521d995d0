"""Stored pixel values of a greyscale DICOM image, all frames, before rescale.

Uncompressed little-endian data is viewed in place with numpy (no copy unless unused high bits
must be cleared); everything else (JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE,
big endian...) goes through pydicom's pixel-data plugins (pylibjpeg, pyjpegls, openjpeg).
Rescale slope/intercept are applied later, per frame, when the volume is assembled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from app.errors import CaseImportError
from app.imaging.element_values import ElementValues

_NATIVE_LITTLE_ENDIAN = frozenset(
    {ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}
)
_DTYPES = {
    (8, 0): "<u1",
    (16, 0): "<u2",
    (32, 0): "<u4",
    (8, 1): "<i1",
    (16, 1): "<i2",
    (32, 1): "<i4",
}
_PIXEL_DATA = Tag("PixelData")
_TRANSFER_SYNTAX_UID = Tag("TransferSyntaxUID")
_T = {
    k: Tag(k)
    for k in [
        "NumberOfFrames",
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
    ]
}


@dataclass(frozen=True)
class PixelFormat:
    """How a file's pixel data is laid out (PS3.3 C.7.6.3).

    Attributes:
        frames: NumberOfFrames (1 when absent).
        rows: Rows.
        cols: Columns.
        samples: SamplesPerPixel.
        bits_allocated: BitsAllocated.
        bits_stored: BitsStored.
        high_bit: HighBit.
        signed: PixelRepresentation is 1.
        transfer_syntax: TransferSyntaxUID, "" when absent.
    """

    frames: int
    rows: int
    cols: int
    samples: int
    bits_allocated: int
    bits_stored: int
    high_bit: int
    signed: bool
    transfer_syntax: str

    @classmethod
    def from_dataset(cls, ds: Dataset, values: ElementValues) -> PixelFormat:
        """Read the format from the Image Pixel module (absent values: their defaults)."""
        allocated = values.integer(ds, _T["BitsAllocated"]) or 0
        stored = values.integer(ds, _T["BitsStored"]) or allocated
        high_bit = values.integer(ds, _T["HighBit"])
        meta = getattr(ds, "file_meta", None)
        return cls(
            frames=values.integer(ds, _T["NumberOfFrames"]) or 1,
            rows=values.integer(ds, _T["Rows"]) or 0,
            cols=values.integer(ds, _T["Columns"]) or 0,
            samples=values.integer(ds, _T["SamplesPerPixel"]) or 1,
            bits_allocated=allocated,
            bits_stored=stored,
            high_bit=high_bit if high_bit is not None else stored - 1,
            signed=values.integer(ds, _T["PixelRepresentation"]) == 1,
            transfer_syntax=values.text(meta, _TRANSFER_SYNTAX_UID),
        )

    @property
    def native_dtype(self) -> np.dtype[Any] | None:
        """The numpy dtype that views uncompressed little-endian data, else None (a codec
        plugin is needed)."""
        if self.transfer_syntax not in _NATIVE_LITTLE_ENDIAN or self.high_bit != (
            self.bits_stored - 1
        ):
            return None
        code = _DTYPES.get((self.bits_allocated, int(self.signed)))
        return np.dtype(code) if code is not None else None


def stored_frames(ds: Dataset, fmt: PixelFormat, name: str) -> NDArray[Any]:
    """Stored values of every frame, shape (frames, rows, columns), the file's integer dtype.

    Args:
        ds: A parsed greyscale image with PixelData.
        fmt: Its pixel format.
        name: The file name, for messages.

    Raises:
        CaseImportError: if there is no pixel data, it is colour, truncated, or cannot be
            decoded.
    """
    elem = ds.get_item(_PIXEL_DATA)
    if elem is None or isinstance(elem, Dataset):
        raise CaseImportError(f"'{name}' is truncated or incomplete: it has no pixel data.")
    if fmt.samples != 1:
        raise CaseImportError(
            f"'{name}' is a colour image ({fmt.samples} samples per pixel): MRI import needs "
            "greyscale images."
        )
    shape = (fmt.frames, fmt.rows, fmt.cols)
    if min(shape) <= 0:
        raise CaseImportError(
            f"'{name}' gives no image size (Rows {fmt.rows}, Columns {fmt.cols}, "
            f"frames {fmt.frames})."
        )
    dtype = fmt.native_dtype
    if dtype is None:
        return _decode_with_plugins(ds, fmt, name)
    count = fmt.frames * fmt.rows * fmt.cols
    data = elem.value  # the raw bytes: no conversion needed for OB/OW
    if not isinstance(data, bytes):
        raise CaseImportError(f"'{name}' is truncated or incomplete: it has no pixel data.")
    expected = count * dtype.itemsize
    if len(data) < expected:
        raise CaseImportError(
            f"'{name}' is truncated: its pixel data holds {len(data)} of {expected} bytes."
        )
    arr: NDArray[Any] = np.frombuffer(data, dtype=dtype, count=count).reshape(shape)
    return _clear_unused_bits(arr, fmt.bits_stored)


def _clear_unused_bits(arr: NDArray[Any], bits_stored: int) -> NDArray[Any]:
    """Values as `bits_stored`-bit integers, as pydicom does (PS3.5 8.1.1): high bits cleared
    (unsigned) or sign-extended (signed); copies only when some value needs it."""
    bits = arr.dtype.itemsize * 8
    if not 0 < bits_stored < bits or arr.size == 0:
        return arr
    signed = arr.dtype.kind == "i"
    low, high = (
        (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1)
        if signed
        else (0, (1 << bits_stored) - 1)
    )
    if int(arr.min()) >= low and int(arr.max()) <= high:
        return arr
    shift = bits - bits_stored
    fixed: NDArray[Any] = np.right_shift(np.left_shift(arr, shift), shift)
    return fixed


def _decode_with_plugins(ds: Dataset, fmt: PixelFormat, name: str) -> NDArray[Any]:
    syntax = UID(fmt.transfer_syntax).name if fmt.transfer_syntax else "unknown transfer syntax"
    try:
        arr: NDArray[Any] = ds.pixel_array
    except Exception as exc:  # the codec plugins raise many types (RuntimeError, ValueError...)
        raise CaseImportError(
            f"'{name}': its pixel data ({syntax}) cannot be decoded: {str(exc)[:200]}"
        ) from exc
    if arr.size != fmt.frames * fmt.rows * fmt.cols:
        raise CaseImportError(
            f"'{name}': decoded pixel data ({syntax}) has shape {arr.shape}, expected "
            f"{fmt.frames} frame(s) of {fmt.rows}x{fmt.cols}."
        )
    out: NDArray[Any] = arr.reshape(fmt.frames, fmt.rows, fmt.cols)
    return out
