"""The MRI tab: every phase of a case side by side (or one at a time) with linked slice, zoom
and pan, window/level presets, a measuring line, and saliency overlays."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import shiboken6
from napari.layers import Image
from numpy.typing import NDArray
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.imaging.series import PHASE_NAMES, MriSeries
from app.measurement import TumourMeasurement
from widgets.mri_geometry import world_to_lps
from widgets.overlay_colormaps import overlay_colormap
from widgets.overlay_controls import OverlayControls
from widgets.phase_viewer import PhaseViewer
from widgets.viewer_link import ViewerLink
from widgets.window_level import PRESET_NAMES

log = logging.getLogger(__name__)

ALL_PHASES = "all"


class MriView(QWidget):
    """Linked napari viewers, one per MRI series of the open case."""

    tumour_measured = Signal(object)  # TumourMeasurement
    message = Signal(str)  # a short note for the status bar
    phases_changed = Signal()  # the user relabelled a series
    viewers_ready = Signal()  # every series of the last set_series has its viewer

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewers: list[PhaseViewer] = []  # showing the current series, in order
        self._spare: list[PhaseViewer] = []  # made, hidden, ready for the next case
        self._to_paint: list[PhaseViewer] = []  # kept viewers still to draw offscreen
        self._pending: list[MriSeries] = []
        self._filling: tuple[PhaseViewer, Iterator[None]] | None = None  # viewer, its steps
        self._step_scheduled = False
        self._columns = 1
        self.link = ViewerLink()
        self.tumour_measurement: TumourMeasurement | None = None
        self._last_line: tuple[PhaseViewer, int] | None = None

        self.show_combo = QComboBox()
        self.show_combo.setToolTip("All phases side by side, or one at a time")
        self.show_combo.currentIndexChanged.connect(self._on_show_selected)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(PRESET_NAMES)
        self.preset_combo.setToolTip(
            "Window/level preset (right-drag on an image to adjust: horizontal = width, "
            "vertical = level)"
        )
        self.preset_combo.currentTextChanged.connect(self.apply_preset)
        self.link_box = QCheckBox("Link slice/zoom/pan")
        self.link_box.setChecked(True)
        self.link_box.toggled.connect(self._on_link_toggled)
        self.measure_button = QPushButton("Measure")
        self.measure_button.setCheckable(True)
        self.measure_button.setToolTip("Draw a line with the left button; its length is in mm")
        self.measure_button.toggled.connect(self.set_measuring)
        self.line_label = QLabel("No line drawn")
        self.use_button = QPushButton("Use as tumour diameter")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_as_tumour_diameter)
        self.recorded_label = QLabel("Tumour diameter: not measured")
        self.recorded_label.setObjectName("recordedDiameter")

        self.saliency_bar = OverlayControls("Saliency", opacity=0.6)
        self.saliency_bar.visible_changed.connect(self.set_saliency_visible)
        self.saliency_bar.opacity_changed.connect(self.set_saliency_opacity)
        self.saliency_bar.threshold_changed.connect(self.set_saliency_threshold)
        self.saliency_bar.colormap_changed.connect(self.set_saliency_colormap)
        self.saliency_bar.setVisible(False)

        tools = QHBoxLayout()
        for widget in (
            QLabel("Show:"),
            self.show_combo,
            QLabel("Window:"),
            self.preset_combo,
            self.link_box,
            self.measure_button,
            self.line_label,
            self.use_button,
        ):
            tools.addWidget(widget)
        tools.addStretch(1)
        tools.addWidget(self.recorded_label)
        self.grid = QGridLayout()
        self.grid.setSpacing(4)
        self.empty_label = QLabel("No MRI series in this case.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.saliency_bar)
        layout.addLayout(self.grid, 1)
        layout.addWidget(self.empty_label)

    # --- content --------------------------------------------------------------------
    @property
    def building(self) -> bool:
        """True while viewers of the last `set_series` are still being filled."""
        return bool(self._pending) or self._filling is not None

    def set_series(self, series: list[MriSeries]) -> None:
        """Show these series (replacing any shown before).

        Viewers are reused from case to case: one is filled per event-loop turn (a new one is
        made only when the case has more series than any before), so the window keeps
        responding meanwhile. `viewers_ready` is emitted when the last one shows its series.
        """
        self.clear()
        self._pending = list(series)
        self._columns = 1 if len(series) == 1 else 2 if len(series) <= 4 else 3
        self.empty_label.setVisible(True)
        self.empty_label.setText("Loading MRI viewers..." if series else "No MRI series.")
        if series:
            self._schedule()
        else:
            self.viewers_ready.emit()

    def prepare_viewers(self, count: int) -> None:
        """Make empty viewers ahead (hidden) until `count` exist, so that a later `set_series`
        of up to `count` series only fills them.

        Making a viewer stalls the GUI thread for about 0.3-0.6 s (napari's canvas, layers
        and shortcut bindings), filling one takes a few steps of some tens of ms: the window
        calls this while it is made, before the user asks for a case.
        """
        made = len(self.viewers) + len(self._spare) + (self._filling is not None)
        for _ in range(count - made):
            viewer = self._new_viewer()
            viewer.setVisible(False)
            self._spare.append(viewer)

    def paint_viewers_offscreen(self) -> None:
        """Draw each kept viewer once offscreen (`PhaseViewer.paint_offscreen`), one per
        event-loop turn, so that their first showing does not compile shaders. For the
        window to call once it shows; viewers given a series meanwhile are skipped."""
        self._to_paint = list(self._spare)
        self._paint_next()

    def _paint_next(self) -> None:
        while self._to_paint:
            viewer = self._to_paint.pop(0)
            if viewer in self._spare:
                viewer.paint_offscreen()
                if self._to_paint:
                    QTimer.singleShot(0, self, self._paint_next)
                return

    def _schedule(self) -> None:
        # A 1 ms timer, not a zero-timer: that is a posted event, and events posted while
        # posted events are delivered run in the same pass, so two steps ran back to back
        # (50-75 ms) before any timer or repaint had its turn.
        if not self._step_scheduled and (self._filling or self._pending):
            self._step_scheduled = True
            QTimer.singleShot(1, self._step)

    def _step(self) -> None:
        """One turn's work: a step of filling a viewer, else start filling the next pending
        series' viewer (making one if none is spare)."""
        self._step_scheduled = False
        if self._filling is not None:
            self._fill_step()
        elif self._pending:
            self._start_filling()
        self._schedule()

    def _new_viewer(self) -> PhaseViewer:
        viewer = PhaseViewer(None, self)
        viewer.line_measured.connect(lambda length, v=viewer: self._on_line_measured(v, length))
        viewer.phase_changed.connect(self._refresh_show_combo)
        viewer.phase_changed.connect(self.phases_changed)
        return viewer

    def _start_filling(self) -> None:
        series = self._pending.pop(0)
        viewer = self._spare.pop(0) if self._spare else self._new_viewer()
        viewer.setVisible(False)
        self._filling = (viewer, viewer.fill_steps(series))

    def _fill_step(self) -> None:
        assert self._filling is not None
        viewer, steps = self._filling
        if next(steps, StopIteration) is not StopIteration:
            return
        self._filling = None
        i = len(self.viewers)
        self.grid.addWidget(viewer, i // self._columns, i % self._columns)
        viewer.apply_preset(self.preset_combo.currentText())
        viewer.set_measuring(self.measure_button.isChecked())
        viewer.setVisible(True)
        self.viewers.append(viewer)
        self.link.add(viewer.model)
        self._refresh_show_combo()
        if not self._pending:
            self.empty_label.setVisible(False)
            self.viewers_ready.emit()

    def clear(self) -> None:
        """Take every viewer off screen (kept for the next case) and stop filling any."""
        self._pending = []
        if self._filling is not None:  # half filled: kept, filled anew when next used
            self._spare.append(self._filling[0])
            self._filling = None
        self.link.clear()
        for viewer in self.viewers:
            self.grid.removeWidget(viewer)
            viewer.setVisible(False)
            viewer.remove_saliency()
            viewer.clear_lines()
        self._spare = self.viewers + self._spare
        self.viewers = []
        self._refresh_show_combo()
        self._last_line = None
        self.tumour_measurement = None
        self.recorded_label.setText("Tumour diameter: not measured")
        self.line_label.setText("No line drawn")
        self.use_button.setEnabled(False)
        self.saliency_bar.setVisible(False)

    def close_viewers(self) -> None:
        """Release every napari canvas, shown or kept (when the window closes)."""
        self._to_paint = []
        self.clear()
        for viewer in self._spare:
            viewer.close_viewer()
            # deleted now, not at a later event-loop turn: a deleteLater left for after the
            # event loop would run during interpreter finalisation
            shiboken6.delete(viewer)
        self._spare = []

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the view releases its napari canvases."""
        self.close_viewers()
        super().closeEvent(event)

    def viewer_for(self, series_uid: str) -> PhaseViewer:
        """The viewer showing the series with this SeriesInstanceUID.

        Raises:
            KeyError: if no viewer shows it.
        """
        for viewer in self.viewers:
            if viewer.series.series_instance_uid == series_uid:
                return viewer
        raise KeyError(f"No series {series_uid} is shown.")

    # --- layout ---------------------------------------------------------------------
    def show_only(self, series_uid: str | None) -> None:
        """Show one series alone, or every series side by side (None)."""
        for viewer in self.viewers:
            viewer.setVisible(series_uid is None or viewer.series.series_instance_uid == series_uid)
        index = self.show_combo.findData(series_uid or ALL_PHASES)
        if index >= 0 and index != self.show_combo.currentIndex():
            self.show_combo.setCurrentIndex(index)

    def _refresh_show_combo(self) -> None:
        current = self.show_combo.currentData()
        self.show_combo.blockSignals(True)
        self.show_combo.clear()
        self.show_combo.addItem("All phases", ALL_PHASES)
        for viewer in self.viewers:
            self.show_combo.addItem(
                PHASE_NAMES[viewer.series.phase] + _describe(viewer.series),
                viewer.series.series_instance_uid,
            )
        index = self.show_combo.findData(current)
        self.show_combo.setCurrentIndex(max(index, 0))
        self.show_combo.blockSignals(False)

    def _on_show_selected(self, index: int) -> None:
        data = self.show_combo.itemData(index)
        self.show_only(None if data in (None, ALL_PHASES) else str(data))

    def _on_link_toggled(self, on: bool) -> None:
        self.link.enabled = on
        visible = [v for v in self.viewers if v.isVisible()] or self.viewers
        if on and visible:
            self.link.sync_from(visible[0].model)

    # --- window / level -------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        """Apply a window/level preset to every viewer (each on its own intensities)."""
        for viewer in self.viewers:
            viewer.apply_preset(name)

    # --- measuring ------------------------------------------------------------------
    def set_measuring(self, on: bool) -> None:
        """Switch every viewer between drawing lines and pan/zoom."""
        for viewer in self.viewers:
            viewer.set_measuring(on)
        if self.measure_button.isChecked() != on:
            self.measure_button.setChecked(on)

    def _on_line_measured(self, viewer: PhaseViewer, length_mm: float) -> None:
        if viewer.last_line_index is None:
            return
        self._last_line = (viewer, viewer.last_line_index)
        self.line_label.setText(f"Line: {length_mm:.1f} mm")
        self.use_button.setEnabled(True)

    def use_as_tumour_diameter(self) -> TumourMeasurement | None:
        """Record the line drawn last as the tumour diameter, with its source.

        Returns:
            The measurement, or None (with a message) when there is no usable line.
        """
        if self._last_line is None:
            self.message.emit("Draw a line first (Measure).")
            return None
        viewer, index = self._last_line
        lines = viewer.lines_world_mm()
        if index >= len(lines):
            self.message.emit("The line was removed; draw it again.")
            return None
        start, end = world_to_lps(lines[index])
        try:
            measurement = TumourMeasurement.from_endpoints(viewer.series, start, end)
        except ValueError as exc:
            self.message.emit(str(exc))
            return None
        self.tumour_measurement = measurement
        self.recorded_label.setText(
            f"Tumour diameter: {measurement.diameter_mm:.1f} mm "
            f"({PHASE_NAMES[viewer.series.phase]}, slice {measurement.slice_index + 1})"
        )
        self.tumour_measured.emit(measurement)
        return measurement

    # --- saliency -------------------------------------------------------------------
    def add_saliency(self, series_uid: str, volume_zyx: NDArray[np.floating], name: str) -> None:
        """Overlay a saliency volume (on the series' own grid) on the viewer of `series_uid`.

        Raises:
            KeyError: if the series is not shown.
            ValueError: if the volume's shape is not the series' (Z, Y, X).
        """
        self.viewer_for(series_uid).add_saliency(volume_zyx, name)
        self.saliency_bar.setVisible(True)
        self.saliency_bar.set_overlay_visible(True)
        self.set_saliency_visible(True)
        self.set_saliency_opacity(self.saliency_bar.opacity)
        self.set_saliency_threshold(self.saliency_bar.threshold)
        self.set_saliency_colormap(self.saliency_bar.colormap)

    def set_saliency_visible(self, on: bool) -> None:
        """Show or hide every saliency overlay."""
        for layer in self._saliency_layers():
            layer.visible = on
        self.saliency_bar.set_overlay_visible(on)

    def set_saliency_opacity(self, opacity: float) -> None:
        """Overlay opacity, 0 to 1."""
        for layer in self._saliency_layers():
            layer.opacity = float(np.clip(opacity, 0.0, 1.0))

    def set_saliency_threshold(self, fraction: float) -> None:
        """Hide overlay values below this fraction (0 to 1) of each overlay's range."""
        for layer in self._saliency_layers():
            low, high = layer.contrast_limits_range
            cut = low + float(np.clip(fraction, 0.0, 0.99)) * (high - low)
            layer.contrast_limits = (cut, high)

    def set_saliency_colormap(self, name: str) -> None:
        """Overlay colormap, one of `OVERLAY_COLORMAPS`."""
        for layer in self._saliency_layers():
            layer.colormap = overlay_colormap(name)

    def _saliency_layers(self) -> list[Image]:
        return [v.saliency_layer for v in self.viewers if v.saliency_layer is not None]


def _describe(series: MriSeries) -> str:
    return f" - {series.series_description}" if series.series_description else ""
