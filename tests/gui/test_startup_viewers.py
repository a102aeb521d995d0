"""The window makes and draws its napari viewers while it starts, so that showing the first
case only fills them; refilled viewers follow the new series; charts keep an unchanged note."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from pytestqt.qtbot import QtBot

from app.imaging.series import Phase
from tests.gui.conftest import show_main_window
from tests.gui.phantoms import phantom_series, three_grids
from widgets.attribution_charts import ModalityChart
from widgets.main_window import READY_MRI_VIEWERS
from widgets.phase_viewer import PhaseViewer
from widgets.settings import AppSettings

pytestmark = pytest.mark.gui


def test_viewers_are_made_and_drawn_at_start_and_filled_by_the_first_case(
    qtbot: QtBot, app_settings: AppSettings, tmp_path: Path
) -> None:
    app_settings.checkpoint_dir = tmp_path / "no-checkpoint"
    win = show_main_window(qtbot, app_settings)
    mri = win.case_view.mri_view
    made = mri.findChildren(PhaseViewer)
    assert len(made) == READY_MRI_VIEWERS and not mri.viewers
    # drawn offscreen once (their GL contexts exist), one per event-loop turn, still hidden
    canvases = [v.qt_viewer.canvas.native for v in made]
    qtbot.waitUntil(lambda: all(c.isValid() for c in canvases), timeout=30_000)
    assert not any(v.isVisible() for v in made)
    slide = win.case_view.slide_view
    assert slide.qt_viewer.canvas.native.isValid()
    # the blank slide layer and the scale bar were on for that draw only
    assert slide.slide_layer is None and not any(layer.visible for layer in slide.model.layers)
    assert not slide.scale_bar.visible

    series = three_grids()
    with qtbot.waitSignal(mri.viewers_ready, timeout=60_000):
        mri.set_series(series)
    assert [v.series for v in mri.viewers] == series
    assert set(mri.viewers) <= set(made) and set(mri.findChildren(PhaseViewer)) == set(made)
    assert not any(v.isHidden() for v in mri.viewers)  # shown once their tab is

    win.close()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    assert not mri.findChildren(PhaseViewer)


def test_filled_viewers_show_both_layers_over_the_new_slice_range(qtbot: QtBot) -> None:
    viewer = PhaseViewer()  # empty, as made with the window: a one-voxel layer
    qtbot.addWidget(viewer)
    far = phantom_series(  # 10 slices of 2 mm from z = 100 mm
        "1.2.826.0.1.9",
        Phase.ARTERIAL,
        shape_zyx=(10, 64, 64),
        spacing_mm_zyx=(2.0, 3.0, 3.0),
        origin_mm=(-96.0, -96.0, 100.0),
    )
    for series in (far, three_grids()[0]):  # then 31 slices of 4 mm from z = -60 mm
        viewer.set_series(series)
        assert viewer.image_layer.visible and viewer.measure_layer.visible
        np.testing.assert_array_equal(viewer.image_layer.data, series.voxels[0])
        last = series.shape_zyx[0] - 1
        ends = [float((series.affine_zyx @ np.array([k, 0, 0, 1.0]))[2]) for k in (0, last)]
        for z_mm in ends:  # a range left from the previous data would clamp these
            viewer.model.dims.set_point(0, z_mm)
            assert viewer.model.dims.point[0] == pytest.approx(z_mm)


def test_a_chart_showing_a_note_keeps_its_axes_until_the_note_or_content_changes(
    qtbot: QtBot,
) -> None:
    chart = ModalityChart()
    qtbot.addWidget(chart)
    axes = chart.figure.axes[0]
    chart.clear("Not explained yet.")
    assert chart.figure.axes == [axes]  # the same note: nothing rebuilt
    chart.set_contributions({"mri": 0.1, "genes": -0.05}, 0.4, 0.45, 0.5)
    assert len(chart.figure.axes[0].patches) >= 3  # baseline and two modality bars
    chart.clear("Not explained yet.")  # the same note as before the bars: drawn again
    (note_axes,) = chart.figure.axes
    assert note_axes is not axes and [t.get_text() for t in note_axes.texts] == [
        "Not explained yet."
    ]
