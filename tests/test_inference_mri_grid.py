"""MRI preprocessing: phases co-registered by patient coordinates, liver box, transform back."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from app.errors import Cancelled
from app.imaging.series import MriSeries, Phase
from inference.input_spec import InputSpec
from inference.mri_grid import locate_liver_box, model_grid_to_series, preprocess_mri

SPEC = InputSpec(grid_shape_zyx=(16, 32, 32), grid_spacing_mm_zyx=(6.0, 5.0, 5.0))
LESION_LPS = np.array([-40.0, 10.0, 12.0])  # mm
LESION_RADIUS_MM = 15.0


def _series(
    phase: Phase,
    *,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    shape: tuple[int, int, int],
    lesion_signal: float,
    oblique: bool = False,
) -> MriSeries:
    """A body cylinder (300 x 220 mm) with a bright sphere at LESION_LPS, on an axial grid."""
    iop = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    if oblique:
        c, s = np.cos(0.2), np.sin(0.2)
        iop = (c, s, 0.0, -s, c, 0.0)
    s = MriSeries(
        Path("x"),
        f"uid-{phase}-{spacing}",
        "",
        phase,
        (),
        shape[0],
        np.zeros((1, *shape), np.float32),
        spacing,
        origin,
        iop,
    )
    idx = np.indices(shape).reshape(3, -1).T.astype(np.float64)
    lps = idx @ s.affine_zyx[:3, :3].T + s.affine_zyx[:3, 3]
    body = (lps[:, 0] / 150) ** 2 + ((lps[:, 1] - 10) / 110) ** 2 <= 1
    lesion = np.linalg.norm(lps - LESION_LPS, axis=1) <= LESION_RADIUS_MM
    vol = np.where(body, 100.0, 0.0) + np.where(lesion, lesion_signal - 100.0, 0.0)
    s.voxels[0] = vol.reshape(shape).astype(np.float32)
    return s


def _centroid_lps(volume: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    idx = np.argwhere(volume).astype(np.float64).mean(axis=0)
    return matrix[:3, :3] @ idx + matrix[:3, 3]


def test_phases_with_different_geometry_land_on_one_grid() -> None:
    pre = _series(
        Phase.PRE_CONTRAST,
        spacing=(5.0, 4.0, 4.0),
        origin=(-190.0, -170.0, -80.0),
        shape=(34, 90, 96),
        lesion_signal=100.0,
    )
    art = _series(
        Phase.ARTERIAL,
        spacing=(3.0, 3.0, 3.0),
        origin=(-200.0, -180.0, -70.0),
        shape=(50, 120, 130),
        lesion_signal=300.0,
        oblique=True,
    )
    out = preprocess_mri([pre, art], SPEC)
    assert out is not None
    assert out.volume.shape == (4, 16, 32, 32)
    assert out.phases_present == (True, True, False, False)
    lesion = out.volume[1] > 2.0  # 300 / 100 = 3x the body signal
    assert lesion.sum() > 10
    found = _centroid_lps(lesion, out.transform.matrix)
    assert np.linalg.norm(found - LESION_LPS) < 5.0
    assert float(out.volume[0].max()) < 2.0  # no lesion contrast before contrast
    assert any("portal venous" in f for f in out.flags)


def test_liver_box_is_flush_with_the_patients_right_side() -> None:
    pre = _series(
        Phase.PRE_CONTRAST,
        spacing=(5.0, 4.0, 4.0),
        origin=(-190.0, -170.0, -80.0),
        shape=(34, 90, 96),
        lesion_signal=100.0,
    )
    centre = locate_liver_box(pre, SPEC)
    _, _, extent_x = SPEC.grid_extent_mm_zyx  # 160 mm < 300 mm body width
    assert centre[0] == pytest.approx(-150.0 + extent_x / 2, abs=8.0)
    assert centre[1] == pytest.approx(10.0, abs=8.0)
    assert centre[2] == pytest.approx(-80.0 + 33 * 5.0 / 2, abs=8.0)


def test_model_grid_map_goes_back_to_the_series_grid() -> None:
    art = _series(
        Phase.ARTERIAL,
        spacing=(3.0, 3.0, 3.0),
        origin=(-200.0, -180.0, -70.0),
        shape=(50, 120, 130),
        lesion_signal=300.0,
        oblique=True,
    )
    out = preprocess_mri([art], SPEC)
    assert out is not None
    lesion_grid = (out.volume[1] > 2.0).astype(np.float32)
    back = model_grid_to_series(lesion_grid, out.transform, art)
    assert back.shape == art.shape_zyx
    truth = art.voxels[0] > 200
    mapped = back > 0.5
    dice = 2 * (mapped & truth).sum() / (mapped.sum() + truth.sum())
    assert dice > 0.7
    with pytest.raises(ValueError):
        model_grid_to_series(lesion_grid[:-1], out.transform, art)


def test_no_arterial_phase_is_flagged_and_left_empty() -> None:
    pre = _series(
        Phase.PRE_CONTRAST,
        spacing=(5.0, 4.0, 4.0),
        origin=(-190.0, -170.0, -80.0),
        shape=(34, 90, 96),
        lesion_signal=100.0,
    )
    out = preprocess_mri([pre], SPEC)
    assert out is not None
    assert not np.any(out.volume[1])
    assert any("no arterial phase" in f for f in out.flags)


def test_no_known_phase_gives_no_mri_input() -> None:
    s = _series(
        Phase.UNKNOWN,
        spacing=(5.0, 4.0, 4.0),
        origin=(-190.0, -170.0, -80.0),
        shape=(34, 90, 96),
        lesion_signal=100.0,
    )
    assert preprocess_mri([s], SPEC) is None


def test_cancel_stops_mri_preprocessing() -> None:
    pre = _series(
        Phase.PRE_CONTRAST,
        spacing=(5.0, 4.0, 4.0),
        origin=(-190.0, -170.0, -80.0),
        shape=(34, 90, 96),
        lesion_signal=100.0,
    )
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        preprocess_mri([pre], SPEC, cancel=cancel)
