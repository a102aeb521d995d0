"""The main window end to end: import (off the GUI thread, cancellable), every view of the
demo case and of the real sample files, readable errors, the synthetic banner, settings,
recent cases and the restored layout. Screenshots of every view go to test-artifacts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from napari.components import ViewerModel
from napari.layers import Layer
from numpy.typing import NDArray
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.worklist import CaseStatus
from tests.gui.conftest import (
    assert_not_blank,
    grab_widget,
    save_screenshot,
    show_main_window,
    warm_mask,
)
from widgets.banner import CHECKPOINT_TEXT, DATA_TEXT
from widgets.main_window import MainWindow
from widgets.phase_viewer import PHASE_NAMES
from widgets.settings import AppSettings
from widgets.settings_dialog import SettingsDialog

pytestmark = pytest.mark.gui

IMPORT_TIMEOUT_MS = 90_000


@pytest.fixture
def real_case(tmp_path: Path, shared_data: Path, philips_dir: Path) -> Path:
    """A case folder of links to the real files: the T2 series, the SVS slide, the VCF."""
    case = tmp_path / "real-case"
    for sub, files in (
        ("mri", sorted(philips_dir.glob("*.dcm"))),
        ("slide", [shared_data / "wsi" / "CMU-1-Small-Region.svs"]),
        ("genomics", sorted((shared_data / "genomics").glob("T001-BRCA.grch38.vcf.gz*"))),
    ):
        (case / sub).mkdir(parents=True)
        for f in files:
            (case / sub / f.name).symlink_to(f)
    (case / "case.json").write_text(json.dumps({"case_id": "REAL-T2-01"}))
    return case


@pytest.fixture
def window(qtbot: QtBot, app_settings: AppSettings, tmp_path: Path) -> Iterator[MainWindow]:
    app_settings.checkpoint_dir = tmp_path / "no-checkpoint"  # no synthetic-checkpoint flag
    win = show_main_window(qtbot, app_settings)
    yield win
    win.close()


def _import(qtbot: QtBot, win: MainWindow, paths: list[Path]) -> tuple[float, float]:
    """Import through the window and wait until its MRI viewers exist.

    Returns:
        The longest gap (s) between ticks of a 20 ms GUI timer while the import ran (off the
        GUI thread), and while the case was put on screen afterwards (in the GUI thread).
    """
    ticks: list[float] = [time.perf_counter()]
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    task = win.open_case(paths)
    assert task is not None
    ended: list[float] = []  # when the worker finished, stamped in the worker thread
    task.signals.finished.connect(
        lambda: ended.append(time.perf_counter()), Qt.ConnectionType.DirectConnection
    )
    qtbot.waitUntil(lambda: task not in win.tasks.running, timeout=IMPORT_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not win.case_view.mri_view.building, timeout=IMPORT_TIMEOUT_MS)
    ticks.append(time.perf_counter())
    timer.stop()
    stamps = np.array(ticks)
    gaps = np.diff(stamps)
    end = ended[0] if ended else stamps[0]  # empty: it ended before we could listen
    during = stamps[1:] <= end
    return float(gaps[during].max(initial=0.0)), float(gaps[~during].max(initial=0.0))


def _screenshot_window(win: MainWindow, name: str) -> NDArray[np.uint8]:
    """The whole window; the VTK panel (drawn natively) is pasted in from VTK's own pixels."""
    shot = grab_widget(win)
    volume = win.case_view.volume_view
    if volume.vtk_widget is not None and volume.vtk_widget.isVisible():
        pixels = volume.screenshot()
        top_left = volume.vtk_widget.mapTo(win, volume.vtk_widget.rect().topLeft())
        h = min(pixels.shape[0], shot.shape[0] - top_left.y())
        w = min(pixels.shape[1], shot.shape[1] - top_left.x())
        shot[top_left.y() : top_left.y() + h, top_left.x() : top_left.x() + w] = pixels[:h, :w]
    save_screenshot(name, shot)
    return shot


def _visible_texts(root: QWidget) -> list[str]:
    """Every text the window shows: title, labels, table cells, combo and list items."""
    texts = [root.windowTitle()]
    texts += [w.text() for w in root.findChildren(QLabel)]
    for table in root.findChildren(QTableWidget):
        texts += [
            table.item(r, c).text()
            for r in range(table.rowCount())
            for c in range(table.columnCount())
            if table.item(r, c) is not None
        ]
    for combo in root.findChildren(QComboBox):
        texts += [combo.itemText(i) for i in range(combo.count())]
    for listing in root.findChildren(QListWidget):
        texts += [listing.item(i).text() for i in range(listing.count())]
    return texts


