"""Opening a slide: picks the reader for a file, folder or DICOM-WSI series."""

from __future__ import annotations

from pathlib import Path

from app.errors import CaseImportError
from app.slides.dicom_reader import DicomSlideReader
from app.slides.dicom_series import read_dicom_header
from app.slides.openslide_reader import OpenSlideReader
from app.slides.reader import SlideReader
from app.slides.tile_cache import DEFAULT_TILE_CACHE_BYTES

SLIDE_EXTENSIONS = frozenset(
    {
        ".svs",
        ".ndpi",
        ".mrxs",
        ".tif",
        ".tiff",
        ".scn",
        ".bif",
        ".vms",
        ".vmu",
        ".svslide",
        ".qptiff",
    }
)
"""File extensions that OpenSlide reads (DICOM-WSI files are recognised by their header)."""


def is_slide_file(path: Path) -> bool:
    """Whether `path` looks like a slide file OpenSlide reads, by its extension alone."""
    return path.suffix.lower() in SLIDE_EXTENSIONS


def open_slide(path: Path, *, tile_cache_bytes: int = DEFAULT_TILE_CACHE_BYTES) -> SlideReader:
    """Open a whole-slide image for lazy reading.

    Args:
        path: A slide file (SVS, NDPI, MRXS, tiled TIFF...), any file of a DICOM-WSI series,
            or a folder holding one DICOM-WSI series.
        tile_cache_bytes: Bound of the reader's decoded-tile LRU. Default: 64 MiB.

    Returns:
        A reader; close it (or use it as a context manager) when done.

    Raises:
        CaseImportError: naming the file, if it is missing, empty, not a slide, or damaged.
    """
    if not path.exists():
        raise CaseImportError(f"'{path.name}' does not exist.")
    if path.is_dir():
        return DicomSlideReader(path, tile_cache_bytes=tile_cache_bytes)
    if path.stat().st_size == 0:
        raise CaseImportError(f"'{path.name}' is empty (0 bytes): it holds no slide.")
    if not is_slide_file(path):
        if read_dicom_header(path, ["SOPClassUID"]) is not None:
            return DicomSlideReader(path, tile_cache_bytes=tile_cache_bytes)
        if path.suffix.lower() in (".dcm", ".dicom"):
            raise CaseImportError(f"'{path.name}' is not a DICOM file (no DICOM header).")
    try:
        return OpenSlideReader(path, tile_cache_bytes=tile_cache_bytes)
    except PermissionError as exc:
        raise CaseImportError(f"'{path.name}' cannot be read: permission denied.") from exc
