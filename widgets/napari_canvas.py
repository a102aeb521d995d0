"""OpenGL chores of an embedded napari canvas, shared by the MRI and slide viewers."""

from __future__ import annotations

from napari.qt import QtViewer
from PySide6.QtWidgets import QWidget


def make_current(qt_viewer: QtViewer) -> None:
    """Make napari's GL context current before it creates GL objects (VTK may have left its
    own context current; see docs/stack.md). Does nothing before the canvas has a context."""
    native = qt_viewer.canvas.native
    if native.context() is not None:
        native.makeCurrent()


def draw_offscreen(qt_viewer: QtViewer, widget: QWidget) -> None:
    """Draw the canvas once into an offscreen image, `widget` (the viewer) staying hidden:
    the first draw compiles the canvas's shaders (about 0.3 s on Mesa llvmpipe), so a later
    first showing only redraws. Needs `widget`'s top-level window shown (a hidden window's
    canvas has no context to draw with): does nothing otherwise."""
    top = widget.window()
    if top.isVisible() and top.windowHandle() is not None:
        qt_viewer.canvas.native.grabFramebuffer()


def slice_before_draw(qt_viewer: QtViewer) -> None:
    """Have each draw of the canvas show the slice for its own camera.

    napari picks a multiscale layer's level and region, and slices it, *after* the scene is
    drawn (its draw handler runs last), then asks for another draw: every pan step costs two
    draws, the first of the stale slice. On a software renderer a draw of a full-HD canvas
    costs tens of ms, so this runs napari's handler once more *before* the scene is drawn;
    the update it asks for is the draw already under way (vispy's pending flag is still set,
    and the draw clears it), and napari's own handler afterwards finds nothing to slice.
    """
    canvas = qt_viewer.canvas
    scene_canvas = canvas._scene_canvas

    def slice_first(event: object) -> None:
        scene_canvas._update_pending = True  # updates asked for now: this draw shows them
        canvas.on_draw(event)

    scene_canvas.events.draw.connect(slice_first, position="first")
