"""Open one DICOM file and tell what it holds: a cross-sectional image, another image, or no image.

Each file is read once, into memory, and parsed by pydicom with only the top-level elements
the importer uses (`IMPORT_KEYWORDS`; `NESTED_KEYWORDS` are those it reads inside sequences),
which skips most of the vendors' private elements. A file whose meta header names a known
little-endian, non-deflated transfer syntax is parsed with pydicom's documented building blocks
(`read_preamble`, then `read_dataset` for the meta group and for the dataset), which saves
`dcmread`'s `FileDataset` bookkeeping (about a third of a classic slice's parse); any other file
goes through `dcmread` itself. For files larger than `LARGE_FILE_BYTES` the file meta header (a
few hundred bytes) gives the SOP class first, so a large whole-slide pyramid or another non-MR/CT
object is never read in full here.

Errors are `CaseImportError`s whose message names the file (by name only: folder names can hold
patient names) and says what is wrong.
"""

from __future__ import annotations

import functools
import io
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from struct import error as StructError

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_preamble
from pydicom.tag import BaseTag, Tag
from pydicom.uid import (
    UID,
    CTImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    LegacyConvertedEnhancedCTImageStorage,
    LegacyConvertedEnhancedMRImageStorage,
    MRImageStorage,
)

from app.errors import CaseImportError
from app.imaging.element_values import ElementValues

log = logging.getLogger(__name__)

CROSS_SECTIONAL_SOP_CLASSES = frozenset(
    {
        MRImageStorage,
        EnhancedMRImageStorage,
        LegacyConvertedEnhancedMRImageStorage,
        CTImageStorage,
        EnhancedCTImageStorage,
        LegacyConvertedEnhancedCTImageStorage,
    }
)
"""SOP classes imported as volumes; other image objects go to `MriImport.other_images`."""

IMPORT_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "Modality",
    "SeriesInstanceUID",
    "SeriesDescription",
    "FrameOfReferenceUID",
    "ImageType",
    "InstanceNumber",
    "AcquisitionNumber",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "ContrastBolusAgent",
    "ContrastBolusStartTime",
    "ContrastBolusAgentSequence",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "EchoNumbers",
    "EchoTime",
    "TemporalPositionIdentifier",
    "TriggerTime",
    "DiffusionBValue",
    "RescaleSlope",
    "RescaleIntercept",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "FrameTime",
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PlanarConfiguration",
    "DimensionIndexSequence",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "PixelData",
)
"""Top-level elements the importer reads; everything else is skipped while parsing."""

NESTED_KEYWORDS = (
    "CodeMeaning",
    "DimensionIndexPointer",
    "PlanePositionSequence",
    "PlaneOrientationSequence",
    "PixelMeasuresSequence",
    "PixelValueTransformationSequence",
    "FrameContentSequence",
    "TemporalPositionIndex",
    "StackID",
    "DimensionIndexValues",
    "FrameAcquisitionDateTime",
    "FrameAcquisitionNumber",
    "MREchoSequence",
    "EffectiveEchoTime",
    "MRDiffusionSequence",
    "MRImageFrameTypeSequence",
    "CTImageFrameTypeSequence",
    "FrameType",
    "CardiacSynchronizationSequence",
    "NominalCardiacTriggerDelayTime",
)
"""Attributes read inside sequence items (functional groups, codes); the top-level ones are
`IMPORT_KEYWORDS`. pydicom parses a kept sequence's items whole."""

_IMPORT_TAGS: list[BaseTag | int] = [Tag(k) for k in IMPORT_KEYWORDS]
_SOP_CLASS_UID = Tag("SOPClassUID")
_TRANSFER_SYNTAX_UID = Tag("TransferSyntaxUID")
LARGE_FILE_BYTES = 64 * 2**20
"""Files larger than this are classified from their file meta header before being read."""
_PIXEL_TAGS: list[BaseTag | int] = [
    Tag(k) for k in ("SOPClassUID", "PixelData", "FloatPixelData", "DoubleFloatPixelData")
]
_PARSE_ERRORS = (EOFError, OSError, StructError, ValueError, KeyError, IndexError, TypeError)
"""What pydicom raises on truncated or corrupt files (besides InvalidDicomError)."""


class DicomKind(StrEnum):
    """What a DICOM file holds, as far as the MRI importer is concerned."""

    CROSS_SECTIONAL = "cross_sectional"  # MR or CT image: becomes a volume
    OTHER_IMAGE = "other_image"  # e.g. VL Whole Slide Microscopy: another importer's
    NON_IMAGE = "non_image"  # presentation state, SR, KO...: no pixel data


@dataclass(frozen=True)
class DicomObject:
    """One opened DICOM file.

    Attributes:
        path: The file.
        kind: What it holds.
        sop_class_name: Human name of its SOP class ("MR Image Storage"), or its UID.
        dataset: The parsed `IMPORT_KEYWORDS` elements with pixel data, for CROSS_SECTIONAL
            files; None otherwise.
    """

    path: Path
    kind: DicomKind
    sop_class_name: str
    dataset: Dataset | None = None