def _fill_fraction(model: ViewerModel, layer: Layer, canvas: QWidget) -> float:
    """How much of the canvas the layer's displayed extent spans on its fullest axis, from
    the camera zoom (screen px per world unit) and the canvas widget's size (px)."""
    extent = np.asarray(layer.extent.world)
    size = (extent[1] - extent[0])[list(model.dims.displayed)] * model.scene.camera.zoom
    return float(max(size[0] / canvas.height(), size[1] / canvas.width()))


def test_demo_case_every_view(qtbot: QtBot, window: MainWindow, demo_dir: Path) -> None:
    case_dir = demo_dir / "case"
    import_gap, display_gap = _import(qtbot, window, [case_dir])
    print(f"longest GUI stall: {import_gap:.2f} s importing, {display_gap:.2f} s displaying")
    assert import_gap < 0.5, f"the GUI stalled {import_gap:.2f} s during the import"
    # Making each napari viewer blocks the GUI thread for one event-loop turn (the first one
    # in a process also initialises napari and compiles shaders).
    assert display_gap < 8.0, f"the GUI stalled {display_gap:.2f} s while showing the case"
    key = window.current_key
    assert key is not None and window.worklist.status_of(key) is CaseStatus.READY
    case = window.cases[key]
    truth = json.loads((demo_dir / "truth" / "truth.json").read_text())
    assert window.worklist.item(0, 0).text() == truth["case_id"]
    assert "case " + truth["case_id"] in window.windowTitle()
    # Synthetic data: the banner says so, permanently.
    assert window.banner.isVisible() and DATA_TEXT in window.banner.text()

    view = window.case_view
    view.show_tab("Overview")
    assert view.overview.inputs.rowCount() == len(case.inputs)
    _screenshot_window(window, "window_demo_overview")

    # MRI: the four phases side by side, named from the import (the generator's folders).
    view.show_tab("MRI")
    mri = view.mri_view
    folders = {p.parent.name for s in case.mri for p in s.files}
    assert len(mri.viewers) == 4 == len(folders)
    for viewer in mri.viewers:
        assert viewer.series.files[0].parent.name == viewer.series.phase.value
        assert viewer.phase_combo.currentText() == PHASE_NAMES[viewer.series.phase]
    # Go to the slice with the most tumour and check every phase is there (linked).
    masks = np.load(demo_dir / "truth" / "mri_tumour_mask.npz")
    tumour = masks["tumour_labels"] == 1
    affine = np.asarray(masks["affine_zyx"], dtype=float)
    k = int(np.argmax(tumour.sum(axis=(1, 2))))
    z_mm = float((affine @ np.array([k, 0, 0, 1.0]))[2])
    mri.viewers[2].model.dims.set_point(0, z_mm)
    for viewer in mri.viewers:
        assert viewer.model.dims.point[0] == pytest.approx(z_mm)
    # A line across the tumour through its centre along x, drawn on the arterial phase,
    # measured in mm: its length is the truth mask's extent on that row times the spacing.
    rows, cols = np.nonzero(tumour[k])
    row = round(float(rows.mean()))
    row_cols = cols[rows == row]
    start_lps = affine @ np.array([k, row, row_cols.min(), 1.0])
    end_lps = affine @ np.array([k, row, row_cols.max(), 1.0])
    expected_mm = (row_cols.max() - row_cols.min()) * case.mri[0].spacing_mm_zyx[2]
    arterial = next(v for v in mri.viewers if v.series.phase.value == "arterial")
    arterial.add_line_world_mm(start_lps[2::-1], end_lps[2::-1])
    measurement = mri.use_as_tumour_diameter()
    assert measurement is not None
    assert measurement.diameter_mm == pytest.approx(expected_mm, abs=1e-3)
    assert measurement.slice_index == k and measurement.phase == "arterial"
    # The truth tumour as a saliency overlay on the arterial phase.
    mri.add_saliency(arterial.series.series_instance_uid, tumour.astype(np.float32), "tumour")
    qtbot.wait(100)
    assert warm_mask(arterial.screenshot()).sum() > 20
    shot = _screenshot_window(window, "window_demo_mri")
    assert_not_blank(shot)

    # 3D: the VTK widget appears only now, after napari's layers exist.
    volume = view.volume_view
    assert volume.vtk_widget is None
    view.show_tab("3D")
    qtbot.waitUntil(lambda: volume.vtk_widget is not None, timeout=5_000)
    volume.set_saliency(arterial.series.series_instance_uid, tumour.astype(np.float32))
    volume.select(arterial.series.series_instance_uid, preset="MIP", saliency="surface")
    rendered = volume.screenshot()
    assert_not_blank(rendered)
    assert warm_mask(rendered).sum() > 50
    _screenshot_window(window, "window_demo_3d")

    # Slide: opened in the background when the case was shown.
    view.show_tab("Slide")
    slide = view.slide_view
    qtbot.waitUntil(lambda: slide.slide_layer is not None, timeout=30_000)
    assert slide.scale_bar.visible
    qtbot.wait(100)  # drawn at its size on screen: the level for that zoom is asked for
    qtbot.waitUntil(lambda: not slide.loading, timeout=10_000)  # its tiles, not a stand-in
    qtbot.wait(100)
    assert_not_blank(slide.screenshot())
    _screenshot_window(window, "window_demo_slide")

    view.show_tab("Genomics")
    genes = {
        view.genomics_view.table.item(r, 0).text()
        for r in range(view.genomics_view.table.rowCount())
    }
    features = truth["features"]
    assert set(features["mutated_genes"]) | set(features["amplified_genes"]) <= genes
    _screenshot_window(window, "window_demo_genomics")

    # Never a patient name: the DICOM PatientName appears nowhere in the window.
    header = pydicom.dcmread(case.mri[0].files[0], stop_before_pixels=True)
    name = str(header.PatientName)
    assert name and not any(name in text for text in _visible_texts(window))


