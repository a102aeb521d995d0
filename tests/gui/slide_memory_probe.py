"""Run in a fresh process by test_slide_view: open a slide in the SlideView and pan across it
at several zooms, measuring the process's peak memory (its VmHWM high-water mark).

Usage: python -m tests.gui.slide_memory_probe SLIDE SCREENSHOT.png
Prints one JSON object: baseline_mb, peak_mb, rss_after_mb, steps, seconds, max_step_s.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")


def _peak_mb() -> float:
    """This process's resident-memory high-water mark (VmHWM) in MiB. Not ru_maxrss: Linux
    carries that over from the parent through fork and exec (the big pytest process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(slide: Path, screenshot: Path) -> None:
    import numpy as np
    import psutil
    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from app.slides.opener import open_slide
    from widgets.slide_view import SlideView

    app = QApplication([])
    view = SlideView()
    view.resize(1400, 1000)
    view.show()
    app.processEvents()
    baseline = _peak_mb()
    start = time.perf_counter()
    view.show_slide(open_slide(slide))
    app.processEvents()
    assert view.reader is not None
    width, height = view.reader.info.dimensions
    wy, wx = view.world_per_px
    camera = view.model.scene.camera
    steps, max_step = 0, 0.0
    # Full resolution (1 screen px per level-0 px), then 1/4 and 1/32: a diagonal sweep and
    # a horizontal sweep across the whole slide at each zoom.
    for zoom_px, count in ((1.0, 8), (0.25, 5), (1 / 32, 3)):
        camera.zoom = zoom_px / wx
        for t in np.linspace(0.02, 0.98, count):
            for cy, cx in ((t * height, t * width), (0.5 * height, t * width)):
                step = time.perf_counter()
                camera.center = (cy * wy, cx * wx)
                app.processEvents()
                view.qt_viewer.canvas.native.repaint()
                app.processEvents()
                max_step = max(max_step, time.perf_counter() - step)
                steps += 1
    camera.zoom = 0.25 / wx
    camera.center = (0.5 * height * wy, 0.5 * width * wx)
    app.processEvents()
    while view.loading:  # the tiles on screen are read by worker threads
        app.processEvents()
        time.sleep(0.01)
    Image.fromarray(np.asarray(view.screenshot())[..., :3]).save(screenshot)
    result = {
        "baseline_mb": baseline,
        "peak_mb": _peak_mb(),
        "rss_after_mb": psutil.Process().memory_info().rss / 2**20,
        "steps": steps,
        "seconds": time.perf_counter() - start,
        "max_step_s": max_step,
        "levels": view.reader.info.level_count,
    }
    view.close_viewer()
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