def is_dicom_file(path: Path) -> bool:
    """Whether a file starts with a DICOM preamble ('DICM' at byte 128); False if unreadable."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def read_dicom_header(path: Path) -> Dataset:
    """All elements of a DICOM file except its pixel data.

    Raises:
        CaseImportError: if the file is empty, unreadable, not DICOM, or truncated in its header.
    """
    _size(path)
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise _not_dicom(path) from exc
    except _PARSE_ERRORS as exc:
        raise _corrupt(path, exc) from exc


def open_dicom(path: Path, values: ElementValues | None = None) -> DicomObject:
    """Open a DICOM file and classify it, reading MR/CT files (with pixel data) in one pass.

    Files up to `LARGE_FILE_BYTES` are read into memory and parsed once; for larger ones the
    file meta header is read first, so that a large non-MR/CT object is never read whole.

    Args:
        path: The file.
        values: The importer's value cache, when it reads many files.

    Raises:
        CaseImportError: if the file is empty, unreadable, not DICOM, or truncated or corrupt
            before its pixel data. (Pixel data is checked when it is decoded.)
    """
    if _size(path) > LARGE_FILE_BYTES:
        try:
            sop = pydicom.filereader.read_file_meta_info(path).get("MediaStorageSOPClassUID")
        except InvalidDicomError as exc:
            raise _not_dicom(path) from exc
        except _PARSE_ERRORS as exc:
            raise _corrupt(path, exc) from exc
        if sop and sop not in CROSS_SECTIONAL_SOP_CLASSES:
            return _open_other(path, sop)
    values = values or ElementValues()
    try:
        ds = _read_import_dataset(path.read_bytes(), values)
    except InvalidDicomError as exc:
        raise _not_dicom(path) from exc
    except _PARSE_ERRORS as exc:
        raise _corrupt(path, exc) from exc
    meta = getattr(ds, "file_meta", None)
    sop = values.text(ds, _SOP_CLASS_UID) or (meta.get("MediaStorageSOPClassUID") if meta else None)
    if not sop:
        raise CaseImportError(
            f"'{path.name}' is truncated or corrupt: it has no SOP Class UID, so what it holds "
            "is unknown."
        )
    if sop in CROSS_SECTIONAL_SOP_CLASSES:
        return DicomObject(path, DicomKind.CROSS_SECTIONAL, _name(sop), ds)
    has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    kind = DicomKind.OTHER_IMAGE if has_pixels else DicomKind.NON_IMAGE
    return DicomObject(path, kind, _name(sop))


def _read_import_dataset(data: bytes, values: ElementValues) -> Dataset:
    """The `IMPORT_KEYWORDS` elements (and file meta) of a whole file in memory, by pydicom.

    Reads the preamble and the group-2 meta elements with `read_preamble` and `read_dataset`;
    when the meta group is explicit VR, names a known little-endian, non-deflated transfer
    syntax and no command set (group 0000) follows, `read_dataset` parses the dataset, else
    `dcmread` parses the whole file (deflate, big endian, implicit VR meta, private or missing
    syntaxes...).

    Raises:
        InvalidDicomError: if there is no 'DICM' marker after the preamble.
    """
    fp = io.BytesIO(data)
    read_preamble(fp, False)
    meta = read_dataset(fp, False, True, stop_when=_not_file_meta)
    implicit_vr = _implicit_vr(values.text(meta, _TRANSFER_SYNTAX_UID))
    command_set = data[fp.tell() : fp.tell() + 2] == b"\0\0"
    if implicit_vr is None or meta.original_encoding[0] is not False or command_set:
        return pydicom.dcmread(io.BytesIO(data), specific_tags=_IMPORT_TAGS)
    ds = read_dataset(fp, implicit_vr, True, specific_tags=_IMPORT_TAGS)
    ds.file_meta = FileMetaDataset(meta)
    return ds


def _not_file_meta(tag: BaseTag, vr: str | None, length: int) -> bool:
    """`read_dataset`'s stop_when: True past the group-2 file meta elements."""
    return tag >> 16 != 2


@functools.lru_cache(maxsize=16)
def _implicit_vr(transfer_syntax: str) -> bool | None:
    """Whether a known little-endian, non-deflated transfer syntax is implicit VR; None for
    any other (`dcmread` reads those files)."""
    uid = UID(transfer_syntax)
    if not uid or not uid.is_transfer_syntax or uid.is_deflated or not uid.is_little_endian:
        return None
    return uid.is_implicit_VR


def non_image_reason(obj: DicomObject) -> str:
    """Why a NON_IMAGE object is skipped, for `MriImport.skipped`."""
    return f"{obj.sop_class_name} object: not an image (no pixel data)"


def _open_other(path: Path, sop: str) -> DicomObject:
    """Classify a large file of a non-MR/CT SOP class without reading its pixel data."""
    if "Image Storage" in _name(sop):
        return DicomObject(path, DicomKind.OTHER_IMAGE, _name(sop))
    try:
        ds = pydicom.dcmread(path, specific_tags=_PIXEL_TAGS, defer_size=1024)
    except InvalidDicomError as exc:
        raise _not_dicom(path) from exc
    except _PARSE_ERRORS as exc:
        raise _corrupt(path, exc) from exc
    has_pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    kind = DicomKind.OTHER_IMAGE if has_pixels else DicomKind.NON_IMAGE
    return DicomObject(path, kind, _name(sop))


@functools.lru_cache(maxsize=64)
def _name(sop: str) -> str:
    name = UID(sop).name
    return name if name != sop else f"SOP class {sop}"


def _size(path: Path) -> int:
    """The file size in bytes; raises for unreadable or empty files."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CaseImportError(f"'{path.name}' cannot be read: {exc.strerror}.") from exc
    if size == 0:
        raise CaseImportError(f"'{path.name}' is empty (0 bytes).")
    return size


def _not_dicom(path: Path) -> CaseImportError:
    return CaseImportError(
        f"'{path.name}' is not a DICOM file (no 'DICM' marker after the 128-byte preamble)."
    )


def _corrupt(path: Path, exc: Exception) -> CaseImportError:
    log.debug("%s while parsing a DICOM file", type(exc).__name__)
    if isinstance(exc, OSError) and exc.strerror:
        return CaseImportError(f"'{path.name}' cannot be read: {exc.strerror}.")
    return CaseImportError(
        f"'{path.name}' is a truncated or corrupt DICOM file: its header cannot be parsed."
    )
