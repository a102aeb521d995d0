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


LARGE_SLIDE_PX = 50_176
"""Edge of the generated benchmark slide: 196 tiles of 256 px, at least 50,000 px."""
_TEXTURE_PX = 1024
_TISSUE_BLOCK_PX = 8192


def _he_texture(seed: int) -> np.ndarray:
    """(1024, 1024, 3) uint8 H&E-like texture, periodic, from smoothed noise (deterministic)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((_TEXTURE_PX // 8, _TEXTURE_PX // 8)).astype(np.float32)
    coarse = np.kron(noise, np.ones((8, 8), dtype=np.float32))
    coarse = (
        coarse + np.roll(coarse, 4, 0) + np.roll(coarse, 4, 1) + np.roll(coarse, 4, (0, 1))
    ) / 4
    fine = rng.random((_TEXTURE_PX, _TEXTURE_PX)).astype(np.float32)
    field = 0.9 * coarse + 0.1 * fine  # nuclei-like grain on a smooth stroma
    pink, purple = np.array([232, 170, 200], np.float32), np.array([110, 60, 150], np.float32)
    weight = np.clip((field - 0.35) * 2.5, 0.0, 1.0)[..., None]
    return (pink * (1 - weight) + purple * weight).astype(np.uint8)


def write_large_slide(path: Path, *, size_px: int = LARGE_SLIDE_PX, seed: int = 0) -> Path:
    """A `size_px` x `size_px` pyramidal JPEG TIFF (app.slides.write_pyramidal_tiff).

    Tissue (a periodic H&E-like texture) fills 8192 px blocks in a checkerboard; the other
    blocks are white glass, as on a real slide. Deterministic: the same seed, the same bytes.
    """
    from app.slides import write_pyramidal_tiff

    texture = np.tile(_he_texture(seed), (3, 3, 1))  # any 2048 px window, wrapped

    def region(x: int, y: int, width: int, height: int) -> np.ndarray:
        out = np.empty((height, width, 3), dtype=np.uint8)
        for by in range(y, y + height, _TISSUE_BLOCK_PX):
            for bx in range(x, x + width, _TISSUE_BLOCK_PX):
                bh = min(y + height, (by // _TISSUE_BLOCK_PX + 1) * _TISSUE_BLOCK_PX) - by
                bw = min(x + width, (bx // _TISSUE_BLOCK_PX + 1) * _TISSUE_BLOCK_PX) - bx
                dst = out[by - y : by - y + bh, bx - x : bx - x + bw]
                if (bx // _TISSUE_BLOCK_PX + by // _TISSUE_BLOCK_PX) % 2:
                    dst[...] = 255
                    continue
                for ty in range(0, bh, _TEXTURE_PX):
                    for tx in range(0, bw, _TEXTURE_PX):
                        h, w = min(_TEXTURE_PX, bh - ty), min(_TEXTURE_PX, bw - tx)
                        oy, ox = (by + ty) % _TEXTURE_PX, (bx + tx) % _TEXTURE_PX
                        dst[ty : ty + h, tx : tx + w] = texture[oy : oy + h, ox : ox + w]
        return out

    path.parent.mkdir(parents=True, exist_ok=True)
    write_pyramidal_tiff(
        path,
        region,
        mpp=0.25,
        description="SYNTHETIC benchmark slide",
        size=(size_px, size_px),
        quality=75,
    )
    return path
