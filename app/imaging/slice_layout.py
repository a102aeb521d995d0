"""Where the slices of one geometry go along Z: slot clustering, spacing, gaps, non-uniformity.

Slices are ordered by their distance along the normal (row cosine x column cosine) and the slice
spacing comes from ImagePositionPatient, never from SliceThickness. Decisions, each reported as
a warning in words:

- A gap that is a whole multiple of the usual spacing (a missing slice) keeps the grid: the
  missing Z positions are filled with zeros (`SliceLayout.filled`), so every acquired slice
  stays at its true position in mm.
- Spacings that are not whole multiples of one spacing (non-uniform) keep the acquired slices
  side by side with the median spacing; positions along Z are then approximate, and the
  warning says by how much at most.
- Slices shifted in-plane (a sheared stack) are placed straight along the normal, with a
  warning giving the largest shift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

POSITION_TOL_MM = 0.01
"""Slices closer than this along the normal share one position."""
SPACING_RTOL = 0.01
"""Relative tolerance on a slice spacing before it counts as different (as highdicom's)."""
SPACING_ATOL_MM = 0.001
"""Absolute tolerance added to `SPACING_RTOL`, in mm."""
DRIFT_TOL_MM = 0.05
"""In-plane shift between slices tolerated without a warning, in mm."""


@dataclass(frozen=True)
class SliceLayout:
    """The Z axis of one geometry.

    Attributes:
        z_of_slot: (slots,) Z index of each slice position, slots sorted along the normal.
        depth: Number of Z positions in the volume (slots plus filled gaps).
        spacing_mm: Slice spacing along the normal.
        filled: Z indices with no acquired slice (filled with zeros).
        warnings: What was found (gaps, non-uniform spacing), in words.
    """

    z_of_slot: NDArray[np.int64]
    depth: int
    spacing_mm: float
    filled: tuple[int, ...] = ()
    warnings: list[str] = field(default_factory=list)


def cluster_positions(distances_mm: NDArray[np.float64]) -> tuple[NDArray[np.int64], int]:
    """Group frames whose distances along the normal agree within `POSITION_TOL_MM`.

    Args:
        distances_mm: (frames,) distance of each frame along the normal.

    Returns:
        (slot of each frame (frames,), number of slots); slots are numbered along the normal.
    """
    order = np.argsort(distances_mm, kind="stable")
    steps = np.diff(distances_mm[order]) > POSITION_TOL_MM
    slot_sorted = np.concatenate(([0], np.cumsum(steps))).astype(np.int64)
    slots = np.empty_like(slot_sorted)
    slots[order] = slot_sorted
    return slots, int(slot_sorted[-1]) + 1 if len(slot_sorted) else 0


def layout_slices(slot_mm: NDArray[np.float64], single_slice_mm: float | None) -> SliceLayout:
    """Z index of each slot, the spacing, and any gaps or non-uniform spacing.

    Args:
        slot_mm: (slots,) increasing distances of the slice positions along the normal.
        single_slice_mm: The spacing to use when there is only one slot (SpacingBetweenSlices
            or SliceThickness), None if unknown (then 1 mm, with a warning).
    """
    n = len(slot_mm)
    if n == 1:
        if single_slice_mm is not None:
            return SliceLayout(np.zeros(1, dtype=np.int64), 1, single_slice_mm)
        return SliceLayout(
            np.zeros(1, dtype=np.int64),
            1,
            1.0,
            warnings=["a single slice without SliceThickness: its Z extent is taken as 1 mm."],
        )
    steps = np.diff(slot_mm)
    base = _usual_step(steps)
    tol = SPACING_ATOL_MM + SPACING_RTOL * base
    multiples = np.rint(steps / base).astype(np.int64)
    regular = bool(np.all(multiples >= 1) and np.all(np.abs(steps - multiples * base) <= tol))
    missing = int(multiples.sum()) - (n - 1)
    if regular and missing <= n:
        z = np.concatenate(([0], np.cumsum(multiples))).astype(np.int64)
        spacing = float((slot_mm[-1] - slot_mm[0]) / z[-1])
        filled = tuple(sorted(set(range(int(z[-1]) + 1)) - {int(v) for v in z}))
        warnings = [
            f"missing slice{'s' if m > 2 else ''}: a gap of {step:.2f} mm between the slices at "
            f"{slot_mm[i] - slot_mm[0]:.2f} and {slot_mm[i + 1] - slot_mm[0]:.2f} mm (along the "
            f"normal, from the first) where {spacing:.2f} mm is usual; {m - 1} empty "
            f"slice{'s' if m > 2 else ''} inserted to keep the geometry."
            for i, (step, m) in enumerate(zip(steps, multiples, strict=True))
            if m > 1
        ]
        return SliceLayout(z, int(z[-1]) + 1, spacing, filled, warnings)
    spacing = float(np.median(steps))
    z = np.arange(n, dtype=np.int64)
    error = float(np.max(np.abs(slot_mm - slot_mm[0] - z * spacing)))
    warning = (
        f"non-uniform slice spacing ({steps.min():.2f} to {steps.max():.2f} mm): the volume "
        f"uses the median {spacing:.2f} mm, so slice positions along Z are off by up to "
        f"{error:.2f} mm."
    )
    return SliceLayout(z, n, spacing, warnings=[warning])


def in_plane_drift_mm(positions_mm: NDArray[np.float64], normal: NDArray[np.float64]) -> float:
    """Largest in-plane shift of any slice position from the first one's normal line, in mm.

    Args:
        positions_mm: (slots, 3) one ImagePositionPatient per slot, LPS mm.
        normal: (3,) unit slice normal.
    """
    offsets = positions_mm - positions_mm[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    return float(np.max(np.linalg.norm(in_plane, axis=1))) if len(offsets) else 0.0


def _usual_step(steps: NDArray[np.float64]) -> float:
    """The most common step (to 0.01 mm), averaged over the steps that agree with it."""
    rounded = np.round(steps, 2)
    values, counts = np.unique(rounded, return_counts=True)
    mode = float(values[np.argmax(counts)])  # ties: the smallest
    near = steps[np.abs(steps - mode) <= SPACING_ATOL_MM + SPACING_RTOL * mode + 0.005]
    return float(near.mean()) if len(near) else mode
