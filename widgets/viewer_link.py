"""Links napari viewer models so that one action moves all: slice position, zoom and pan.

All linked viewers share one world (patient mm, see mri_geometry), so the link copies world
coordinates: the slice position of the non-displayed axes (`dims.point`) and the camera's
centre and zoom. A re-entrancy flag stops the copies from echoing back and forth.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from napari.components import ViewerModel


class ViewerLink:
    """Keeps the slice, zoom and pan of several `ViewerModel`s equal."""

    def __init__(self) -> None:
        self._models: list[ViewerModel] = []
        self._syncing = False
        self.enabled = True

    @property
    def models(self) -> list[ViewerModel]:
        """The linked models."""
        return list(self._models)

    def add(self, model: ViewerModel) -> None:
        """Link `model` to the others (it takes their current slice and camera)."""
        if self._models:
            self._copy(self._models[0], [model])
        self._models.append(model)
        model.dims.events.point.connect(self._on_change)
        model.scene.camera.events.center.connect(self._on_change)
        model.scene.camera.events.zoom.connect(self._on_change)

    def remove(self, model: ViewerModel) -> None:
        """Unlink `model`."""
        model.dims.events.point.disconnect(self._on_change)
        model.scene.camera.events.center.disconnect(self._on_change)
        model.scene.camera.events.zoom.disconnect(self._on_change)
        self._models.remove(model)

    def clear(self) -> None:
        """Unlink every model."""
        for model in list(self._models):
            self.remove(model)

    def sync_from(self, source: ViewerModel) -> None:
        """Give every other linked model the slice and camera of `source`."""
        self._copy(source, [m for m in self._models if m is not source])

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Changes made inside this block are not copied to the other viewers."""
        before, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = before

    def _on_change(self, event: Any) -> None:
        if self._syncing or not self.enabled:
            return
        source = next((m for m in self._models if event.source in (m.dims, m.scene.camera)), None)
        if source is None:
            return
        self._copy(source, [m for m in self._models if m is not source])

    def _copy(self, source: ViewerModel, targets: list[ViewerModel]) -> None:
        with self.paused():
            for target in targets:
                if target.dims.ndim == source.dims.ndim:
                    for axis in source.dims.not_displayed:
                        target.dims.set_point(axis, source.dims.point[axis])
                target.scene.camera.center = source.scene.camera.center
                target.scene.camera.zoom = source.scene.camera.zoom
