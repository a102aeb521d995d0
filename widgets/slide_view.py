"""The Slide tab: a whole-slide image as a lazy napari multiscale pyramid, with a scale bar in
µm when the pixel size is known, and an explanation heatmap in slide coordinates.

napari reads only the tiles of the level and region on screen (through array-like level views
over the reader's bounded tile cache), so memory stays bounded however large the slide.
napari slices on the GUI thread, so the views it gets never wait for a read: missing tiles
come from worker threads (`BackgroundTiles`), a coarser level stands in meanwhile, and the
layer is sliced again when they arrive. The associated
images (label, macro) are never displayed: a label can carry the patient's name.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from napari.components import ViewerModel
from napari.layers import Image
from napari.qt import QtViewer
from numpy.typing import NDArray
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.errors import Cancelled
from app.progress import ProgressFn, check_cancel
from app.slides.background_tiles import BackgroundTiles, read_into_cache
from app.slides.multiscale import LevelView
from app.slides.opener import open_slide
from app.slides.reader import SlideReader
from widgets.napari_canvas import draw_offscreen, make_current, slice_before_draw
from widgets.overlay_colormaps import overlay_colormap
from widgets.overlay_controls import OverlayControls

log = logging.getLogger(__name__)

NO_MPP_NOTE = (
    "This slide does not record its pixel size: physical sizes are unavailable and "
    "coordinates are in pixels."
)
TILE_SIZE = 256  # px, the chunk edge of the level arrays
_NO_SLIDE = [np.full((1, 1, 3), 255, dtype=np.uint8)]  # white glass, while no slide is shown
REFRESH_MS = 100  # tiles that arrive within this time are shown by one re-slice (if none ran)


def open_slide_for_view(
    path: Path, *, progress: ProgressFn, cancel: threading.Event
) -> SlideReader:
    """Open a slide in a worker thread (a `CoreTask` function); the caller owns the reader.

    The coarsest level is read ahead into the reader's tile cache: napari reads that level
    whole on the GUI thread (for its thumbnail), the view starts on it, and its tiles stand
    in for finer ones still being read.

    Raises:
        CaseImportError: if the slide cannot be opened.
        Cancelled: if cancelled (the reader is closed again).
    """
    check_cancel(cancel)
    reader = open_slide(path)
    coarsest = reader.info.level_count - 1
    cols, rows = reader.tile_grid(coarsest, TILE_SIZE)
    tiles = [(c, r) for r in range(rows) for c in range(cols)]
    progress(0, len(tiles) + 1)
    for done, (col, row) in enumerate(tiles, start=1):
        if cancel.is_set():
            break
        read_into_cache(reader, coarsest, col, row, TILE_SIZE)
        progress(done, len(tiles) + 1)
    if cancel.is_set():
        reader.close()
        raise Cancelled
    progress(len(tiles) + 1, len(tiles) + 1)
    return reader


class SlideView(QWidget):
    """One slide at a time in an embedded napari viewer (world units: µm, or px without mpp)."""

    _tile_arrived = Signal()  # emitted from tile-reading threads; delivered in the GUI thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reader: SlideReader | None = None
        self.tiles: BackgroundTiles | None = None
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._show_arrived_tiles)
        self._tile_arrived.connect(self._on_tile_arrived)
        self._arrivals = 0  # tiles arrived (counted in the GUI thread)
        self._arrivals_sliced = 0  # of those, how many the layer's latest slice could use
        self.heatmap_layer: Image | None = None
        self._fit_pending = False  # shown hidden: fit again once the canvas has its size
        self.model = ViewerModel(title="Slide")
        self.qt_viewer = QtViewer(self.model)
        self.model.canvas.events.size.connect(self._on_canvas_size)
        slice_before_draw(self.qt_viewer)
        self.scale_bar = self.model.canvas.overlays.scale_bar
        self.scale_bar.visible = False
        # Made once, hidden, and given each slide's levels: making a napari image layer (its
        # vispy visual) stalls the GUI thread for a good fraction of a second.
        make_current(self.qt_viewer)
        self._slide_layer: Image = self.model.add_image(
            _NO_SLIDE,
            multiscale=True,
            rgb=True,
            name="slide",
            contrast_limits=(0, 255),
            visible=False,
        )
        self._slide_layer.events.set_data.connect(self._on_sliced)

        self.slide_combo = QComboBox()
        self.slide_combo.setToolTip("Slides of this case")
        self.info_label = QLabel("No slide open.")
        self.note_label = QLabel(NO_MPP_NOTE)
        self.note_label.setObjectName("warningNote")
        self.note_label.setWordWrap(True)
        self.note_label.setVisible(False)
        # turbo ends in dark red, which stands out on both white glass and pink H&E tissue
        # (inferno's pale-yellow top would vanish on the glass).
        self.heatmap_bar = OverlayControls("Heatmap", opacity=0.5, colormap="turbo")
        self.heatmap_bar.visible_changed.connect(self.set_heatmap_visible)
        self.heatmap_bar.opacity_changed.connect(self.set_heatmap_opacity)
        self.heatmap_bar.threshold_changed.connect(self.set_heatmap_threshold)
        self.heatmap_bar.colormap_changed.connect(self.set_heatmap_colormap)
        self.heatmap_bar.setVisible(False)
        tools = QHBoxLayout()
        tools.addWidget(self.slide_combo)
        tools.addWidget(self.info_label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.note_label)
        layout.addWidget(self.heatmap_bar)
        layout.addWidget(self.qt_viewer, 1)

    @property
    def world_per_px(self) -> tuple[float, float]:
        """World units (µm, or px without mpp) per level-0 pixel, (y, x)."""
        if self.reader is None or self.reader.info.mpp is None:
            return (1.0, 1.0)
        mpp_x, mpp_y = self.reader.info.mpp
        return (mpp_y, mpp_x)

    def show_slide(self, reader: SlideReader) -> None:
        """Display an open slide; the view closes it when another is shown or on `clear`."""
        self.clear()
        self.reader = reader
        self.tiles = BackgroundTiles(reader, on_tile=self._tile_arrived.emit)
        info = reader.info
        make_current(self.qt_viewer)
        layer = self._slide_layer
        layer.visible = True  # first: napari refreshes the extent of visible layers only
        layer.scale = self.world_per_px
        layer.units = ("um", "um") if info.mpp is not None else ("pixel", "pixel")
        # finer levels never wait for a read; the coarsest (read ahead) is read as is
        layer.data = [
            LevelView(self.tiles, level, TILE_SIZE) for level in range(info.level_count - 1)
        ] + [LevelView(reader, info.level_count - 1, TILE_SIZE)]
        width, height = info.dimensions
        levels = f"{info.level_count} level" + ("s" if info.level_count != 1 else "")
        parts = [f"{width:,} x {height:,} px", levels]
        if info.mpp is not None:
            parts.append(f"{info.mpp[0]:.3f} µm/px")
        if info.objective_power:
            parts.append(f"{info.objective_power:g}x")
        if "label" in info.associated_images:
            parts.append("label image hidden")
        self.info_label.setText(" · ".join(parts))
        self.note_label.setVisible(info.mpp is None)
        self.scale_bar.visible = info.mpp is not None
        self.model.reset_view()
        self._fit_pending = not self.isVisible()

    def _on_canvas_size(self, event: object = None) -> None:
        """Fit the slide to the canvas again when the canvas gets its size on screen: a slide
        opened while its tab is hidden was fitted to the canvas's size from before."""
        if self._fit_pending and self.reader is not None:
            self.model.reset_view()
            self._fit_pending = not self.isVisible()

    @property
    def slide_layer(self) -> Image | None:
        """The napari layer showing the slide; None when no slide is shown."""
        return self._slide_layer if self.reader is not None else None

    @property
    def loading(self) -> bool:
        """True while tiles asked for by the view are being read or not yet shown."""
        return self._refresh_timer.isActive() or (self.tiles is not None and self.tiles.pending > 0)

    def _on_tile_arrived(self) -> None:
        self._arrivals += 1
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_sliced(self, event: object = None) -> None:
        # napari slices on the GUI thread, so no arrival is counted during a slice: every tile
        # counted so far was in the cache when this slice read it.
        self._arrivals_sliced = self._arrivals

    def _show_arrived_tiles(self) -> None:
        """Slice again for the tiles arrived since the last slice; none when a slice made by
        the camera meanwhile (a pan) already showed them: each slice uploads a whole
        viewport texture, which costs as much as a frame on a software renderer."""
        if self.slide_layer is not None and self._arrivals_sliced != self._arrivals:
            self.slide_layer.refresh(thumbnail=False, extent=False)

    def clear(self) -> None:
        """Remove the slide and its overlays, and close the reader."""
        if self.heatmap_layer is not None:
            self.model.layers.remove(self.heatmap_layer)
            self.heatmap_layer = None
        if self.reader is not None:  # the layer lets go of the reader's levels
            self._slide_layer.visible = False
            self._slide_layer.data = _NO_SLIDE
        self.heatmap_bar.setVisible(False)
        self.note_label.setVisible(False)
        self.scale_bar.visible = False
        self.info_label.setText("No slide open.")
        self._refresh_timer.stop()
        if self.tiles is not None:
            self.tiles.close()
            self.tiles = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def add_slide_heatmap(
        self,
        heatmap: NDArray[np.floating],
        scale_px: float | tuple[float, float],
        offset_px: tuple[float, float] = (0.0, 0.0),
        name: str = "heatmap",
    ) -> Image:
        """Overlay a heatmap given in slide coordinates.

        Args:
            heatmap: (h, w) values; cell (i, j) covers level-0 pixels
                [offset_y + i * scale_y, offset_y + (i + 1) * scale_y) and likewise in x.
            scale_px: Level-0 pixels per heatmap cell, one number or (y, x).
            offset_px: (y, x) level-0 pixel position of the first cell's top-left corner.
            name: Layer name shown to the user.

        Raises:
            RuntimeError: if no slide is shown.
            ValueError: if the heatmap is not 2-D or the scale is not positive.
        """
        if self.reader is None:
            raise RuntimeError("Open a slide before adding a heatmap.")
        values = np.asarray(heatmap, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"A slide heatmap must be 2-D (h, w), got shape {values.shape}.")
        sy, sx = (scale_px, scale_px) if isinstance(scale_px, int | float) else scale_px
        if sy <= 0 or sx <= 0:
            raise ValueError(f"Heatmap scale must be positive level-0 pixels, got {scale_px}.")
        wy, wx = self.world_per_px
        # napari centres pixel 0 on the origin; level-0 pixel p spans [p - 0.5, p + 0.5).
        translate = (
            (offset_px[0] + (sy - 1) / 2) * wy,
            (offset_px[1] + (sx - 1) / 2) * wx,
        )
        if self.heatmap_layer is not None:
            self.model.layers.remove(self.heatmap_layer)
        vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
        vmax = vmax if vmax > vmin else vmin + 1.0
        make_current(self.qt_viewer)
        self.heatmap_layer = self.model.add_image(
            values,
            name=name,
            scale=(sy * wy, sx * wx),
            translate=translate,
            units=self.slide_layer.units if self.slide_layer is not None else None,
            colormap=overlay_colormap(self.heatmap_bar.colormap),
            contrast_limits=(vmin, vmax),
            opacity=self.heatmap_bar.opacity,
            blending="translucent",
        )
        self.heatmap_layer.contrast_limits_range = (vmin, vmax)
        self.heatmap_bar.setVisible(True)
        self.heatmap_bar.set_overlay_visible(True)
        self.set_heatmap_threshold(self.heatmap_bar.threshold)
        return self.heatmap_layer

    def set_heatmap_visible(self, on: bool) -> None:
        """Show or hide the heatmap."""
        if self.heatmap_layer is not None:
            self.heatmap_layer.visible = on
        self.heatmap_bar.set_overlay_visible(on)

    def set_heatmap_opacity(self, opacity: float) -> None:
        """Heatmap opacity, 0 to 1."""
        if self.heatmap_layer is not None:
            self.heatmap_layer.opacity = float(np.clip(opacity, 0.0, 1.0))

    def set_heatmap_threshold(self, fraction: float) -> None:
        """Hide heatmap values below this fraction (0 to 1) of its range."""
        if self.heatmap_layer is not None:
            low, high = self.heatmap_layer.contrast_limits_range
            cut = low + float(np.clip(fraction, 0.0, 0.99)) * (high - low)
            self.heatmap_layer.contrast_limits = (cut, high)

    def set_heatmap_colormap(self, name: str) -> None:
        """Heatmap colormap, one of `OVERLAY_COLORMAPS`."""
        if self.heatmap_layer is not None:
            self.heatmap_layer.colormap = overlay_colormap(name)

    def screenshot(self) -> NDArray[np.uint8]:
        """(H, W, 4) uint8 RGBA of the canvas as shown."""
        return np.asarray(self.qt_viewer.screenshot(flash=False))

    def paint_offscreen(self) -> None:
        """Draw the canvas once offscreen (`napari_canvas.draw_offscreen`) with the (blank)
        slide layer and the scale bar on, then hide them again: the scale bar's first showing
        builds its text. Does nothing with a slide shown."""
        if self.reader is not None:
            return
        self._slide_layer.visible = True
        self.scale_bar.visible = True
        draw_offscreen(self.qt_viewer, self)
        self._slide_layer.visible = False
        self.scale_bar.visible = False

    def close_viewer(self) -> None:
        """Close the reader and the napari canvas."""
        self.clear()
        self.qt_viewer.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the view closes its slide, tile threads and canvas."""
        self.close_viewer()
        super().closeEvent(event)
