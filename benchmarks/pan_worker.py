"""Subprocess of the slide benchmark: pan and zoom a slide for N seconds, report peak RSS.

With a display (scripts/bench.sh runs under xvfb-run), it drives the GUI's own `SlideView`
(napari) camera: a step every event-loop turn. Without one, it slices the reader's multiscale
dask arrays as napari does for a 1920 x 1080 canvas: the level is the finest whose downsample
is at least the zoom (level-0 px per screen px), and the slice is the canvas's corner pixels
on that level, computed with dask's default scheduler.
Prints one JSON line: peak RSS (ru_maxrss), steps, the most tiles read in one step, and the
fewest tiles of any level larger than the canvas (a step reading that many read a whole level).

Usage: ``python -m benchmarks.pan_worker SLIDE SECONDS``
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.slides import open_slide
from app.slides.info import SlideInfo
from app.slides.reader import SlideReader

CANVAS_WH = (1920, 1080)
TILE = 256


class _CountingReads:
    """Counts the reader's backend reads (OpenSlide ``read_region`` calls, one per tile)."""

    def __init__(self, reader: SlideReader) -> None:
        self.reads = 0
        self._backend = reader.read_region
        reader.read_region = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> NDArray[np.uint8]:
        self.reads += 1
        return self._backend(*args, **kwargs)


def _level_tile_counts(info: SlideInfo) -> list[int]:
    """Tiles of each level larger than the canvas (reading that many is a whole level)."""
    cw, ch = CANVAS_WH
    return [-(-w // TILE) * -(-h // TILE) for w, h in info.level_dimensions if w > cw and h > ch]


def pan_dask(reader: SlideReader, counter: _CountingReads, seconds: float) -> tuple[int, int]:
    """Pan through the dask levels as napari slices them; (steps, most reads in a step)."""
    arrays = reader.multiscale(TILE)
    info = reader.info
    cw, ch = CANVAS_WH
    rng = np.random.default_rng(4)
    width0, height0 = info.dimensions
    cx, cy, zoom = width0 / 2, height0 / 2, 1.0
    max_chunks, steps = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if steps % 25 == 0:
            zoom = float(2 ** rng.uniform(0, np.log2(info.level_downsamples[-1])))
        angle = rng.uniform(0, 2 * np.pi)
        cx = float(np.clip(cx + 300 * zoom * np.cos(angle), 0, width0))
        cy = float(np.clip(cy + 300 * zoom * np.sin(angle), 0, height0))
        level = next(
            (lvl for lvl, d in enumerate(info.level_downsamples) if d >= zoom / 1.001),
            info.level_count - 1,
        )
        d = info.level_downsamples[level]
        w, h = info.level_dimensions[level]
        x0 = int(np.clip((cx - cw * zoom / 2) / d, 0, w - 1))
        y0 = int(np.clip((cy - ch * zoom / 2) / d, 0, h - 1))
        x1 = min(w, x0 + int(np.ceil(cw * zoom / d)))
        y1 = min(h, y0 + int(np.ceil(ch * zoom / d)))
        before = counter.reads
        np.asarray(arrays[level][y0:y1, x0:x1])
        max_chunks = max(max_chunks, counter.reads - before)
        steps += 1
    return steps, max_chunks


def pan_napari(reader: SlideReader, counter: _CountingReads, seconds: float) -> tuple[int, int]:
    """Pan and zoom the GUI's `SlideView` (napari) camera; (steps, most reads in a step)."""
    from PySide6.QtWidgets import QApplication

    from widgets.slide_view import SlideView

    app = QApplication.instance() or QApplication(["pan"])
    view = SlideView()
    view.resize(*CANVAS_WH)
    view.show()
    view.show_slide(reader)
    for _ in range(20):
        app.processEvents()
    camera = view.model.scene.camera
    base_zoom = camera.zoom  # whole slide in view
    height_w, width_w = (
        n * s for n, s in zip(reader.info.dimensions[::-1], view.world_per_px, strict=True)
    )
    rng = np.random.default_rng(4)
    max_chunks, steps = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if steps % 25 == 0:
            camera.zoom = base_zoom * float(2 ** rng.uniform(0, 7))
        y, x = camera.center[-2:]
        angle = rng.uniform(0, 2 * np.pi)
        stride = 300 / camera.zoom  # 300 screen px
        before = counter.reads
        camera.center = (
            float(np.clip(y + stride * np.sin(angle), 0, height_w)),
            float(np.clip(x + stride * np.cos(angle), 0, width_w)),
        )
        view.qt_viewer.canvas.native.update()
        app.processEvents()
        max_chunks = max(max_chunks, counter.reads - before)
        steps += 1
    view.close_viewer()
    return steps, max_chunks


def main() -> int:
    """Pan for the given seconds with napari when there is a display, else as napari slices."""
    path, seconds = Path(sys.argv[1]), float(sys.argv[2])
    use_napari = bool(os.environ.get("DISPLAY"))
    reader = open_slide(path)
    counter = _CountingReads(reader)
    counts = _level_tile_counts(reader.info)
    if use_napari:
        steps, max_chunks = pan_napari(reader, counter, seconds)
    else:
        steps, max_chunks = pan_dask(reader, counter, seconds)
        reader.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    print(
        json.dumps(
            {
                "peak_rss_bytes": peak,
                "steps": steps,
                "max_chunks_per_step": max_chunks,
                "smallest_full_level_chunks": min(counts) if counts else 0,
                "reads": counter.reads,
                "driver": "napari SlideView under X"
                if use_napari
                else "multiscale dask slices as napari makes them",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
