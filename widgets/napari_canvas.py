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
