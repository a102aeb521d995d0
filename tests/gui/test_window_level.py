"""Window/level presets from a volume's own intensities (numpy only; no display needed)."""

from __future__ import annotations

import numpy as np
import pytest

from widgets.window_level import limits_to_window, window_presets, window_to_limits


def test_presets_on_a_body_in_air() -> None:
    rng = np.random.default_rng(3)
    body = rng.uniform(100.0, 1100.0, size=20_000).astype(np.float32)
    volume = np.zeros((10, 50, 80), dtype=np.float32)  # 40,000 voxels, half of them air
    volume.ravel()[::2] = body
    volume.ravel()[1] = 5000.0  # one hot voxel (e.g. a flow artefact)
    presets = window_presets(volume)
    assert presets["Full range"] == (0.0, 5000.0)
    low, high = presets["Liver"]
    assert low == 0.0  # air black, dark tissue (T2 liver) not clipped
    assert high == pytest.approx(1.2 * np.percentile(np.append(body, 5000.0), 98), rel=0.01)
    assert presets["Liver"][1] < presets["Abdomen"][1] < presets["Full range"][1]


def test_a_constant_volume_still_gets_a_window() -> None:
    presets = window_presets(np.full((2, 3, 4), 7.0, dtype=np.float32))
    assert all(high > low for low, high in presets.values())


def test_level_width_round_trip() -> None:
    assert window_to_limits(40.0, 400.0) == (-160.0, 240.0)
    assert limits_to_window((-160.0, 240.0)) == (40.0, 400.0)


def test_the_brightest_parenchyma_stays_grey_in_the_liver_window() -> None:
    """Fat-suppressed T1: the liver is among the brightest tissues; it must not clip white."""
    rng = np.random.default_rng(4)
    volume = np.zeros((20, 60, 60), dtype=np.float32)
    volume[:, 5:55, 5:55] = rng.normal(110.0, 5.0, size=(20, 50, 50))  # suppressed fat
    volume[:, 10:50, 10:50] = rng.normal(200.0, 8.0, size=(20, 40, 40))  # viscera
    volume[:, 15:40, 12:38] = rng.normal(310.0, 10.0, size=(20, 25, 26))  # liver
    low, high = window_presets(volume)["Liver"]
    liver_grey = (np.median(volume[:, 15:40, 12:38]) - low) / (high - low)
    assert 0.6 < liver_grey < 0.9
