"""An imported MRI geometry: one or more 3D volumes on the same DICOM grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class Phase(StrEnum):
    """Contrast phase of a liver MRI series."""

    PRE_CONTRAST = "pre_contrast"
    ARTERIAL = "arterial"
    PORTAL_VENOUS = "portal_venous"
    DELAYED = "delayed"  # transitional / delayed
    HEPATOBILIARY = "hepatobiliary"
    UNKNOWN = "unknown"


PHASE_NAMES: dict[Phase, str] = {
    Phase.PRE_CONTRAST: "Pre-contrast",
    Phase.ARTERIAL: "Arterial",
    Phase.PORTAL_VENOUS: "Portal venous",
    Phase.DELAYED: "Delayed / transitional",
    Phase.HEPATOBILIARY: "Hepatobiliary",
    Phase.UNKNOWN: "Unknown phase",
}
"""What the window, the screening form and the report call each phase."""


@dataclass
class MriSeries:
    """One reconstructed geometry of a DICOM MR series.

    Attributes:
        source: The folder or file the frames came from.
        series_instance_uid: SeriesInstanceUID (not PHI).
        series_description: SeriesDescription, "" when absent.
        phase: Contrast phase from the headers; `Phase.UNKNOWN` when they do not say.
        files: The DICOM files whose frames built this geometry.
        frames: Number of 2D frames used (all volumes together).
        voxels: (V, Z, Y, X) float32 after rescale slope/intercept; V volumes share the
            geometry (echoes, repetitions...), Z runs along the slice normal
            (row cosine x column cosine), Y along columns (rows of the image), X along rows.
        spacing_mm_zyx: Slice spacing (from ImagePositionPatient), row spacing, column
            spacing, in mm.
        origin_mm: ImagePositionPatient (LPS, mm) of the first slice along the normal.
        image_orientation_patient: Row cosines then column cosines (6 floats).
        frame_of_reference_uid: FrameOfReferenceUID, "" when absent.
        volume_labels: One short label per volume ("echo 2", "rep 3"...).
        warnings: Import warnings (gaps, duplicates, non-uniform spacing...).
        acquisition_time_s: Seconds after midnight of the first frame, when known.
        phase_source: Why `phase` holds its value ("series description mentions 'art'",
            "acquired 32 s after the bolus start", "set by the user"), "" when unknown.
        filled_slice_indices: Z indices of slices missing from the acquisition (a gap in
            the slice positions), filled with zeros so the grid keeps its spacing.
    """

    source: Path
    series_instance_uid: str
    series_description: str
    phase: Phase
    files: tuple[Path, ...]
    frames: int
    voxels: NDArray[np.float32]
    spacing_mm_zyx: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    image_orientation_patient: tuple[float, float, float, float, float, float]
    frame_of_reference_uid: str = ""
    volume_labels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    acquisition_time_s: float | None = None
    phase_source: str = ""
    filled_slice_indices: tuple[int, ...] = ()

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """Shape of one volume (Z, Y, X)."""
        _, z, y, x = self.voxels.shape
        return (int(z), int(y), int(x))

    @property
    def volume_count(self) -> int:
        """How many 3D volumes share this geometry."""
        return int(self.voxels.shape[0])

    @property
    def normal(self) -> NDArray[np.float64]:
        """Unit slice normal: row cosine x column cosine."""
        iop = np.asarray(self.image_orientation_patient, dtype=np.float64)
        n = np.cross(iop[:3], iop[3:])
        return n / np.linalg.norm(n)

    @property
    def affine_zyx(self) -> NDArray[np.float64]:
        """4x4 matrix mapping a voxel index (z, y, x, 1) to patient LPS mm (x, y, z, 1)."""
        iop = np.asarray(self.image_orientation_patient, dtype=np.float64)
        dz, dy, dx = self.spacing_mm_zyx
        m = np.eye(4)
        m[:3, 0] = self.normal * dz
        m[:3, 1] = iop[3:] * dy
        m[:3, 2] = iop[:3] * dx
        m[:3, 3] = self.origin_mm
        return m
