"""The MRI tab: phases on different grids line up in patient space, radiological orientation,
linked slice/zoom/pan, window/level, the measuring line in mm, and saliency overlays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from PySide6.QtCore import QCoreApplication, QEvent
from pytestqt.qtbot import QtBot
from scipy.ndimage import binary_opening

from app.imaging.dicom_import import load_mri
from app.imaging.series import MriSeries, Phase
from tests.gui.conftest import assert_not_blank, colour_fraction, save_screenshot, warm_mask
from tests.gui.phantoms import (
    MARKER_CENTRE_LPS,
    TUMOUR_CENTRE_LPS,
    blob_volume,
    three_grids,
)
from widgets.mri_view import MriView
from widgets.phase_viewer import PhaseViewer

pytestmark = pytest.mark.gui


def _view(qtbot: QtBot, series: list[MriSeries], size: tuple[int, int] = (1500, 1000)) -> MriView:
    view = MriView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    with qtbot.waitSignal(view.viewers_ready, timeout=60_000):
        view.set_series(series)
    assert not view.building and len(view.viewers) == len(series)
    qtbot.wait(20)
    return view


def _grey(viewer: PhaseViewer) -> NDArray[np.float64]:
    return np.asarray(viewer.screenshot()[..., :3], dtype=np.float64).mean(axis=-1)


def _centroid_world_yx(viewer: PhaseViewer, mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """World (y, x) mm of a mask's centroid on the canvas (2D camera, anterior up)."""
    rows, cols = np.nonzero(mask)
    assert rows.size > 20, "structure not visible on the canvas"
    h, w = mask.shape
    camera = viewer.model.scene.camera
    centre_y, centre_x = camera.center[-2:]
    return np.array(
        [
            centre_y + (rows.mean() - h / 2) / camera.zoom,
            centre_x + (cols.mean() - w / 2) / camera.zoom,
        ]
    )


def _assert_phantom_lines_up(qtbot: QtBot, view: MriView) -> list[NDArray[np.uint8]]:
    """Check marker and tumour at their phantom positions in every viewer; the screenshots."""
    view.apply_preset("Full range")
    for viewer in view.viewers:  # the white scale bar would count as "brightest" pixels
        viewer.model.canvas.overlays.scale_bar.visible = False
    first = view.viewers[0].model
    first.dims.set_point(0, 0.0)  # z = 0 mm: through the tumour and the marker
    first.scene.camera.center = (0.0, 0.0, 0.0)
    first.scene.camera.zoom = 1.6  # screen px per mm
    qtbot.wait(50)
    shots = []
    for viewer in view.viewers:
        shot = viewer.screenshot()
        shots.append(shot)
        assert_not_blank(shot)
        grey = _grey(viewer)
        marker = _centroid_world_yx(viewer, grey > 235)  # intensity 1000 of 0-1000
        tumour_mask = binary_opening((grey > 150) & (grey < 205), np.ones((5, 5)))  # 700
        tumour = _centroid_world_yx(viewer, tumour_mask)  # (opening drops blurred rims)
        # Where the phantom put them, in world (y, x) = LPS (y, x), within 2 mm.
        np.testing.assert_allclose(marker, [MARKER_CENTRE_LPS[1], MARKER_CENTRE_LPS[0]], atol=2.0)
        np.testing.assert_allclose(tumour, [TUMOUR_CENTRE_LPS[1], TUMOUR_CENTRE_LPS[0]], atol=2.0)
        # Radiological convention: the marker (patient's left, anterior) is on the screen's
        # right and upper half, the liver tumour (patient's right) on the left.
        rows, cols = np.nonzero(grey > 235)
        assert cols.mean() > grey.shape[1] / 2 and rows.mean() < grey.shape[0] / 2
        assert np.nonzero(tumour_mask)[1].mean() < grey.shape[1] / 2
    return shots


