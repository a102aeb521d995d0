"""Deterministic benchmark inputs: large DICOM series and a multi-phase case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def write_series(
    folder: Path,
    *,
    slices: int,
    rows: int = 256,
    cols: int = 256,
    seed: int = 0,
    description: str = "BENCH T1 SYNTHETIC",
    frame_of_reference: str | None = None,
) -> list[Path]:
    """Write an axial MR series of `slices` int16 slices (1 x 1 mm, 2 mm apart), shuffled names.

    Returns:
        The written paths, in file-name order (not slice order).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    series_uid = generate_uid(entropy_srcs=[f"bench-series-{seed}-{description}"])
    study_uid = generate_uid(entropy_srcs=[f"bench-study-{seed}"])
    for_uid = frame_of_reference or generate_uid(entropy_srcs=[f"bench-for-{seed}"])
    order = rng.permutation(slices)
    base = (rng.random((rows, cols)) * 800).astype(np.int16)
    paths = []
    for n, k in enumerate(order):
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        sop = generate_uid(entropy_srcs=[f"bench-sop-{seed}-{description}-{k}"])
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
        ds.Modality = "MR"
        ds.PatientName, ds.PatientID = "SYNTHETIC^BENCH", "SYNTHETIC-BENCH"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = for_uid
        ds.SeriesDescription = description
        ds.InstanceNumber = int(k) + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-128.0, -128.0, float(-300 + 2 * k)]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 2.0
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1.5, -10.0
        ds.PixelData = np.roll(base, int(k), axis=1).tobytes()
        path = folder / f"IM{n:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return sorted(paths)
