"""Finding the instances of a DICOM whole-slide image (VL Whole Slide Microscopy) series."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset, config, dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from app.errors import CaseImportError

log = logging.getLogger(__name__)

WSI_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.77.1.6"
"""VL Whole Slide Microscopy Image Storage."""

_SERIES_TAGS = ["SOPClassUID", "SeriesInstanceUID"]


@dataclass(frozen=True)
class WsiInstance:
    """One file of a DICOM-WSI series, with its header (no pixel data)."""

    path: Path
    header: Dataset

    @property
    def image_flavor(self) -> str:
        """ImageType value 3: "VOLUME", "LABEL", "OVERVIEW" or "THUMBNAIL" ("VOLUME" if absent)."""
        image_type = self.header.get("ImageType")
        if image_type is not None and len(image_type) >= 3:
            return str(image_type[2]).upper()
        return "VOLUME"


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Turn off pydicom's value validation (warnings and log lines) while reading headers.

    Real scanner files often hold over-long UIDs or names; that is not the user's problem and
    must not fill the log (nor echo names into it).
    """
    previous = config.settings.reading_validation_mode
    config.settings.reading_validation_mode = config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        config.settings.reading_validation_mode = previous


def read_dicom_header(path: Path, tags: list[str] | None = None) -> Dataset | None:
    """The header of a DICOM file (no pixel data), or None if the file is not DICOM.

    Args:
        path: Any file.
        tags: Keywords to read (faster); None reads every element before Pixel Data.

    Raises:
        CaseImportError: if the file is DICOM but its header is damaged.
    """
    try:
        with quiet_pydicom():
            header = dcmread(path, stop_before_pixels=True, specific_tags=tags)
            for _ in header:  # decode the top-level values now, while validation is off
                pass
            return header
    except InvalidDicomError:
        return None
    except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise CaseImportError(f"'{path.name}' has a damaged DICOM header ({exc}).") from exc


def is_dicom_wsi_file(path: Path) -> bool:
    """Whether `path` is a DICOM file of a whole-slide image (by its SOP class)."""
    if not path.is_file():
        return False
    try:
        header = read_dicom_header(path, _SERIES_TAGS)
    except CaseImportError:
        return False
    return header is not None and header.get("SOPClassUID") == WSI_SOP_CLASS_UID


def group_wsi_files(paths: Sequence[Path]) -> list[list[Path]]:
    """DICOM-WSI files grouped by series (SeriesInstanceUID), each group sorted; files that
    are not DICOM-WSI are left out. Open a group with ``open_slide(group[0])``."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        try:
            header = read_dicom_header(path, _SERIES_TAGS)
        except CaseImportError:
            continue
        if header is not None and header.get("SOPClassUID") == WSI_SOP_CLASS_UID:
            groups.setdefault(str(header.get("SeriesInstanceUID", "")), []).append(path)
    return [sorted(group) for group in groups.values()]


def find_wsi_instances(path: Path) -> list[WsiInstance]:
    """Every instance of the DICOM-WSI series that `path` belongs to.

    Args:
        path: One file of the series (its siblings in the same folder are searched), or a
            folder holding exactly one series.

    Returns:
        Instances sorted by file name, each with its full header.

    Raises:
        CaseImportError: if `path` is not a DICOM-WSI file, or the folder holds none or several
            DICOM-WSI series.
    """
    if path.is_dir():
        series_uid = _single_series(path)
        folder = path
    else:
        header = read_dicom_header(path, _SERIES_TAGS)
        if header is None:
            raise CaseImportError(f"'{path.name}' is not a DICOM file.")
        sop_class = header.get("SOPClassUID")
        if sop_class != WSI_SOP_CLASS_UID:
            kind = UID(sop_class).name if sop_class else "no SOP class"
            raise CaseImportError(
                f"'{path.name}' is a DICOM file but not a whole-slide image ({kind})."
            )
        series_uid = str(header.get("SeriesInstanceUID", ""))
        folder = path.parent
    instances = []
    for candidate in sorted(p for p in folder.iterdir() if p.is_file()):
        if candidate != path and not _in_series(candidate, series_uid):
            continue
        header = read_dicom_header(candidate)
        if header is not None:
            instances.append(WsiInstance(candidate, header))
    log.debug("DICOM-WSI series of %d instances", len(instances))
    return instances


def _in_series(path: Path, series_uid: str) -> bool:
    try:
        header = read_dicom_header(path, _SERIES_TAGS)
    except CaseImportError:
        return False
    return (
        header is not None
        and header.get("SOPClassUID") == WSI_SOP_CLASS_UID
        and str(header.get("SeriesInstanceUID", "")) == series_uid
    )


def _single_series(folder: Path) -> str:
    uids = set()
    for candidate in folder.iterdir():
        if not candidate.is_file():
            continue
        try:
            header = read_dicom_header(candidate, _SERIES_TAGS)
        except CaseImportError:
            continue
        if header is not None and header.get("SOPClassUID") == WSI_SOP_CLASS_UID:
            uids.add(str(header.get("SeriesInstanceUID", "")))
    if not uids:
        raise CaseImportError(f"Folder '{folder.name}' holds no DICOM whole-slide image.")
    if len(uids) > 1:
        raise CaseImportError(
            f"Folder '{folder.name}' holds {len(uids)} DICOM whole-slide series; "
            "open one of their files instead."
        )
    return uids.pop()