def test_phases_on_different_grids_line_up_in_patient_space(qtbot: QtBot) -> None:
    view = _view(qtbot, three_grids())
    shots = _assert_phantom_lines_up(qtbot, view)
    h = min(s.shape[0] for s in shots)
    save_screenshot("mri_phases_aligned", np.concatenate([s[:h] for s in shots], axis=1))


def test_viewers_are_reused_from_case_to_case_and_released_on_close(qtbot: QtBot) -> None:
    grids = three_grids()
    view = _view(qtbot, [grids[2], grids[1]])  # the mirrored grid first, on another slice
    before = list(view.viewers)
    view.viewers[0].add_line_world_mm(np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 30.0]))
    with qtbot.waitSignal(view.viewers_ready, timeout=60_000):
        view.set_series(grids)
    assert view.viewers[:2] == before  # filled again, not made anew
    assert [v.series for v in view.viewers] == grids
    assert all(not v.lines_world_mm() for v in view.viewers)  # the last case's line is gone
    _assert_phantom_lines_up(qtbot, view)  # the new grids' transforms, not the old ones
    view.close_viewers()
    assert not view.viewers and not view.building
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    assert not view.findChildren(PhaseViewer)  # shown and kept ones alike are deleted


def test_slice_zoom_and_pan_are_linked_and_can_be_unlinked(qtbot: QtBot) -> None:
    view = _view(qtbot, three_grids(), size=(1200, 800))
    models = [v.model for v in view.viewers]
    models[0].dims.set_point(0, 20.0)
    for viewer, model in zip(view.viewers, models, strict=True):
        # Each phase shows its slice nearest to z = 20 mm (within half its spacing).
        assert abs(model.dims.point[0] - 20.0) <= viewer.series.spacing_mm_zyx[0] / 2 + 1e-6
    models[2].scene.camera.zoom = 2.5
    models[1].scene.camera.center = (0.0, -30.0, 40.0)
    for model in models:
        assert model.scene.camera.zoom == pytest.approx(2.5)
        assert model.scene.camera.center[-2:] == pytest.approx((-30.0, 40.0))
    view.link_box.setChecked(False)
    models[0].dims.set_point(0, -40.0)
    models[0].scene.camera.zoom = 1.0
    assert abs(models[1].dims.point[0] - 20.0) <= 1.5
    assert models[1].scene.camera.zoom == pytest.approx(2.5)
    view.link_box.setChecked(True)  # re-linking aligns everything on the first shown phase
    assert models[1].scene.camera.zoom == pytest.approx(1.0)
    assert abs(models[1].dims.point[0] + 40.0) <= 1.5
    uid = view.viewers[1].series.series_instance_uid
    alone = view.viewers[1]
    before = _canvas_mm(alone)
    view.show_only(uid)
    assert [v.isVisible() for v in view.viewers] == [False, True, False]
    qtbot.waitUntil(lambda: alone.qt_viewer.canvas.native.width() > 1.5 * before[2], timeout=2_000)
    qtbot.wait(50)
    # Alone, the phase gets the whole area: what was in view stays in view, larger.
    after = _canvas_mm(alone)
    assert min(a / b for a, b in zip(after[:2], before[:2], strict=True)) == pytest.approx(
        1.0, abs=0.02
    )
    view.show_combo.setCurrentIndex(0)
    assert all(v.isVisible() for v in view.viewers)


def _canvas_mm(viewer: PhaseViewer) -> tuple[float, float, int]:
    """(height, width) in mm of what the canvas shows, and its width in px."""
    native = viewer.qt_viewer.canvas.native
    zoom = viewer.model.scene.camera.zoom  # screen px per mm
    return native.height() / zoom, native.width() / zoom, native.width()


def test_phase_label_is_editable_and_sets_the_series_phase(qtbot: QtBot) -> None:
    view = _view(qtbot, three_grids()[:2], size=(1000, 600))
    viewer = view.viewers[0]
    viewer.phase_combo.setCurrentIndex(viewer.phase_combo.findData(Phase.PRE_CONTRAST.value))
    assert viewer.series.phase is Phase.PRE_CONTRAST
    assert view.show_combo.itemText(1).startswith("Pre-contrast")


