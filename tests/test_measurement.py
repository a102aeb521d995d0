"""TumourMeasurement: a diameter between two points on one slice, with its source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.imaging.series import MriSeries, Phase
from app.measurement import TumourMeasurement


def _oblique_series() -> MriSeries:
    """An axial-ish series tilted 20 degrees about x, 30 slices of 3 mm, 0.8 mm pixels."""
    angle = np.deg2rad(20.0)
    row = (1.0, 0.0, 0.0)
    col = (0.0, float(np.cos(angle)), float(np.sin(angle)))
    return MriSeries(
        source=Path("x"),
        series_instance_uid="1.2.3.4",
        series_description="",
        phase=Phase.ARTERIAL,
        files=(),
        frames=30,
        voxels=np.zeros((1, 30, 64, 64), dtype=np.float32),
        spacing_mm_zyx=(3.0, 0.8, 0.8),
        origin_mm=(-20.0, -30.0, 40.0),
        image_orientation_patient=(*row, *col),
    )


def _point(series: MriSeries, k: int, r: float, c: float) -> np.ndarray:
    """LPS mm of slice k, row r, column c, from the DICOM definition (not the affine)."""
    iop = np.asarray(series.image_orientation_patient)
    normal = np.cross(iop[:3], iop[3:])
    dz, dy, dx = series.spacing_mm_zyx
    return np.asarray(series.origin_mm) + k * dz * normal + c * dx * iop[:3] + r * dy * iop[3:]


def test_diameter_slice_and_endpoints_on_an_oblique_series() -> None:
    series = _oblique_series()
    start, end = _point(series, 17, 10, 5), _point(series, 17, 40, 50)
    m = TumourMeasurement.from_endpoints(series, start, end)
    assert m.diameter_mm == pytest.approx(np.hypot(30 * 0.8, 45 * 0.8))
    assert m.slice_index == 17
    assert m.series_instance_uid == "1.2.3.4" and m.phase == "arterial"
    np.testing.assert_allclose(m.start_lps_mm, start)
    np.testing.assert_allclose(m.end_lps_mm, end)


def test_bad_lines_are_refused() -> None:
    series = _oblique_series()
    a = _point(series, 5, 10, 10)
    with pytest.raises(ValueError, match="same slice"):
        TumourMeasurement.from_endpoints(series, a, _point(series, 6, 20, 20))
    with pytest.raises(ValueError, match="positive length"):
        TumourMeasurement.from_endpoints(series, a, a)
    with pytest.raises(ValueError, match="outside the series"):
        TumourMeasurement.from_endpoints(series, _point(series, 31, 0, 0), _point(series, 31, 5, 0))
    with pytest.raises(ValueError, match="x, y, z"):
        TumourMeasurement.from_endpoints(series, [1.0, 2.0], a)
    with pytest.raises(ValueError, match="slice index"):
        TumourMeasurement(5.0, "1", "arterial", -1, (0, 0, 0), (5, 0, 0))


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("pre_contrast", "Pre-contrast phase, slice 15"),
        ("arterial", "Arterial phase, slice 15"),
        ("unknown", "Unknown phase, slice 15"),
        ("t2_haste", "t2 haste phase, slice 15"),
    ],
)
def test_where_names_the_phase_as_the_window_does(phase: str, expected: str) -> None:
    m = TumourMeasurement(42.0, "1.2.3", phase, 14, (0.0, 0.0, 0.0), (42.0, 0.0, 0.0))
    assert m.where == expected
