"""The 3D tab: VTK volume rendering under Xvfb/llvmpipe, orientation, presets, saliency."""

from __future__ import annotations

import numpy as np
import pytest
from pytestqt.qtbot import QtBot
from scipy.ndimage import label

from tests.gui.conftest import assert_not_blank, save_screenshot, warm_mask
from tests.gui.phantoms import TUMOUR_CENTRE_LPS, blob_volume, three_grids
from widgets.volume_view import BACKGROUND_RGB, VolumeView

pytestmark = pytest.mark.gui


def test_volume_rendering_orientation_presets_and_saliency(qtbot: QtBot) -> None:
    series = three_grids()[0]
    view = VolumeView()
    qtbot.addWidget(view)
    view.resize(600, 440)
    assert view.vtk_widget is None  # made only when first shown
    view.set_series([series])
    view.show()
    qtbot.waitExposed(view)
    assert view.vtk_widget is not None
    mip = view.screenshot()
    assert_not_blank(mip)
    save_screenshot("volume_mip", mip)
    mapper = view._volume.GetMapper() if view._volume is not None else None
    assert mapper is not None and mapper.GetLastUsedRenderMode() in (1, 2)  # ray cast or GPU

    # Anterior view, head up: the marker on the patient's left is the brightest thing and
    # lies right of centre; the liver (patient's right) makes the left half brighter.
    grey = mip.astype(float).mean(axis=-1)
    blobs, count = label(grey > 240)
    sizes = np.bincount(blobs.ravel())[1:]
    assert count >= 2, "the marker and the tumour should both be bright in the MIP"
    marker, tumour = (int(np.argsort(sizes)[k]) + 1 for k in (-2, -1))  # small, large
    marker_x = np.nonzero(blobs == marker)[1].mean()
    tumour_x = np.nonzero(blobs == tumour)[1].mean()
    assert marker_x > grey.shape[1] / 2 > tumour_x
    camera = view.renderer.GetActiveCamera() if view.renderer is not None else None
    assert camera is not None
    np.testing.assert_allclose(camera.GetViewUp(), (0.0, 0.0, 1.0), atol=1e-6)
    assert camera.GetPosition()[1] < camera.GetFocalPoint()[1]  # camera on the anterior side

    view.select(series.series_instance_uid, preset="Soft tissue")
    soft = view.screenshot()
    assert_not_blank(soft, min_std=4.0)
    assert not np.array_equal(soft, mip)
    save_screenshot("volume_soft_tissue", soft)

    view.select(series.series_instance_uid, preset="MIP")
    view.rotate(90.0)
    turned = view.screenshot()
    assert np.abs(turned.astype(int) - mip.astype(int)).mean() > 1.0
    # The orientation cube in the lower-left corner (the volume leaves it empty): its lit
    # face and white letter show there, and it turns with the camera.
    h, w = mip.shape[:2]
    corner, turned_corner = (s[int(0.85 * h) :, : int(0.15 * w)].astype(int) for s in (mip, turned))
    assert view.orientation_marker is not None and view.orientation_marker.GetEnabled()
    assert (np.abs(corner - np.array(BACKGROUND_RGB) * 255).max(axis=-1) > 30).sum() > 200
    assert (corner.min(axis=-1) > 200).sum() > 10, "no white direction letter on the cube"
    assert np.abs(turned_corner - corner).mean() > 2.0
    view.reset_camera()
    np.testing.assert_allclose(view.screenshot().astype(int), mip.astype(int), atol=2)
    view.zoom(1.5)
    assert not np.array_equal(view.screenshot(), mip)
    view.reset_camera()

    assert not view.saliency_combo.isEnabled()
    view.set_saliency(series.series_instance_uid, blob_volume(series, TUMOUR_CENTRE_LPS, 8.0))
    assert view.saliency_combo.currentData() == "surface"
    surface = view.screenshot()
    save_screenshot("volume_saliency_surface", surface)
    assert warm_mask(surface).sum() > 150
    # The orange surface sits on the tumour, on the patient's right (screen left).
    assert np.nonzero(warm_mask(surface))[1].mean() < surface.shape[1] / 2
    view.select(series.series_instance_uid, saliency="volume")
    assert warm_mask(view.screenshot()).sum() > 150
    view.select(series.series_instance_uid, saliency="off")
    assert warm_mask(view.screenshot()).sum() < 5
    with pytest.raises(ValueError, match="does not match"):
        view.set_saliency(series.series_instance_uid, np.zeros((2, 2, 2)))
    view.close_vtk()