def test_window_presets_and_right_drag_adjust_contrast(qtbot: QtBot) -> None:
    series = three_grids()[0]
    view = _view(qtbot, [series], size=(900, 700))
    viewer = view.viewers[0]
    view.preset_combo.setCurrentText("Full range")
    assert tuple(viewer.image_layer.contrast_limits) == pytest.approx(
        (float(series.voxels.min()), float(series.voxels.max()))
    )
    full = _grey(viewer)
    view.preset_combo.setCurrentText("Liver")
    low, high = viewer.image_layer.contrast_limits
    assert high - low < float(series.voxels.max() - series.voxels.min())
    assert not np.array_equal(_grey(viewer), full)
    # A right-button drag to the right widens the window.
    width_before = high - low
    _right_drag(qtbot, viewer, dx=120, dy=0)
    low, high = viewer.image_layer.contrast_limits
    assert high - low > width_before
    assert "W " in viewer.window_label.text()


def _right_drag(qtbot: QtBot, viewer: PhaseViewer, dx: int, dy: int) -> None:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    native = viewer.qt_viewer.canvas.native
    start = QPointF(native.width() / 2, native.height() / 2)
    end = QPointF(start.x() + dx, start.y() + dy)
    right, none = Qt.MouseButton.RightButton, Qt.MouseButton.NoButton
    events = [(QEvent.Type.MouseButtonPress, start, right, right)]
    for t in np.linspace(0.2, 1.0, 5):
        point = QPointF(start.x() + t * dx, start.y() + t * dy)
        events.append((QEvent.Type.MouseMove, point, none, right))
    events.append((QEvent.Type.MouseButtonRelease, end, right, none))
    for kind, pos, button, buttons in events:
        global_pos = QPointF(native.mapToGlobal(pos.toPoint()))
        event = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(native, event)
        qtbot.wait(10)


def _tag_geometry(folder: Path) -> list[pydicom.Dataset]:
    """The image headers sorted by position along the slice normal, straight from pydicom."""
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.glob("IM_*.dcm"))]
    iop = np.array(headers[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(
        headers, key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, float)))
    )


def _pixel_lps(header: pydicom.Dataset, row: float, col: float) -> NDArray[np.float64]:
    """LPS mm of a pixel centre (DICOM PS3.3 C.7.6.2.1.1)."""
    iop = np.array(header.ImageOrientationPatient, dtype=float)
    row_spacing, col_spacing = (float(v) for v in header.PixelSpacing)
    ipp = np.array(header.ImagePositionPatient, dtype=float)
    return ipp + iop[:3] * col_spacing * col + iop[3:] * row_spacing * row