def test_real_files_case(qtbot: QtBot, window: MainWindow, real_case: Path) -> None:
    _import(qtbot, window, [real_case])
    key = window.current_key
    assert key is not None and window.worklist.status_of(key) is CaseStatus.READY
    case = window.cases[key]
    assert case.case_id == "REAL-T2-01" and not case.synthetic
    assert not window.banner.isVisible()
    view = window.case_view
    view.show_tab("MRI")
    assert len(view.mri_view.viewers) == 1
    viewer = view.mri_view.viewers[0]
    viewer.model.dims.set_point(0, viewer.model.dims.range[0].start + 12 * 5.5)
    qtbot.wait(100)
    # Filled while the tab was hidden, the image still fills the canvas once shown.
    fill = _fill_fraction(viewer.model, viewer.image_layer, viewer.qt_viewer.canvas.native)
    assert fill > 0.9, f"the MRI spans only {fill:.0%} of its canvas"
    assert_not_blank(viewer.screenshot())
    _screenshot_window(window, "window_real_mri")
    view.show_tab("Slide")
    qtbot.waitUntil(lambda: view.slide_view.slide_layer is not None, timeout=30_000)
    assert [layer.name for layer in view.slide_view.model.layers] == ["slide"]
    slide = view.slide_view
    qtbot.wait(100)
    qtbot.waitUntil(lambda: not slide.loading, timeout=10_000)
    qtbot.wait(100)
    assert slide.slide_layer is not None
    fill = _fill_fraction(slide.model, slide.slide_layer, slide.qt_viewer.canvas.native)
    assert fill > 0.9, f"the slide spans only {fill:.0%} of its canvas"
    _screenshot_window(window, "window_real_slide")
    view.show_tab("Genomics")
    assert view.genomics_view.table.rowCount() == len(case.genomics[0].variants) > 0
    _screenshot_window(window, "window_real_genomics")
    view.show_tab("Overview")
    problems = [
        view.overview.problems.item(i).text() for i in range(view.overview.problems.count())
    ]
    assert any("PS_0026.dcm" in p and "not an image" in p for p in problems)
    header = pydicom.dcmread(case.mri[0].files[0], stop_before_pixels=True)
    assert not any(str(header.PatientName) in text for text in _visible_texts(window))


def test_3d_waits_for_a_case_with_mri(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, shared_data: Path, philips_dir: Path
) -> None:
    slide_only = tmp_path / "slide-only"
    slide_only.mkdir()
    (slide_only / "slide.svs").symlink_to(shared_data / "wsi" / "CMU-1-Small-Region.svs")
    _import(qtbot, window, [slide_only])
    window.case_view.show_tab("3D")
    volume = window.case_view.volume_view
    assert volume.vtk_widget is None and volume.empty_label.isVisible()
    assert "No MRI" in window.case_view.mri_view.empty_label.text()
    # With the 3D tab on screen, a case with MRI gets its VTK view only after napari's.
    _import(qtbot, window, [philips_dir])
    qtbot.waitUntil(lambda: volume.vtk_widget is not None, timeout=10_000)
    assert len(window.case_view.mri_view.viewers) == 1
    assert_not_blank(volume.screenshot())


