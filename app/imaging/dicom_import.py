"""DICOM MRI import: files in, one `MriSeries` per reconstructed geometry out.

`load_mri` reads each file once (header and pixels together; the OS is asked to read the next
files ahead, and worker threads decode compressed pixel data while the main thread parses), then:

1. groups frames by SeriesInstanceUID, and within a series by geometry (matrix size,
   orientation, pixel spacing): a series whose orientation or size changes becomes several
   entries, with a warning;
2. orders each geometry's frames along the slice normal (row cosine x column cosine), with the
   slice spacing from ImagePositionPatient (`app.imaging.slice_layout`: gaps, non-uniform
   spacing, sheared stacks);
3. splits repeated positions into volumes (`app.imaging.volume_split`: echoes, time points,
   label/control pairs... or ignored duplicates);
4. applies rescale slope/intercept per frame into a (V, Z, Y, X) float32 array, and labels the
   contrast phase (`app.imaging.phase`).

Files that cannot be read become `errors` entries naming the file; non-image objects
(presentation states, SR, KO...) are `skipped` with the reason; image objects that are not
MR/CT (e.g. DICOM whole-slide images) are listed in `other_images` for another importer. A
DICOM image without ImagePositionPatient/ImageOrientationPatient/PixelSpacing is an error (it
cannot be placed in patient space): this includes old files such as the ACR-NEMA-era
``MR-MONO2-8-16x-heart.dcm`` sample. No patient name or identifier is read, logged or returned.

The user can relabel a series' phase later with `set_phase`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.errors import CaseImportError
from app.imaging.dicom_files import (
    DicomKind,
    is_dicom_file,
    non_image_reason,
    open_dicom,
    read_dicom_header,
)
from app.imaging.element_values import ElementValues
from app.imaging.frames import FileFrames, Frame, describe_frames
from app.imaging.phase import infer_phase
from app.imaging.pixels import PixelFormat, stored_frames
from app.imaging.series import MriSeries, Phase
from app.imaging.slice_layout import (
    DRIFT_TOL_MM,
    cluster_positions,
    in_plane_drift_mm,
    layout_slices,
)
from app.imaging.volume_split import split_volumes
from app.progress import ProgressFn, check_cancel, no_progress

__all__ = [
    "MriImport",
    "MriSeries",
    "Phase",
    "is_dicom_file",
    "load_mri",
    "read_dicom_header",
    "set_phase",
]

log = logging.getLogger(__name__)

DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))
"""Worker threads for compressed pixel data (the codecs run outside the GIL)."""
READ_AHEAD_FILES = 8
"""Files the OS is asked to read into its cache (posix_fadvise WILLNEED) ahead of the parse.
Reading them in worker threads instead cost more in GIL hand-overs than it saved."""
THREADED_RESCALE_VOXELS = 2**22
"""Volumes with at least this many voxels are rescaled by the worker threads; smaller ones on
the calling thread (a hand-over costs more than the work)."""
ORIENTATION_TOL = 1e-3
"""Direction cosines closer than this belong to one geometry."""
PIXEL_SPACING_RTOL = 1e-3
"""Relative pixel-spacing difference tolerated within one geometry."""

_SOP_INSTANCE_UID = 0x00080018


@dataclass
class MriImport:
    """What `load_mri` made of a list of files.

    Attributes:
        series: One entry per reconstructed geometry, in acquisition order.
        skipped: (file, reason) for non-image objects (presentation states, SR, KO...) and
            repeated copies of one SOP instance.
        errors: (file, message naming the file) for files that could not be imported.
        other_images: DICOM image objects that are not MR/CT (e.g. VL Whole Slide Microscopy,
            secondary captures), for another importer.
    """

    series: list[MriSeries] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)
    other_images: list[Path] = field(default_factory=list)


@dataclass
class _ReadFile:
    path: Path
    content: FileFrames
    pixels: NDArray[Any] | Future[NDArray[Any]] | None  # (frames, rows, cols) stored values


def load_mri(
    paths: Sequence[Path],
    *,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> MriImport:
    """Import DICOM files as MRI volumes, one `MriSeries` per geometry (see the module doc).

    Args:
        paths: DICOM files, in any order (folders are not walked: see `app.case`).
        progress: Called as (done, total) with total = 2 x len(paths): one step per file
            read, one per file decoded.
        cancel: Set it to stop; checked between files and between series.

    Returns:
        The imported series, skipped objects, errors and non-MR/CT images. One bad file never
        stops the others.

    Raises:
        Cancelled: if `cancel` was set.
    """
    paths = [p if isinstance(p, Path) else Path(p) for p in paths]
    total = 2 * len(paths)
    result = MriImport()
    values = ElementValues()
    read: list[_ReadFile] = []
    first_of_sop: dict[str, Path] = {}
    pool = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="dicom-decode")
    try:
        for path in paths[:READ_AHEAD_FILES]:
            _advise_read_ahead(path)
        for i, path in enumerate(paths):
            check_cancel(cancel)
            if i + READ_AHEAD_FILES < len(paths):
                _advise_read_ahead(paths[i + READ_AHEAD_FILES])
            _read_file(path, values, pool, first_of_sop, read, result)
            progress(i + 1, total)
        _collect_pixels(read, result, cancel, progress, len(paths))
        groups = _group_by_geometry(read)
        per_series: dict[str, int] = {}
        for uid, _ in groups:
            per_series[uid] = per_series.get(uid, 0) + 1
        built = []
        for g, (uid, frames) in enumerate(groups):
            check_cancel(cancel)
            series = _build_series(frames, read, per_series[uid], pool)
            key = series.acquisition_time_s if series.acquisition_time_s is not None else np.inf
            built.append((key, uid, g, series))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    result.series = [s for *_, s in sorted(built, key=lambda b: b[:3])]
    progress(total, total)
    log.info(
        "MRI import: %d geometries from %d files; %d skipped, %d errors, %d other images",
        len(result.series),
        len(paths),
        len(result.skipped),
        len(result.errors),
        len(result.other_images),
    )
    return result


def set_phase(series: MriSeries, phase: Phase) -> None:
    """Relabel a series' contrast phase: the user's choice replaces what the headers said."""
    series.phase = Phase(phase)
    series.phase_source = "set by the user"


def _advise_read_ahead(path: Path) -> None:
    """Ask the OS to start reading a file into its page cache, so that a cold disk read
    overlaps the parsing of the files before it (no-op where posix_fadvise is missing)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # `open_dicom` says what is wrong with the file
    try:
        advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_file(
    path: Path,
    values: ElementValues,
    pool: ThreadPoolExecutor,
    first_of_sop: dict[str, Path],
    read: list[_ReadFile],
    result: MriImport,
) -> None:
    """Open, classify and describe one file; start decoding its pixels."""
    try:
        obj = open_dicom(path, values)
        if obj.kind is DicomKind.OTHER_IMAGE:
            result.other_images.append(path)
            return
        if obj.kind is DicomKind.NON_IMAGE or obj.dataset is None:
            result.skipped.append((path, non_image_reason(obj)))
            return
        ds = obj.dataset
        sop = values.text(ds, _SOP_INSTANCE_UID)
        if sop and sop in first_of_sop:
            result.skipped.append(
                (path, f"a copy of '{first_of_sop[sop].name}' (same SOP Instance UID)")
            )
            return
        content = describe_frames(ds, file_index=len(read), name=path.name, values=values)
        fmt = PixelFormat.from_dataset(ds, values)
        pixels: NDArray[Any] | Future[NDArray[Any]] = (
            stored_frames(ds, fmt, path.name)
            if fmt.native_dtype is not None
            else pool.submit(stored_frames, ds, fmt, path.name)
        )
    except CaseImportError as exc:
        result.errors.append((path, exc.user_message))
        return
    except Exception as exc:  # a library error on a strange file must not lose the others
        log.debug("unexpected %s importing a DICOM file", type(exc).__name__)
        result.errors.append(
            (path, f"'{path.name}' could not be imported: unexpected {type(exc).__name__}.")
        )
        return
    if sop:
        first_of_sop[sop] = path
    read.append(_ReadFile(path, content, pixels))