def test_measuring_line_on_the_real_series_is_in_mm_and_records_its_source(
    qtbot: QtBot, philips_dir: Path
) -> None:
    imported = load_mri(sorted(philips_dir.glob("*.dcm")))
    series = imported.series[0]
    view = _view(qtbot, [series], size=(1000, 900))
    viewer = view.viewers[0]
    headers = _tag_geometry(philips_dir)
    k = 12
    start_lps = _pixel_lps(headers[k], row=180, col=120)
    end_lps = _pixel_lps(headers[k], row=260, col=215)
    expected_mm = float(np.linalg.norm(end_lps - start_lps))
    row_mm, col_mm = (float(v) for v in headers[k].PixelSpacing)
    assert expected_mm == pytest.approx(np.hypot(80 * row_mm, 95 * col_mm))

    viewer.model.dims.set_point(0, float(start_lps[2]))
    view.measure_button.setChecked(True)
    assert viewer.measure_layer.mode == "add_line"
    viewer.add_line_world_mm(start_lps[::-1], end_lps[::-1])  # world is (z, y, x)
    assert viewer.measure_layer.features["length_mm"].iloc[0] == pytest.approx(
        expected_mm, abs=1e-6
    )
    assert f"{expected_mm:.1f} mm" in view.line_label.text()
    assert view.use_button.isEnabled()

    measurement = view.use_as_tumour_diameter()
    assert measurement is not None
    assert measurement.diameter_mm == pytest.approx(expected_mm, abs=1e-6)
    assert measurement.slice_index == k
    assert measurement.series_instance_uid == str(headers[k].SeriesInstanceUID)
    np.testing.assert_allclose(measurement.start_lps_mm, start_lps, atol=1e-4)  # float32
    np.testing.assert_allclose(measurement.end_lps_mm, end_lps, atol=1e-4)
    assert view.tumour_measurement is measurement
    assert f"{expected_mm:.1f} mm" in view.recorded_label.text()
    view.measure_button.setChecked(False)
    viewer.model.scene.camera.zoom *= 1.3
    qtbot.wait(50)
    shot = viewer.screenshot()
    assert_not_blank(shot)
    rgb = shot[..., :3].astype(int)
    green = (rgb[..., 1] > 180) & (rgb[..., 1] - rgb[..., 0] > 100)  # grey MR has R = G = B
    assert green.sum() > 30, "the green measuring line is not on screen"
    save_screenshot("mri_real_t2_measurement", shot)


def test_a_line_across_slices_is_refused(qtbot: QtBot) -> None:
    series = three_grids()[0]
    view = _view(qtbot, [series], size=(800, 600))
    messages: list[str] = []
    view.message.connect(messages.append)
    assert view.use_as_tumour_diameter() is None
    assert messages and "Draw a line" in messages[-1]
    viewer = view.viewers[0]
    viewer.add_line_world_mm(np.array([0.0, 0.0, 0.0]), np.array([12.0, 10.0, 0.0]))
    assert view.use_as_tumour_diameter() is None
    assert "same slice" in messages[-1]


def test_saliency_overlay_shows_colour_where_the_blob_is_and_toggles(qtbot: QtBot) -> None:
    series = three_grids()[0]
    view = _view(qtbot, [series], size=(900, 800))
    viewer = view.viewers[0]
    viewer.model.dims.set_point(0, 0.0)
    viewer.model.scene.camera.center = (0.0, 0.0, 0.0)
    viewer.model.scene.camera.zoom = 1.8
    with pytest.raises(ValueError, match="does not match"):
        view.add_saliency(series.series_instance_uid, np.zeros((3, 4, 5)), "bad")
    blob = blob_volume(series, TUMOUR_CENTRE_LPS, 10.0)
    view.add_saliency(series.series_instance_uid, blob, "saliency")
    qtbot.wait(50)
    shot = viewer.screenshot()
    save_screenshot("mri_saliency_on", shot)
    warm = colour_fraction(shot)
    assert warm > 0.001  # about 1,000 px of a 640,000 px canvas
    # The coloured area is centred on the blob's centre (the tumour), in patient mm.
    centre = _centroid_world_yx(viewer, warm_mask(shot))
    np.testing.assert_allclose(centre, [TUMOUR_CENTRE_LPS[1], TUMOUR_CENTRE_LPS[0]], atol=3.0)

    view.saliency_bar.threshold_slider.setValue(90)
    assert 0 < colour_fraction(viewer.screenshot()) < warm
    view.saliency_bar.colormap_combo.setCurrentText("turbo")
    assert viewer.saliency_layer is not None
    assert viewer.saliency_layer.colormap.name == "overlay_turbo"
    view.saliency_bar.visible_box.setChecked(False)
    assert not viewer.saliency_layer.visible
    assert colour_fraction(viewer.screenshot()) < 0.0005
    view.saliency_bar.visible_box.setChecked(True)
    view.saliency_bar.opacity_slider.setValue(0)
    assert viewer.saliency_layer.opacity == 0.0
    assert colour_fraction(viewer.screenshot()) < 0.0005