def test_cancelling_an_import_leaves_no_case_and_a_responsive_window(
    qtbot: QtBot, window: MainWindow, philips_dir: Path
) -> None:
    task = window.open_case([philips_dir])
    assert task is not None
    indicator = window.tasks.indicator(task)
    assert indicator.isVisible() and indicator.cancel_button.isEnabled()
    results: list[object] = []
    task.signals.done.connect(results.append)
    with qtbot.waitSignal(task.signals.cancelled, timeout=30_000):
        indicator.cancel_button.click()
    qtbot.waitUntil(lambda: task not in window.tasks.running, timeout=5_000)
    key = window.source.entries()[0].key
    assert window.worklist.status_of(key) is CaseStatus.CANCELLED
    assert results == [] and key not in window.cases
    assert window.stack.currentWidget() is window.placeholder
    # Still responsive: a timer fires, and the same case imports fine afterwards.
    with qtbot.waitSignal(window.statusBar().messageChanged, timeout=2_000):
        window.show_message("still alive")
    _import(qtbot, window, [philips_dir])
    assert window.worklist.status_of(key) is CaseStatus.READY


def test_import_case_dialog_imports_the_chosen_folder(
    qtbot: QtBot, window: MainWindow, philips_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def choose(parent: QWidget, caption: str, start: str) -> str:
        asked.append(caption)
        return str(philips_dir)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(choose))
    window.import_action.trigger()
    assert asked == ["Import case folder"]
    qtbot.waitUntil(lambda: len(window.cases) == 1, timeout=IMPORT_TIMEOUT_MS)
    assert window.settings.last_import_dir == philips_dir.parent


def test_import_errors_are_readable_messages(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    junk = tmp_path / "junk-case"
    junk.mkdir()
    (junk / "notes.txt").write_text("not medical data")
    (junk / "scan.dcm").write_bytes(b"")
    _import(qtbot, window, [junk])
    key = window.source.entries()[0].key
    assert window.worklist.status_of(key) is CaseStatus.FAILED
    box = window.last_error
    assert box is not None and box.isVisible()
    assert "Nothing could be imported" in box.text() and "scan.dcm" in box.text()
    assert "Traceback" not in box.text()
    box.close()
    missing = tmp_path / "no-such-folder"
    _import(qtbot, window, [missing])
    assert window.last_error is not None and "does not exist" in window.last_error.text()
    window.last_error.close()


def test_synthetic_checkpoint_sets_the_banner(
    qtbot: QtBot, app_settings: AppSettings, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    manifest = {
        "name": "demo",
        "version": "1",
        "architecture": {},
        "input_spec": {},
        "decision_threshold": 0.5,
        "weights": {},
        "synthetic": True,
    }
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))
    app_settings.checkpoint_dir = checkpoint
    win = MainWindow(settings=app_settings)
    qtbot.addWidget(win)
    win.show()
    assert win.banner.isVisible() and CHECKPOINT_TEXT in win.banner.text()
    assert DATA_TEXT not in win.banner.text()
    win.close()


def test_settings_recent_cases_and_layout_are_remembered(
    qtbot: QtBot, app_settings: AppSettings, tmp_path: Path, philips_dir: Path
) -> None:
    win = MainWindow(settings=app_settings)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    dialog = SettingsDialog(win.settings, win)
    dialog.database_edit.setText("sqlite:////tmp/neoadj-test.db")
    dialog.checkpoint_edit.setText(str(tmp_path / "ckpt"))
    dialog.accept()
    _import(qtbot, win, [philips_dir])
    win.worklist_dock.hide()
    win.resize(1300, 700)
    qtbot.wait(50)
    size = (win.width(), win.height())
    assert size != (1200, 800)
    win.close()

    reopened = AppSettings(
        type(app_settings.store)(app_settings.store.fileName(), app_settings.store.format())
    )
    assert reopened.database_url == "sqlite:////tmp/neoadj-test.db"
    assert reopened.checkpoint_dir == tmp_path / "ckpt"
    recent = reopened.recent_cases()
    assert len(recent) == 1 and recent[0].paths == (philips_dir,)
    again = MainWindow(settings=reopened)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert not again.worklist_dock.isVisible()
    assert (again.width(), again.height()) == size
    entries = again.source.entries()
    assert [e.label for e in entries] == [recent[0].label]
    assert entries[0].status is CaseStatus.NOT_LOADED
    again._fill_recent_menu()
    assert again.recent_menu.actions()[0].text() == recent[0].label
    again.close()
