"""One MRI series in an embedded napari viewer, in patient millimetres.

The viewer's world is patient LPS space in (z, y, x) order (see `mri_geometry`): the image,
measuring and saliency layers all carry the series' voxel-to-world transform, so one slider
step is one slice and a line's length in world units is its length in mm.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
from napari.components import ViewerModel
from napari.layers import Image, Shapes
from napari.qt import QtViewer
from numpy.typing import NDArray
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.imaging.series import PHASE_NAMES, MriSeries, Phase
from widgets.mri_geometry import WORLD_AXIS_LABELS, layer_transform, view_plane, world_affine
from widgets.napari_canvas import draw_offscreen, make_current
from widgets.overlay_colormaps import overlay_colormap
from widgets.window_level import limits_to_window, window_presets, window_to_limits

log = logging.getLogger(__name__)

MEASURE_COLOR = "#00ff7f"  # spring green: stands out on grey MR and on warm overlays
_WINDOW_DRAG_GAIN = 0.005  # fraction of the full intensity range per screen pixel


def line_lengths_mm(lines: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    """Length in mm of each (2, 3) world-mm line."""
    return np.array([float(np.linalg.norm(line[1] - line[0])) for line in lines])


class PhaseViewer(QWidget):
    """A series in napari with its phase selector, window/level and measuring line."""

    phase_changed = Signal(str, str)  # series UID, new Phase value
    line_measured = Signal(float)  # length (mm) of a line just drawn or edited
    contrast_changed = Signal()

    def __init__(self, series: MriSeries | None = None, parent: QWidget | None = None) -> None:
        """An empty viewer (napari canvas and layers made, no series) or one showing `series`.

        Making the napari canvas and layers takes a good fraction of a second on the GUI
        thread; `set_series` then shows any series in a few milliseconds, so a viewer is made
        once and reused for every case.
        """
        super().__init__(parent)
        self._series: MriSeries | None = None
        self.model = ViewerModel(title="MRI")
        self.qt_viewer = QtViewer(self.model)
        self.saliency_layer: Image | None = None
        self.last_line_index: int | None = None  # the line drawn or edited last
        self._fit_pending = False  # filled hidden: fit again once the canvas has its size
        self.presets: dict[str, tuple[float, float]] = {"Full range": (0.0, 1.0)}
        self._full_range = self.presets["Full range"]

        self.phase_combo = QComboBox()
        for phase, label in PHASE_NAMES.items():
            self.phase_combo.addItem(label, phase.value)
        self.phase_combo.setToolTip("Contrast phase of this series (from the import; editable)")
        self.phase_combo.currentIndexChanged.connect(self._on_phase_selected)
        self.volume_combo = QComboBox()
        self.volume_combo.currentIndexChanged.connect(self._on_volume_selected)
        self.description = QLabel()
        self.window_label = QLabel()
        header = QHBoxLayout()
        header.setContentsMargins(2, 0, 2, 0)
        header.addWidget(self.phase_combo)
        header.addWidget(self.volume_combo)
        header.addWidget(self.description, 1)
        header.addWidget(self.window_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.qt_viewer, 1)

        make_current(self.qt_viewer)
        self.image_layer: Image = self.model.add_image(
            np.zeros((1, 1, 1), dtype=np.float32),
            units=("mm", "mm", "mm"),
            name="MRI",
            colormap="gray",
            contrast_limits=self._full_range,
            interpolation2d="linear",
        )
        self.measure_layer: Shapes = self.model.add_shapes(
            ndim=3,
            units=("mm", "mm", "mm"),
            name="Measure",
            shape_type="line",
            edge_color=MEASURE_COLOR,
            edge_width=0.8,
            features={"length_mm": np.zeros(0)},
            text={
                "string": "{length_mm:.1f} mm",
                "color": MEASURE_COLOR,
                "size": 12,
                "anchor": "upper_left",
            },
        )
        self.measure_layer.feature_defaults = {"length_mm": 0.0}
        self.measure_layer.events.data.connect(self._on_lines_changed)
        self.model.dims.axis_labels = WORLD_AXIS_LABELS
        self.model.canvas.overlays.scale_bar.visible = True  # in mm (the layers' units)
        self.model.layers.selection.active = self.image_layer
        self.image_layer.events.contrast_limits.connect(self._on_contrast)
        self.model.mouse_drag_callbacks.append(self._window_drag)
        self._canvas_hw = tuple(self.model.canvas.size)  # (height, width) px, as napari has it
        self.model.canvas.events.size.connect(self._on_canvas_size)
        if series is not None:
            self.set_series(series)

    @property
    def series(self) -> MriSeries:
        """The series shown.

        Raises:
            RuntimeError: if the viewer shows none (made ahead, not yet given one).
        """
        if self._series is None:
            raise RuntimeError("This viewer shows no series yet.")
        return self._series

    def set_series(self, series: MriSeries) -> None:
        """Show `series` (replacing the one shown, its lines and saliency) in patient mm."""
        for _ in self.fill_steps(series):
            pass

    def fill_steps(self, series: MriSeries) -> Iterator[None]:
        """`set_series` in steps, each some tens of ms on the GUI thread (every layer property
        set re-slices the layer); `MriView` runs one step per event-loop turn. The viewer is
        consistent again once the iterator is exhausted."""
        self._series = series
        self.presets = window_presets(series.voxels[0])
        self._full_range = self.presets["Full range"]
        self.remove_saliency()
        self.clear_lines()
        self.last_line_index = None
        self.model.title = series.series_description or "MRI"
        self.phase_combo.blockSignals(True)
        self.phase_combo.setCurrentIndex(self.phase_combo.findData(series.phase.value))
        self.phase_combo.blockSignals(False)
        self.volume_combo.blockSignals(True)
        self.volume_combo.clear()
        for i in range(series.volume_count):
            label = series.volume_labels[i] if i < len(series.volume_labels) else f"volume {i + 1}"
            self.volume_combo.addItem(label, i)
        self.volume_combo.blockSignals(False)
        self.volume_combo.setVisible(series.volume_count > 1)
        self.description.setText(series.series_description or "(no series description)")
        transform = layer_transform(series)
        layers = (self.image_layer, self.measure_layer)
        # napari re-slices a visible layer on every data or transform change: hidden, the
        # layers take the new series at once and are sliced once each when shown again.
        # A hidden layer's data change leaves its cached extent as it was; setting the
        # transforms afterwards clears it, so the viewer's slice range follows the new data.
        for layer in layers:
            layer.visible = False
        self.image_layer.data = series.voxels[0]
        self.image_layer.contrast_limits_range = self._full_range
        self.image_layer.contrast_limits = self.presets["Liver"]
        # One property per step: each transform set re-derives the viewer's dims (about
        # 25 ms on this machine), and two in one turn are a stutter the user feels.
        for layer in layers:
            for name in ("scale", "rotate", "translate"):
                yield
                make_current(self.qt_viewer)
                setattr(layer, name, getattr(transform, name))
        plane = view_plane(series)
        self.model.dims.order = plane.order
        for layer in layers:
            yield
            make_current(self.qt_viewer)
            layer.visible = True
        yield
        self.model.scene.camera.orientation2d = plane.orientation2d
        self.model.reset_view()
        self._fit_pending = True
        yield
        self.model.dims.set_point(plane.slice_axis, self._center_world()[plane.slice_axis])
        self._on_contrast()

    def _on_canvas_size(self, event: Any = None) -> None:
        """Fit the series to the canvas again when the canvas gets its size on screen (a
        series is filled hidden, when napari still has the canvas's size from before); later
        resizes (one phase alone, a larger window) scale the zoom so that what was in view
        stays in view, as large as it fits."""
        old_hw, self._canvas_hw = self._canvas_hw, tuple(self.model.canvas.size)
        if self._series is None:
            return
        if self._fit_pending:
            self.model.reset_view()
            self._fit_pending = not self.isVisible()
        elif self.isVisible() and min(old_hw) > 0:
            ratio = min(new / old for new, old in zip(self._canvas_hw, old_hw, strict=True))
            self.model.scene.camera.zoom *= ratio

    # --- window / level -------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        """Set the contrast limits of one of `window_level.PRESET_NAMES`."""
        self.image_layer.contrast_limits_range = self._full_range
        self.image_layer.contrast_limits = self.presets[name]

    def set_window(self, level: float, width: float) -> None:
        """Set window centre and width, in the series' intensity units."""
        low, high = window_to_limits(level, width)
        lo_full, hi_full = self._full_range
        self.image_layer.contrast_limits_range = (min(low, lo_full), max(high, hi_full))
        self.image_layer.contrast_limits = (low, high)

    def _on_contrast(self, event: Any = None) -> None:
        level, width = limits_to_window(tuple(self.image_layer.contrast_limits))
        self.window_label.setText(f"W {width:.0f}  L {level:.0f}")
        self.contrast_changed.emit()

    def _window_drag(self, model: ViewerModel, event: Any) -> Generator[None, None, None]:
        """Right-button drag: horizontal changes the window width, vertical the level."""
        if event.button != 2:
            return
        start = np.asarray(event.pos, dtype=np.float64)
        level0, width0 = limits_to_window(tuple(self.image_layer.contrast_limits))
        span = self._full_range[1] - self._full_range[0]
        yield
        while event.type == "mouse_move":
            dx, dy = np.asarray(event.pos, dtype=np.float64) - start
            gain = _WINDOW_DRAG_GAIN * span
            self.set_window(level0 - dy * gain, max(width0 + dx * gain, gain))
            yield

    # --- measuring -------------------------------------------------------------------
    def set_measuring(self, on: bool) -> None:
        """Draw lines with the left button (on) or pan/zoom (off)."""
        if on:
            self.model.layers.selection.active = self.measure_layer
            self.measure_layer.mode = "add_line"
        else:
            self.measure_layer.mode = "pan_zoom"
            self.model.layers.selection.active = self.image_layer

    def lines_world_mm(self) -> list[NDArray[np.float64]]:
        """Every measuring line as a (2, 3) array of world (z, y, x) mm endpoints."""
        layer = self.measure_layer
        return [
            np.array([layer.data_to_world(p) for p in line], dtype=np.float64)
            for line in layer.data
        ]

    def add_line_world_mm(
        self, start_zyx: NDArray[np.float64], end_zyx: NDArray[np.float64]
    ) -> None:
        """Draw a measuring line between two world (z, y, x) mm points, as the mouse would."""
        layer = self.measure_layer
        self.measure_layer.add_lines(
            np.array([layer.world_to_data(start_zyx), layer.world_to_data(end_zyx)])
        )

    def clear_lines(self) -> None:
        """Remove every measuring line."""
        if len(self.measure_layer.data):  # setting data re-slices and redraws the layer
            self.measure_layer.data = []

    def _on_lines_changed(self, event: Any) -> None:
        action = str(getattr(event, "action", ""))
        if action not in ("added", "changed", "removed"):
            return  # the "-ing" events come before the layer's data is consistent
        lengths = line_lengths_mm(self.lines_world_mm())
        self.measure_layer.features = {"length_mm": lengths}
        self.measure_layer.refresh_text()
        if self.last_line_index is not None and self.last_line_index >= lengths.size:
            self.last_line_index = None
        if lengths.size and action != "removed":
            indices = getattr(event, "data_indices", ()) or (lengths.size - 1,)
            index = int(indices[-1]) % lengths.size
            self.last_line_index = index
            self.line_measured.emit(float(lengths[index]))

    # --- overlays -------------------------------------------------------------------
    def add_saliency(self, volume_zyx: NDArray[np.floating], name: str) -> Image:
        """Show a saliency volume on this series' grid as a coloured overlay.

        Args:
            volume_zyx: (Z, Y, X) attribution magnitudes on the series grid.
            name: Layer name shown to the user.

        Raises:
            ValueError: if the volume's shape is not the series' (Z, Y, X).
        """
        volume = np.asarray(volume_zyx, dtype=np.float32)
        if volume.shape != self.series.shape_zyx:
            raise ValueError(
                f"Saliency shape {volume.shape} does not match the series grid "
                f"{self.series.shape_zyx}."
            )
        if self.saliency_layer is not None:
            self.model.layers.remove(self.saliency_layer)
        vmax = float(np.nanmax(volume)) if np.isfinite(volume).any() else 1.0
        vmin = float(np.nanmin(volume)) if np.isfinite(volume).any() else 0.0
        vmax = vmax if vmax > vmin else vmin + 1.0
        make_current(self.qt_viewer)
        self.saliency_layer = self.model.add_image(
            volume,
            **layer_transform(self.series).as_kwargs(),
            name=name,
            colormap=overlay_colormap("inferno"),
            contrast_limits=(vmin + 0.2 * (vmax - vmin), vmax),
            opacity=0.6,
            blending="translucent",
            interpolation2d="linear",
        )
        self.saliency_layer.contrast_limits_range = (vmin, vmax)
        self.model.layers.move(self.model.layers.index(self.measure_layer), -1)
        self.model.layers.selection.active = self.image_layer
        return self.saliency_layer

    def remove_saliency(self) -> None:
        """Drop the saliency overlay, if any."""
        if self.saliency_layer is not None:
            self.model.layers.remove(self.saliency_layer)
            self.saliency_layer = None

    # --- helpers --------------------------------------------------------------------
    def screenshot(self) -> NDArray[np.uint8]:
        """(H, W, 4) uint8 RGBA of the canvas as shown."""
        return np.asarray(self.qt_viewer.screenshot(flash=False))

    def _center_world(self) -> NDArray[np.float64]:
        z, y, x = self.series.shape_zyx
        index = np.array([(z - 1) / 2, (y - 1) / 2, (x - 1) / 2, 1.0])
        centre: NDArray[np.float64] = (world_affine(self.series) @ index)[:3]
        return centre

    def _on_phase_selected(self, index: int) -> None:
        if self._series is None:
            return
        self.series.phase = Phase(self.phase_combo.itemData(index))
        self.phase_changed.emit(self.series.series_instance_uid, self.series.phase.value)

    def _on_volume_selected(self, index: int) -> None:
        if self._series is None or index < 0:
            return
        self.image_layer.data = self.series.voxels[index]

    def paint_offscreen(self) -> None:
        """Draw the canvas once offscreen, hidden (`napari_canvas.draw_offscreen`)."""
        draw_offscreen(self.qt_viewer, self)

    def close_viewer(self) -> None:
        """Release the napari canvas."""
        self.qt_viewer.close()
