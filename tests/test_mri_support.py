"""Helpers for the MRI import tests: small synthetic DICOM slices written with pydicom.

Holds no tests. Every synthetic value (positions, pixels, rescale) is chosen here, so the tests
compare the importer against this ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
PATIENT_NAME = "DOE^JANE"
PATIENT_ID = "PID-0047-11"


def slice_pixels(k: int, rows: int = 8, cols: int = 6, seed: int = 0) -> np.ndarray:
    """Distinct uint16 pixels for slice k: (rows, cols)."""
    rng = np.random.default_rng(seed * 1000 + k)
    return rng.integers(0, 4000, size=(rows, cols), dtype=np.uint16)


def write_slice(
    path: Path,
    *,
    position: Sequence[float] | None,
    orientation: Sequence[float] | None = AXIAL,
    pixels: np.ndarray,
    series_uid: str,
    pixel_spacing: Sequence[float] | None = (0.8, 0.7),
    slope: float | None = None,
    intercept: float | None = None,
    instance: int = 1,
    **extra: Any,
) -> Path:
    """Write one single-frame MR slice (explicit VR little endian) and return its path.

    Args:
        path: Where to write.
        position: ImagePositionPatient, or None to leave it out.
        orientation: ImageOrientationPatient, or None to leave it out.
        pixels: (rows, cols) uint16 stored values.
        series_uid: SeriesInstanceUID.
        pixel_spacing: PixelSpacing (row, column), or None to leave it out.
        slope: RescaleSlope, or None to leave it out.
        intercept: RescaleIntercept, or None to leave it out.
        instance: InstanceNumber.
        extra: Further elements by keyword (EchoNumbers=2, SeriesDescription="art"...).
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    sop = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
    ds.Modality = "MR"
    ds.PatientName, ds.PatientID = PATIENT_NAME, PATIENT_ID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    if pixel_spacing is not None:
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
    ds.SliceThickness = 3.0
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_stack(
    folder: Path,
    z_mm: Sequence[float],
    *,
    series_uid: str | None = None,
    orientation: Sequence[float] = AXIAL,
    origin: Sequence[float] = (-20.0, -30.0, 0.0),
    name: str = "s",
    seed: int = 0,
    **extra: Any,
) -> tuple[list[Path], list[np.ndarray]]:
    """Write slices at distances `z_mm` along the normal of `orientation` from `origin`.

    Returns:
        (paths, pixels) in the order of `z_mm`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    uid = series_uid or generate_uid()
    iop = np.asarray(orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    paths, images = [], []
    for k, z in enumerate(z_mm):
        pixels = slice_pixels(k, seed=seed)
        position = np.asarray(origin, dtype=float) + z * normal
        paths.append(
            write_slice(
                folder / f"{name}{k:03d}.dcm",
                position=position,
                orientation=orientation,
                pixels=pixels,
                series_uid=uid,
                instance=k + 1,
                **extra,
            )
        )
        images.append(pixels)
    return paths, images


def read_all(path: Path) -> pydicom.Dataset:
    """A file read whole by pydicom (the reference for tag-derived expectations)."""
    return pydicom.dcmread(path)