def _collect_pixels(
    read: list[_ReadFile],
    result: MriImport,
    cancel: threading.Event | None,
    progress: ProgressFn,
    n_paths: int,
) -> None:
    """Wait for the decoding threads; a file that fails to decode becomes an error."""
    pending: dict[Future[NDArray[Any]], _ReadFile] = {
        rf.pixels: rf for rf in read if isinstance(rf.pixels, Future)
    }
    progress(2 * n_paths - len(pending), 2 * n_paths)
    while pending:
        check_cancel(cancel)
        done, _ = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
        for future in done:
            rf = pending.pop(future)
            try:
                rf.pixels = future.result()
            except CaseImportError as exc:
                result.errors.append((rf.path, exc.user_message))
                rf.pixels = None
            except Exception as exc:  # a codec error must not lose the other files
                log.debug("unexpected %s decoding DICOM pixel data", type(exc).__name__)
                result.errors.append(
                    (
                        rf.path,
                        f"'{rf.path.name}' pixel data could not be decoded: "
                        f"unexpected {type(exc).__name__}.",
                    )
                )
                rf.pixels = None
            progress(2 * n_paths - len(pending), 2 * n_paths)


def _rescale(jobs: list[tuple[NDArray[Any], NDArray[np.float32], float, float]]) -> None:
    """For each (stored (Y, X) frame, (Y, X) float32 target, slope, intercept): target =
    stored * slope + intercept."""
    for stored, target, slope, intercept in jobs:
        np.multiply(stored, np.float32(slope), out=target)
        if intercept:
            target += np.float32(intercept)


