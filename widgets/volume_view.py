"""The 3D tab: volume rendering of one MRI phase in VTK, with transfer-function presets and
the saliency volume as an iso-surface or a second coloured volume.

Everything is placed in patient LPS millimetres (each prop gets the series' voxel-to-patient
matrix), and the default camera looks at the patient from the front with the head up, so the
patient's left is on the screen's right as on an axial slice.

The saliency props live in a second renderer layer that shares the camera, so they show
through the anatomy (a maximum intensity projection would otherwise hide anything inside
bright tissue).

The VTK widget is created only when the tab is first shown with a series to render, after
napari's viewers have made their OpenGL objects (napari and VTK share GL state; see
docs/stack.md).
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL render window)
from numpy.typing import NDArray
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPiecewiseFunction
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindowInteractor,
    vtkVolume,
    vtkVolumeProperty,
    vtkWindowToImageFilter,
)
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from app.imaging.series import PHASE_NAMES, MriSeries
from widgets.volume_presets import TRANSFER_PRESETS, TransferPreset, intensity_reference

log = logging.getLogger(__name__)

SaliencyMode = Literal["off", "surface", "volume"]
SALIENCY_MODES: dict[SaliencyMode, str] = {
    "surface": "Saliency: iso-surface",
    "volume": "Saliency: coloured volume",
    "off": "Saliency: off",
}
SALIENCY_RGB = (1.0, 0.35, 0.0)  # orange-red: stands out from the grey/tan anatomy
BACKGROUND_RGB = (0.08, 0.08, 0.1)
# VTK cube faces and the patient direction each points to (LPS axes)
_FACE_LABELS = (
    ("XPlus", "L"),
    ("XMinus", "R"),
    ("YPlus", "P"),
    ("YMinus", "A"),
    ("ZPlus", "S"),
    ("ZMinus", "I"),
)


def image_data(volume_zyx: NDArray[np.floating], spacing_mm_zyx: tuple[float, ...]) -> vtkImageData:
    """A vtkImageData (float32 scalars) of a (Z, Y, X) volume with origin 0 and identity
    direction; the patient placement goes on the prop (`patient_matrix`)."""
    volume = np.ascontiguousarray(volume_zyx, dtype=np.float32)
    z, y, x = volume.shape
    data = vtkImageData()
    data.SetDimensions(x, y, z)
    data.SetSpacing(spacing_mm_zyx[2], spacing_mm_zyx[1], spacing_mm_zyx[0])
    scalars = numpy_to_vtk(volume.ravel(), deep=True)  # type: ignore[no-untyped-call]
    scalars.SetName("intensity")
    data.GetPointData().SetScalars(scalars)
    return data


def patient_matrix(series: MriSeries) -> vtkMatrix4x4:
    """Maps the image data's (x, y, z) mm (index x spacing) to patient LPS mm."""
    iop = np.asarray(series.image_orientation_patient, dtype=np.float64)
    matrix = vtkMatrix4x4()
    columns = (iop[:3], iop[3:], series.normal)
    for col, axis in enumerate(columns):
        for row in range(3):
            matrix.SetElement(row, col, float(axis[row]))
    for row in range(3):
        matrix.SetElement(row, 3, float(series.origin_mm[row]))
    return matrix


