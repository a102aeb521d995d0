"""A row of controls for an explanation overlay: visible, opacity, threshold, colormap."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QWidget

from widgets.overlay_colormaps import OVERLAY_COLORMAPS


class OverlayControls(QWidget):
    """Emits the user's overlay settings; fractions are 0 to 1."""

    visible_changed = Signal(bool)
    opacity_changed = Signal(float)
    threshold_changed = Signal(float)
    colormap_changed = Signal(str)

    def __init__(
        self,
        label: str,
        opacity: float = 0.6,
        threshold: float = 0.2,
        colormap: str = "inferno",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.visible_box = QCheckBox(label)
        self.visible_box.setChecked(True)
        self.visible_box.toggled.connect(self.visible_changed)
        self.opacity_slider = _percent_slider(opacity, "Overlay opacity")
        self.opacity_slider.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100))
        self.threshold_slider = _percent_slider(
            threshold, "Hide overlay values below this share of its range"
        )
        self.threshold_slider.valueChanged.connect(lambda v: self.threshold_changed.emit(v / 100))
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(OVERLAY_COLORMAPS)
        self.colormap_combo.setCurrentText(colormap)
        self.colormap_combo.setCurrentText(colormap)
        self.colormap_combo.currentTextChanged.connect(self.colormap_changed)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (
            self.visible_box,
            QLabel("opacity"),
            self.opacity_slider,
            QLabel("threshold"),
            self.threshold_slider,
            self.colormap_combo,
        ):
            row.addWidget(widget)
        row.addStretch(1)

    @property
    def opacity(self) -> float:
        """Chosen opacity, 0 to 1."""
        return self.opacity_slider.value() / 100

    @property
    def threshold(self) -> float:
        """Chosen threshold as a share of the overlay's range, 0 to 1."""
        return self.threshold_slider.value() / 100

    @property
    def colormap(self) -> str:
        """Chosen colormap name."""
        return self.colormap_combo.currentText()

    def set_overlay_visible(self, on: bool) -> None:
        """Tick or untick the visibility box (emits `visible_changed` on a change)."""
        self.visible_box.setChecked(on)


def _percent_slider(fraction: float, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setValue(round(fraction * 100))
    slider.setMaximumWidth(120)
    slider.setToolTip(tip)
    return slider