def _group_by_geometry(read: list[_ReadFile]) -> list[tuple[str, list[Frame]]]:
    """Frames of decoded files grouped by series and geometry, in first-seen order."""
    groups: list[tuple[str, list[Frame]]] = []
    for rf in read:
        if rf.pixels is None:
            continue
        uid = rf.content.info.series_instance_uid
        for frame in rf.content.frames:
            for g_uid, members in groups:
                if g_uid == uid and _same_geometry(members[0], frame):
                    members.append(frame)
                    break
            else:
                groups.append((uid, [frame]))
    return groups


def _same_geometry(a: Frame, b: Frame) -> bool:
    if (a.rows, a.cols) != (b.rows, b.cols):
        return False
    if max(abs(x - y) for x, y in zip(a.orientation, b.orientation, strict=True)) > (
        ORIENTATION_TOL
    ):
        return False
    return all(
        abs(x - y) <= PIXEL_SPACING_RTOL * max(x, y)
        for x, y in zip(a.pixel_spacing_mm, b.pixel_spacing_mm, strict=True)
    )


def _build_series(
    frames: list[Frame], read: list[_ReadFile], geometries: int, pool: ThreadPoolExecutor
) -> MriSeries:
    """One geometry's frames as an `MriSeries` (layout, volumes, rescale, phase); the rescale
    of a large volume is split over `pool`'s threads (numpy releases the GIL)."""
    ref = frames[0]
    iop = np.asarray(ref.orientation, dtype=np.float64)
    normal = np.cross(iop[:3], iop[3:])
    normal /= np.linalg.norm(normal)
    positions = np.asarray([f.position_mm for f in frames], dtype=np.float64)  # (N, 3)
    distances = positions @ normal  # (N,)
    slot_of_frame, n_slots = cluster_positions(distances)
    slot_mm = np.bincount(slot_of_frame, weights=distances) / np.bincount(slot_of_frame)
    split = split_volumes(frames, slot_of_frame.tolist(), slot_mm.tolist())
    layout = layout_slices(slot_mm, ref.slice_spacing_hint_mm)

    used = [i for i, v in enumerate(split.volume_of_frame) if v >= 0]
    first_in_slot: dict[int, int] = {}
    for i in sorted(used, key=lambda i: frames[i].order_key):
        first_in_slot.setdefault(int(slot_of_frame[i]), i)
    voxels = np.zeros((split.volume_count, layout.depth, ref.rows, ref.cols), dtype=np.float32)
    jobs: list[tuple[NDArray[Any], NDArray[np.float32], float, float]] = []
    for i in used:
        f = frames[i]
        pixels = read[f.file_index].pixels
        assert isinstance(pixels, np.ndarray)  # failed files were left out of the groups
        target = voxels[split.volume_of_frame[i], layout.z_of_slot[slot_of_frame[i]]]
        jobs.append((pixels[f.frame_index], target, f.slope, f.intercept))
    # large volumes: the workers take all chunks but the first, which this thread does itself
    parts = 1 if voxels.size < THREADED_RESCALE_VOXELS else DECODE_THREADS
    chunk = max(1, -(-len(jobs) // parts))
    others = [pool.submit(_rescale, jobs[k : k + chunk]) for k in range(chunk, len(jobs), chunk)]
    _rescale(jobs[:chunk])
    for future in others:
        future.result()

    file_indices = sorted({frames[i].file_index for i in used})
    files = tuple(read[k].path for k in file_indices)
    info = read[ref.file_index].content.info
    times = [t for i in used if (t := frames[i].acquisition_s) is not None]
    acquisition_s = min(times) if times else None
    phase, phase_source = infer_phase(
        info.series_description,
        contrast_agent=info.contrast_agent,
        bolus_start_s=info.bolus_start_s,
        acquisition_s=acquisition_s,
    )
    warnings = [w for k in file_indices for w in read[k].content.warnings]
    if geometries > 1:
        warnings.append(
            f"this series holds {geometries} geometries (orientation or matrix size change "
            "within it): each is a separate entry."
        )
    warnings += split.warnings + layout.warnings
    representatives = positions[[first_in_slot[s] for s in range(n_slots)]]
    drift = in_plane_drift_mm(representatives, normal)
    if drift > DRIFT_TOL_MM:
        warnings.append(
            f"slices are shifted in-plane by up to {drift:.2f} mm (a sheared stack): the "
            "volume places them straight along the slice normal."
        )
    origin = positions[first_in_slot[0]]
    dy, dx = ref.pixel_spacing_mm
    return MriSeries(
        source=files[0] if len(files) == 1 else Path(os.path.commonpath([p.parent for p in files])),
        series_instance_uid=info.series_instance_uid,
        series_description=info.series_description,
        phase=phase,
        files=files,
        frames=len(used),
        voxels=voxels,
        spacing_mm_zyx=(layout.spacing_mm, dy, dx),
        origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        image_orientation_patient=ref.orientation,
        frame_of_reference_uid=info.frame_of_reference_uid,
        volume_labels=split.labels,
        warnings=warnings,
        acquisition_time_s=acquisition_s,
        phase_source=phase_source,
        filled_slice_indices=layout.filled,
    )
