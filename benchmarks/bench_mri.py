"""MRI series import (slices/s): ours vs a plain pydicom loop and SimpleITK, same run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.uid import generate_uid

from app.imaging.dicom_import import load_mri
from benchmarks.data import write_series
from benchmarks.framework import Result, interleaved_medians, timed


def plain_pydicom_loop(files: list[Path]) -> np.ndarray:
    """The reference: dcmread, pixel_array, sort along the normal, stack, rescale."""
    dss = [pydicom.dcmread(f) for f in files]
    iop = np.asarray(dss[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    dss.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, float), normal)))
    return np.stack(
        [
            d.pixel_array.astype(np.float32) * float(d.get("RescaleSlope", 1))
            + float(d.get("RescaleIntercept", 0))
            for d in dss
        ]
    )


def plain_pydicom_series(files: list[Path]) -> dict[str, np.ndarray]:
    """The reference for a multi-series case: the plain loop per SeriesInstanceUID."""
    groups: dict[str, list[Path]] = {}
    for f in files:
        uid = str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID)
        groups.setdefault(uid, []).append(f)
    return {uid: plain_pydicom_loop(group) for uid, group in groups.items()}


def sitk_all_series(folders: list[Path]) -> list[np.ndarray]:
    """SimpleITK's ImageSeriesReader on each series GDCM finds in each folder."""
    out = []
    for folder in folders:
        for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)):
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), uid))
            out.append(sitk.GetArrayFromImage(reader.Execute()))
    return out


def plain_pydicom_multiframe(files: list[Path]) -> list[np.ndarray]:
    """The reference for multi-frame objects: dcmread + pixel_array of each file."""
    return [pydicom.dcmread(f).pixel_array.astype(np.float32) for f in files]


def sitk_series(folder: Path) -> np.ndarray:
    """SimpleITK's ImageSeriesReader (GDCM) on a folder of one series."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


def sitk_files(files: list[Path]) -> list[np.ndarray]:
    """SimpleITK's ImageFileReader on each multi-frame file."""
    return [sitk.GetArrayFromImage(sitk.ReadImage(str(f))) for f in files]


def _row(metric: str, frames: int, ours_s: float, ref_s: float, target: float, ref: str) -> Result:
    ours, reference = frames / ours_s, frames / ref_s
    ratio = ours / reference
    return Result(
        metric=f"{metric} vs {ref}",
        ours=ours,
        reference=reference,
        ratio=ratio,
        target=f">= {target}x",
        passed=ratio >= target,
        unit="slices/s",
    )


def run(work: Path, shared_data: Path) -> list[Result]:
    """Classic 300-slice series, the real 25-slice liver series, and enhanced multi-frame."""
    results = []
    big = work / "mri300"
    files = write_series(big, slices=300)
    assert load_mri(files).series[0].shape_zyx[0] == 300
    t_ours, t_loop, t_sitk = interleaved_medians(
        [
            timed(lambda: load_mri(files)),
            timed(lambda: plain_pydicom_loop(files)),
            timed(lambda: sitk_series(big)),
        ]
    )
    results.append(
        _row("MRI import, classic 300 slices", 300, t_ours, t_loop, 1.25, "pydicom loop")
    )
    results.append(_row("MRI import, classic 300 slices", 300, t_ours, t_sitk, 2.0, "SimpleITK"))

    phases = [work / "phases4" / name for name in ("pre", "arterial", "portal", "delayed")]
    phase_files: list[Path] = []
    for_uid = generate_uid(entropy_srcs=["bench-4-phase-frame-of-reference"])
    for k, folder in enumerate(phases):
        phase_files += write_series(
            folder,
            slices=80,
            seed=10 + k,
            description=f"BENCH {folder.name.upper()}",
            frame_of_reference=for_uid,
        )
    assert len(load_mri(phase_files).series) == 4
    t_ours, t_loop, t_sitk = interleaved_medians(
        [
            timed(lambda: load_mri(phase_files)),
            timed(lambda: plain_pydicom_series(phase_files)),
            timed(lambda: sitk_all_series(phases)),
        ]
    )
    name = "MRI import, 4-phase case (4 x 80 slices)"
    results.append(_row(name, 320, t_ours, t_loop, 1.25, "pydicom loop"))
    results.append(_row(name, 320, t_ours, t_sitk, 2.0, "SimpleITK"))

    liver = shared_data / "mri" / "liver_philips_s401_T2W_TRA_BH"
    liver_files = sorted(liver.glob("IM_*.dcm"))
    liver_only = work / "liver"
    liver_only.mkdir()
    for f in liver_files:
        shutil.copy(f, liver_only / f.name)
    t_ours, t_loop, t_sitk = interleaved_medians(
        [
            timed(lambda: load_mri(liver_files)),
            timed(lambda: plain_pydicom_loop(liver_files)),
            timed(lambda: sitk_series(liver_only)),
        ],
        7,
    )
    n = len(liver_files)
    results.append(
        _row("MRI import, real liver 25 slices", n, t_ours, t_loop, 1.25, "pydicom loop")
    )
    results.append(_row("MRI import, real liver 25 slices", n, t_ours, t_sitk, 2.0, "SimpleITK"))

    enhanced = sorted((shared_data / "mri" / "enhanced_multiframe").glob("*.dcm"))
    frames = sum(int(pydicom.dcmread(f, stop_before_pixels=True).NumberOfFrames) for f in enhanced)
    t_ours, t_loop, t_sitk = interleaved_medians(
        [
            timed(lambda: load_mri(enhanced)),
            timed(lambda: plain_pydicom_multiframe(enhanced)),
            timed(lambda: sitk_files(enhanced)),
        ],
        7,
    )
    name = "MRI import, enhanced multi-frame"
    results.append(_row(name, frames, t_ours, t_loop, 1.25, "pydicom loop"))
    results.append(_row(name, frames, t_ours, t_sitk, 2.0, "SimpleITK"))
    return results