class VolumeView(QWidget):
    """VTK volume rendering of the chosen phase, with a saliency overlay."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: list[MriSeries] = []
        self.saliency: dict[str, NDArray[np.float32]] = {}
        self.vtk_widget: QVTKRenderWindowInteractor | None = None
        self.renderer: vtkRenderer | None = None
        self.overlay_renderer: vtkRenderer | None = None  # saliency, drawn over the anatomy
        self._volume: vtkVolume | None = None
        self._saliency_props: list[vtkVolume | vtkActor] = []
        self._render_pending = False
        self.orientation_marker: vtkOrientationMarkerWidget | None = None

        self.phase_combo = QComboBox()
        self.phase_combo.currentIndexChanged.connect(lambda _: self._rebuild())
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(list(TRANSFER_PRESETS))
        self.preset_combo.setCurrentText("MIP")
        self.preset_combo.currentTextChanged.connect(lambda _: self._rebuild())
        self.saliency_combo = QComboBox()
        for mode, label in SALIENCY_MODES.items():
            self.saliency_combo.addItem(label, mode)
        self.saliency_combo.setEnabled(False)
        self.saliency_combo.currentIndexChanged.connect(lambda _: self._rebuild())
        self.reset_button = QPushButton("Reset view")
        self.reset_button.clicked.connect(self.reset_camera)
        self.hint = QLabel("(?)")
        self.hint.setToolTip("Left-drag rotates, right-drag or wheel zooms, middle-drag pans.")
        tools = QHBoxLayout()
        for widget in (
            QLabel("Phase:"),
            self.phase_combo,
            QLabel("Rendering:"),
            self.preset_combo,
            self.saliency_combo,
            self.reset_button,
            self.hint,
        ):
            tools.addWidget(widget)
        tools.addStretch(1)
        self.empty_label = QLabel("No MRI series in this case.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout = QVBoxLayout(self)
        self._layout.addLayout(tools)
        self._layout.addWidget(self.empty_label, 1)

    # --- content --------------------------------------------------------------------
    def set_series(self, series: list[MriSeries]) -> None:
        """Offer these series (the first is rendered)."""
        self.series = list(series)
        self.saliency = {}
        self.phase_combo.blockSignals(True)
        self.phase_combo.clear()
        for s in self.series:
            self.phase_combo.addItem(PHASE_NAMES[s.phase], s.series_instance_uid)
        self.phase_combo.blockSignals(False)
        self.saliency_combo.setEnabled(False)
        self.empty_label.setVisible(not self.series)
        if self.vtk_widget is not None:
            self.vtk_widget.setVisible(bool(self.series))
        self._ensure_vtk_widget()
        self._rebuild(reset=True)

    def refresh_phase_names(self) -> None:
        """Re-read the phase labels (after the user relabelled a series)."""
        for i, s in enumerate(self.series):
            self.phase_combo.setItemText(i, PHASE_NAMES[s.phase])

    def set_saliency(self, series_uid: str, volume_zyx: NDArray[np.floating]) -> None:
        """Attach a saliency volume (on the series' grid) to a series.

        Raises:
            KeyError: if the series is not offered.
            ValueError: if the shape is not the series' (Z, Y, X).
        """
        series = self._series_by_uid(series_uid)
        volume = np.asarray(volume_zyx, dtype=np.float32)
        if volume.shape != series.shape_zyx:
            raise ValueError(
                f"Saliency shape {volume.shape} does not match the series grid {series.shape_zyx}."
            )
        self.saliency[series_uid] = volume
        self.saliency_combo.setEnabled(True)
        self._rebuild()

    def select(
        self, series_uid: str, preset: str | None = None, saliency: SaliencyMode | None = None
    ) -> None:
        """Choose what to render (series, transfer preset, saliency mode)."""
        self.phase_combo.setCurrentIndex(self.phase_combo.findData(series_uid))
        if preset is not None:
            self.preset_combo.setCurrentText(preset)
        if saliency is not None:
            self.saliency_combo.setCurrentIndex(self.saliency_combo.findData(saliency))

    # --- VTK ------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        """Create the VTK widget the first time the tab is shown with something to render."""
        super().showEvent(event)
        self._ensure_vtk_widget()

    def _ensure_vtk_widget(self) -> None:
        """Make the VTK widget once the tab is visible and a series exists: by then napari's
        viewers of that series hold image layers, so napari has probed OpenGL in its own
        context before VTK makes its context current (docs/stack.md)."""
        if self.vtk_widget is None and self.series and self.isVisible():
            self._create_vtk_widget()
            self._rebuild(reset=True)

    def _create_vtk_widget(self) -> None:
        self.vtk_widget = QVTKRenderWindowInteractor(self)  # type: ignore[no-untyped-call]
        self._layout.addWidget(self.vtk_widget, 1)
        self.vtk_widget.show()  # a child added to a shown widget is shown only later
        self._layout.activate()  # give the render window its size before the first render
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(*BACKGROUND_RGB)
        self.overlay_renderer = vtkRenderer()
        self.overlay_renderer.SetLayer(1)
        self.overlay_renderer.InteractiveOff()
        self.overlay_renderer.SetActiveCamera(self.renderer.GetActiveCamera())
        window = self.vtk_widget.GetRenderWindow()  # type: ignore[no-untyped-call]
        window.SetNumberOfLayers(2)
        window.AddRenderer(self.renderer)
        window.AddRenderer(self.overlay_renderer)
        interactor = window.GetInteractor()
        interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self.orientation_marker = _orientation_marker(interactor, self.renderer)
        self.vtk_widget.Initialize()
        self.vtk_widget.Start()

    def _rebuild(self, reset: bool = False) -> None:
        if self.renderer is None or self.overlay_renderer is None:
            return
        self.renderer.RemoveAllViewProps()
        self.overlay_renderer.RemoveAllViewProps()
        self._volume, self._saliency_props = None, []
        index = self.phase_combo.currentIndex()
        if 0 <= index < len(self.series):
            series = self.series[index]
            preset = TRANSFER_PRESETS[self.preset_combo.currentText()]
            self._volume = _volume_prop(series, series.voxels[0], preset)
            self.renderer.AddVolume(self._volume)
            mode: SaliencyMode = self.saliency_combo.currentData() or "off"
            saliency = self.saliency.get(series.series_instance_uid)
            if saliency is not None and mode != "off":
                self._saliency_props = _saliency_props(series, saliency, mode)
                for prop in self._saliency_props:
                    if isinstance(prop, vtkVolume):
                        self.overlay_renderer.AddVolume(prop)
                    else:
                        self.overlay_renderer.AddActor(prop)
        if reset:
            self.reset_camera()
        else:
            self._schedule_render()

    def reset_camera(self) -> None:
        """Look at the patient from the front, head up, whole volume in view."""
        if self.renderer is None:
            return
        self.renderer.ResetCamera()
        camera = self.renderer.GetActiveCamera()
        focal = np.asarray(camera.GetFocalPoint())
        distance = camera.GetDistance()
        camera.SetPosition(*(focal + np.array([0.0, -distance, 0.0])))  # anterior (-y in LPS)
        camera.SetViewUp(0.0, 0.0, 1.0)  # superior
        self.renderer.ResetCamera()
        camera.Zoom(1.5)  # ResetCamera fits the bounding sphere, which leaves wide margins
        self._schedule_render()

    def rotate(self, azimuth_deg: float, elevation_deg: float = 0.0) -> None:
        """Turn the camera around the volume."""
        if self.renderer is None:
            return
        camera = self.renderer.GetActiveCamera()
        camera.Azimuth(azimuth_deg)
        camera.Elevation(elevation_deg)
        camera.OrthogonalizeViewUp()
        self._schedule_render()

    def zoom(self, factor: float) -> None:
        """Zoom in (> 1) or out (< 1)."""
        if self.renderer is None:
            return
        self.renderer.GetActiveCamera().Zoom(factor)
        self._schedule_render()

    def _schedule_render(self) -> None:
        """Render once the current burst of changes is over (ray casting is costly on a CPU
        renderer; several changes in one event-loop turn give one render)."""
        if not self._render_pending:
            self._render_pending = True
            QTimer.singleShot(0, self._render_if_pending)

    def _render_if_pending(self) -> None:
        if self._render_pending:
            self.redraw()

    def redraw(self) -> None:
        """Render now."""
        self._render_pending = False
        if self.vtk_widget is not None:
            window = self.vtk_widget.GetRenderWindow()  # type: ignore[no-untyped-call]
            window.Render()

    def screenshot(self) -> NDArray[np.uint8]:
        """(H, W, 3) uint8 RGB of the render window, top row first.

        Raises:
            RuntimeError: if the tab has never been shown (no render window yet).
        """
        if self.vtk_widget is None:
            raise RuntimeError("The 3D view has not been shown yet.")
        self.redraw()
        window = self.vtk_widget.GetRenderWindow()  # type: ignore[no-untyped-call]
        grabber = vtkWindowToImageFilter()
        grabber.SetInput(window)
        grabber.SetInputBufferTypeToRGB()
        grabber.ReadFrontBufferOff()
        grabber.ShouldRerenderOff()  # just rendered: read that frame, do not ray-cast again
        grabber.Update()
        image = grabber.GetOutput()
        width, height, _ = image.GetDimensions()
        scalars = image.GetPointData().GetScalars()
        pixels = vtk_to_numpy(scalars).reshape(height, width, 3)  # type: ignore[no-untyped-call]
        return np.ascontiguousarray(pixels[::-1])

    def close_vtk(self) -> None:
        """Release the render window and delete its widget now (call before the view goes).

        The render window keeps its own X display connection until it is destroyed. The
        widget's observers (bound methods on the interactor and the render window) form a
        reference cycle with it, so a `deleteLater` left it alive until a garbage collection;
        if none came before the display server went (as under pytest-xvfb), its destructor
        closed a dead connection at interpreter exit and the process died (SIGSEGV). Hence the
        observers are removed and the widget is unparented: it goes with its last reference.
        """
        widget, self.vtk_widget = self.vtk_widget, None
        if self.orientation_marker is not None:
            self.orientation_marker.SetEnabled(0)
            self.orientation_marker = None
        self.renderer = self.overlay_renderer = None
        self._volume, self._saliency_props = None, []
        self._render_pending = False
        if widget is not None:
            widget.hide()  # no paint event may reach a finalized render window
            widget.Finalize()  # type: ignore[no-untyped-call]
            widget.RemoveAllObservers()  # the interactor's (the widget forwards to it)
            widget.GetRenderWindow().RemoveAllObservers()  # type: ignore[no-untyped-call]
            self._layout.removeWidget(widget)
            widget.setParent(None)  # owned by this reference alone: deleted on return

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the view releases its render window."""
        self.close_vtk()
        super().closeEvent(event)

    def _series_by_uid(self, series_uid: str) -> MriSeries:
        for s in self.series:
            if s.series_instance_uid == series_uid:
                return s
        raise KeyError(f"No series {series_uid} in the 3D view.")


def _orientation_marker(
    interactor: vtkRenderWindowInteractor, renderer: vtkRenderer
) -> vtkOrientationMarkerWidget:
    """A grey cube in the lower-left corner, its faces labelled with the patient directions
    (LPS: +x left, +y posterior, +z superior), turning with the camera of `renderer`."""
    cube = vtkAnnotatedCubeActor()
    for face, text in _FACE_LABELS:
        getattr(cube, f"Set{face}FaceText")(text)
        getattr(cube, f"Get{face}FaceProperty")().SetColor(1.0, 1.0, 1.0)
    cube.GetCubeProperty().SetColor(0.3, 0.3, 0.36)
    cube.SetTextEdgesVisibility(False)
    marker = vtkOrientationMarkerWidget()
    marker.SetOrientationMarker(cube)
    marker.SetInteractor(interactor)
    marker.SetDefaultRenderer(renderer)
    marker.SetViewport(0.0, 0.0, 0.16, 0.16)
    marker.SetEnabled(1)
    marker.InteractiveOff()
    return marker


def _volume_prop(
    series: MriSeries, volume: NDArray[np.floating], preset: TransferPreset
) -> vtkVolume:
    low, high = intensity_reference(volume)
    span = high - low
    colors = vtkColorTransferFunction()
    for pos, r, g, b in preset.color_points:
        colors.AddRGBPoint(low + pos * span, r, g, b)
    opacity = vtkPiecewiseFunction()
    for pos, alpha in preset.opacity_points:
        opacity.AddPoint(low + pos * span, alpha)
    prop = vtkVolumeProperty()
    prop.SetColor(colors)
    prop.SetScalarOpacity(opacity)
    prop.SetInterpolationTypeToLinear()
    if preset.blend == "composite":
        prop.ShadeOn()
        prop.SetAmbient(0.3)
        prop.SetDiffuse(0.7)
    mapper = vtkSmartVolumeMapper()
    mapper.SetInputData(image_data(volume, series.spacing_mm_zyx))
    if preset.blend == "mip":
        mapper.SetBlendModeToMaximumIntensity()
    else:
        mapper.SetBlendModeToComposite()
    actor = vtkVolume()
    actor.SetMapper(mapper)
    actor.SetProperty(prop)
    actor.SetUserMatrix(patient_matrix(series))
    return actor


def _saliency_props(
    series: MriSeries, saliency: NDArray[np.float32], mode: SaliencyMode
) -> list[vtkVolume | vtkActor]:
    vmin, vmax = float(np.nanmin(saliency)), float(np.nanmax(saliency))
    if not vmax > vmin:
        return []
    level = vmin + 0.5 * (vmax - vmin)
    data = image_data(saliency, series.spacing_mm_zyx)
    if mode == "surface":
        surface = vtkFlyingEdges3D()
        surface.SetInputData(data)
        surface.SetValue(0, level)
        surface.ComputeNormalsOn()
        surface_mapper = vtkPolyDataMapper()
        surface_mapper.SetInputConnection(surface.GetOutputPort())
        surface_mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(surface_mapper)
        actor.GetProperty().SetColor(*SALIENCY_RGB)
        actor.GetProperty().SetOpacity(0.7)
        actor.SetUserMatrix(patient_matrix(series))
        return [actor]
    colors = vtkColorTransferFunction()  # yellow (weak) to red (strong)
    colors.AddRGBPoint(vmin, 1.0, 0.9, 0.0)
    colors.AddRGBPoint(vmax, 1.0, 0.0, 0.0)
    opacity = vtkPiecewiseFunction()
    opacity.AddPoint(vmin, 0.0)
    opacity.AddPoint(vmin + 0.2 * (vmax - vmin), 0.0)
    opacity.AddPoint(vmax, 0.8)
    prop = vtkVolumeProperty()
    prop.SetColor(colors)
    prop.SetScalarOpacity(opacity)
    prop.SetInterpolationTypeToLinear()
    mapper = vtkSmartVolumeMapper()
    mapper.SetInputData(data)
    volume = vtkVolume()
    volume.SetMapper(mapper)
    volume.SetProperty(prop)
    volume.SetUserMatrix(patient_matrix(series))
    return [volume]
