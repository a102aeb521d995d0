"""The Slide tab: lazy pyramid, µm scale bar or a note without mpp, hidden label image,
heatmap overlay in slide coordinates, and bounded memory on a 50,000 x 50,000 px slide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from pytestqt.qtbot import QtBot

from app.errors import Cancelled, CaseImportError
from app.slides.opener import open_slide
from tests.conftest import REPO_ROOT
from tests.gui.big_slide import write_big_slide
from tests.gui.conftest import (
    SCREENSHOT_DIR,
    assert_not_blank,
    grab_widget,
    save_screenshot,
)
from widgets.slide_view import NO_MPP_NOTE, SlideView, open_slide_for_view

pytestmark = pytest.mark.gui

MEMORY_LIMIT_MB = 1536  # the whole viewer process, Python + Qt + napari + caches


def _view(qtbot: QtBot) -> SlideView:
    view = SlideView()
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_real_svs_shows_its_pyramid_in_micrometres_without_the_label(
    qtbot: QtBot, shared_data: Path
) -> None:
    path = shared_data / "wsi" / "CMU-1-Small-Region.svs"
    with openslide.OpenSlide(path) as reference:  # the expected values, from OpenSlide itself
        mpp_x = float(reference.properties[openslide.PROPERTY_NAME_MPP_X])
        mpp_y = float(reference.properties[openslide.PROPERTY_NAME_MPP_Y])
        width, height = reference.dimensions
        assert "label" in reference.associated_images
    view = _view(qtbot)
    view.show_slide(open_slide(path))
    layer = view.slide_layer
    assert layer is not None and layer.multiscale and layer.rgb
    assert tuple(layer.scale) == pytest.approx((mpp_y, mpp_x))
    assert [lyr.name for lyr in view.model.layers] == ["slide"]  # no label/macro layer
    assert view.scale_bar.visible and not view.note_label.isVisible()
    assert "label image hidden" in view.info_label.text()
    extent = np.asarray(layer.extent.world)  # [[min y, min x], [max y, max x]] in µm
    assert extent[1, 0] - extent[0, 0] == pytest.approx(height * mpp_y, rel=1e-3)
    assert extent[1, 1] - extent[0, 1] == pytest.approx(width * mpp_x, rel=1e-3)
    qtbot.waitUntil(lambda: not view.loading, timeout=10_000)  # tiles read off the GUI thread
    shot = view.screenshot()
    assert_not_blank(shot)
    rgb = shot[..., :3].astype(int)
    tissue = (rgb.sum(axis=-1) < 600) & (rgb[..., 0] > rgb[..., 1] + 15)  # H&E pink/purple
    assert tissue.mean() > 0.05
    save_screenshot("slide_cmu1_svs", shot)
    view.close_viewer()


def test_a_slide_without_pixel_size_says_so(
    qtbot: QtBot, tmp_path: Path, shared_data: Path
) -> None:
    path = tmp_path / "no_mpp.tiff"
    rng = np.random.default_rng(7)
    image = rng.integers(0, 255, size=(1024, 768, 3), dtype=np.uint8)
    tifffile.imwrite(path, image, tile=(256, 256), photometric="rgb", compression="jpeg")
    view = _view(qtbot)
    view.show_slide(open_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs"))  # in µm first
    first_layer = view.slide_layer
    reader = open_slide(path)
    assert reader.info.mpp is None
    view.show_slide(reader)
    assert view.slide_layer is first_layer  # one napari layer, given each slide's levels
    extent = np.asarray(first_layer.extent.world)
    assert tuple(extent[1] - extent[0]) == (1024 - 1, 768 - 1)  # pixel centres, in px
    assert view.note_label.isVisible() and view.note_label.text() == NO_MPP_NOTE
    assert "768 x 1,024 px · 1 level" in view.info_label.text()  # width x height, one level
    assert "1 levels" not in view.info_label.text()
    assert not view.scale_bar.visible
    assert view.slide_layer is not None and tuple(view.slide_layer.scale) == (1.0, 1.0)
    qtbot.waitUntil(lambda: not view.loading, timeout=10_000)  # tiles read off the GUI thread
    save_screenshot("slide_without_mpp", grab_widget(view))
    view.clear()
    assert view.reader is None and not view.note_label.isVisible()
    assert view.slide_layer is None and not first_layer.visible


def test_heatmap_lies_on_its_slide_coordinates_and_toggles(qtbot: QtBot, shared_data: Path) -> None:
    view = _view(qtbot)
    with pytest.raises(RuntimeError, match="Open a slide"):
        view.add_slide_heatmap(np.zeros((4, 4)), 64.0)
    view.show_slide(open_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs"))
    assert view.reader is not None
    width, height = view.reader.info.dimensions
    cell = 100  # level-0 px per heatmap cell
    offset = (50.0, 20.0)  # (y, x) level-0 px of the first cell's corner
    heat = np.zeros((int(height // cell), int(width // cell)), dtype=np.float32)
    hot_row, hot_col = 12, 8
    heat[hot_row - 1 : hot_row + 2, hot_col - 1 : hot_col + 2] = 1.0
    layer = view.add_slide_heatmap(heat, cell, offset)
    # The centre of cell (i, j) is level-0 pixel offset + (i + 0.5) * cell - 0.5 (napari puts
    # pixel centres on integer coordinates); in world µm that times mpp.
    wy, wx = view.world_per_px
    centre_world = layer.data_to_world((hot_row, hot_col))
    expected_px = (
        offset[0] + (hot_row + 0.5) * cell - 0.5,
        offset[1] + (hot_col + 0.5) * cell - 0.5,
    )
    assert centre_world == pytest.approx((expected_px[0] * wy, expected_px[1] * wx))
    view.model.scene.camera.center = tuple(centre_world)
    view.model.scene.camera.zoom = 1.0 / wx  # 1 screen px per slide px
    qtbot.waitUntil(lambda: not view.loading, timeout=10_000)  # tiles read off the GUI thread
    shot = view.screenshot()
    save_screenshot("slide_heatmap_on", shot)
    view.heatmap_bar.visible_box.setChecked(False)
    assert not layer.visible
    plain = view.screenshot()
    # The overlay is what changes when it is hidden: a block of 3 x 3 cells (300 x 300 screen
    # px), centred where the camera looks (the hot cell), within a third of a cell.
    changed = np.abs(shot[..., :3].astype(int) - plain[..., :3].astype(int)).max(axis=-1) > 25
    rows, cols = np.nonzero(changed)
    h, w = changed.shape
    assert changed.sum() > 0.5 * (3 * cell) ** 2
    assert abs(rows.mean() - h / 2) < cell / 3 and abs(cols.mean() - w / 2) < cell / 3
    assert rows.max() - rows.min() < 3 * cell + 4 and cols.max() - cols.min() < 3 * cell + 4
    # Where the overlay lies on white glass it is clearly red (turbo's top; glass has R = B).
    glass = (plain[..., :3].min(axis=-1) > 225) & changed
    assert glass.sum() > 100
    on_glass = shot[..., :3][glass].astype(int)
    assert (on_glass[:, 0] - on_glass[:, 2]).mean() > 40
    view.heatmap_bar.visible_box.setChecked(True)
    view.heatmap_bar.threshold_slider.setValue(99)
    assert layer.contrast_limits[0] == pytest.approx(0.99)
    with pytest.raises(ValueError, match="2-D"):
        view.add_slide_heatmap(np.zeros((2, 2, 2)), 10.0)
    view.close_viewer()


def test_opening_a_slide_off_the_gui_thread_reports_errors_and_cancels(tmp_path: Path) -> None:
    bad = tmp_path / "broken.svs"
    bad.write_bytes(b"not a slide at all")
    with pytest.raises(CaseImportError, match=r"broken\.svs"):
        open_slide_for_view(bad, progress=lambda d, t: None, cancel=threading.Event())
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        open_slide_for_view(bad, progress=lambda d, t: None, cancel=cancel)


@pytest.mark.slow
def test_panning_a_50000_px_slide_keeps_memory_bounded(tmp_path: Path) -> None:
    slide = tmp_path / "big.tiff"
    sizes = write_big_slide(slide, 50_000)
    assert sizes[0] == (50_000, 50_000) and len(sizes) >= 8
    screenshot = SCREENSHOT_DIR / "slide_50k_panned.png"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "QT_API": "pyside6", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.gui.slide_memory_probe", str(slide), str(screenshot)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print("slide memory probe:", result)
    # A whole level 0 would be 7.5 GB; the probe panned across it at three zooms.
    assert result["levels"] == len(sizes)
    assert result["peak_mb"] < MEMORY_LIMIT_MB
    from PIL import Image

    assert_not_blank(np.asarray(Image.open(screenshot)))
