"""A tumour diameter measured on one MRI slice, with where it was measured.

The MRI view records one when the user picks "Use as tumour diameter"; the screening form
reads it as the source of the diameter criterion. Qt-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from app.imaging.series import PHASE_NAMES, MriSeries, Phase

Point3 = tuple[float, float, float]


@dataclass(frozen=True)
class TumourMeasurement:
    """A straight-line diameter on one slice of one series.

    Attributes:
        diameter_mm: Euclidean distance between the endpoints, in mm.
        series_instance_uid: The series it was measured on.
        phase: The series' phase label when it was measured ("arterial"...).
        slice_index: Index of the slice along the series' Z axis (0 = first along the normal).
        start_lps_mm: First endpoint in patient LPS coordinates (x, y, z), mm.
        end_lps_mm: Second endpoint in patient LPS coordinates (x, y, z), mm.
        measured_at: When it was recorded (UTC).
    """

    diameter_mm: float
    series_instance_uid: str
    phase: str
    slice_index: int
    start_lps_mm: Point3
    end_lps_mm: Point3
    measured_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def where(self) -> str:
        """ "Arterial phase, slice 19": the phase as the window names it, slices counted from 1."""
        try:
            name = PHASE_NAMES[Phase(self.phase)]
        except ValueError:
            name = self.phase.replace("_", " ")
        if not name.lower().endswith("phase"):
            name += " phase"
        return f"{name}, slice {self.slice_index + 1}"

    def __post_init__(self) -> None:
        if not np.isfinite(self.diameter_mm) or self.diameter_mm <= 0:
            raise ValueError(f"A diameter must be a positive length, got {self.diameter_mm} mm.")
        if self.slice_index < 0:
            raise ValueError(f"A slice index must be >= 0, got {self.slice_index}.")

    @classmethod
    def from_endpoints(
        cls, series: MriSeries, start_lps_mm: Sequence[float], end_lps_mm: Sequence[float]
    ) -> TumourMeasurement:
        """Measure between two patient-space points that lie on one slice of `series`.

        Args:
            series: The series the line was drawn on.
            start_lps_mm: (x, y, z) LPS mm of one end.
            end_lps_mm: (x, y, z) LPS mm of the other end.

        Raises:
            ValueError: if an endpoint is not a 3-vector, the ends coincide, the ends lie on
                different slices (more than half a slice apart along the normal), or the
                slice is outside the series.
        """
        start = np.asarray(start_lps_mm, dtype=np.float64)
        end = np.asarray(end_lps_mm, dtype=np.float64)
        if start.shape != (3,) or end.shape != (3,):
            raise ValueError("Measurement endpoints must be (x, y, z) points in mm.")
        inverse = np.linalg.inv(series.affine_zyx)
        z_start = float((inverse @ np.append(start, 1.0))[0])
        z_end = float((inverse @ np.append(end, 1.0))[0])
        if abs(z_start - z_end) > 0.5:
            raise ValueError("Both ends of a diameter must lie on the same slice.")
        slice_index = round((z_start + z_end) / 2)
        if not 0 <= slice_index < series.shape_zyx[0]:
            raise ValueError(
                f"Slice {slice_index} is outside the series (0-{series.shape_zyx[0] - 1})."
            )
        return cls(
            diameter_mm=float(np.linalg.norm(end - start)),
            series_instance_uid=series.series_instance_uid,
            phase=str(series.phase),
            slice_index=slice_index,
            start_lps_mm=(float(start[0]), float(start[1]), float(start[2])),
            end_lps_mm=(float(end[0]), float(end[1]), float(end[2])),
        )
