"""Checks of the built app's output for scripts/smoke-app (run with the build venv's Python).

Each check derives what it expects independently of the frozen app: DICOM geometry from the
files' own tags (pydicom), slide geometry from OpenSlide in the build venv, prediction bounds
from the model contract, "not blank" from pixel statistics, and "no network" from strace's log
of every connect() the app and its children made.

    python packaging/smoke_checks.py dicom OUTPUT.json SERIES_DIR
    python packaging/smoke_checks.py slide OUTPUT.json SLIDE_FILE
    python packaging/smoke_checks.py predict OUTPUT.json
    python packaging/smoke_checks.py screenshot IMAGE.png
    python packaging/smoke_checks.py connects STRACE.log...

Exit status 0 when the check passes; otherwise one line on stderr saying what is wrong.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class CheckFailed(Exception):
    """The built app's output is not what the source files say it should be."""


def _load(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckFailed(f"{path}: not a JSON document ({exc})") from exc


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def check_dicom(output: str, series_dir: str) -> str:
    """One MR series whose size, slice count and pixel spacing match the files' tags."""
    import pydicom

    images = []
    for path in sorted(Path(series_dir).iterdir()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue
        if "Rows" in ds and "PixelSpacing" in ds:
            images.append(ds)
    _expect(bool(images), f"{series_dir}: no DICOM images with pixel spacing")
    report = _load(output)
    _expect(len(report["mri"]) == 1, f"expected one MR series, got {len(report['mri'])}")
    series = report["mri"][0]
    first = images[0]
    expected_shape = [len(images), int(first.Rows), int(first.Columns)]
    got_shape = series["shape_zyx"]
    _expect(got_shape == expected_shape, f"shape {got_shape} != {expected_shape}")
    _expect(series["series_instance_uid"] == str(first.SeriesInstanceUID), "wrong series UID")
    row_mm, col_mm = (float(v) for v in first.PixelSpacing)
    got_y, got_x = series["spacing_mm_zyx"][1:]
    _expect(
        math.isclose(got_y, row_mm, rel_tol=1e-4) and math.isclose(got_x, col_mm, rel_tol=1e-4),
        f"in-plane spacing {got_y, got_x} != PixelSpacing {row_mm, col_mm}",
    )
    _expect(not report["errors"], f"errors reported: {report['errors']}")
    return f"{expected_shape[0]} slices of {expected_shape[1]}x{expected_shape[2]}"


def check_slide(output: str, slide_file: str) -> str:
    """One slide whose vendor, size, levels and microns per pixel match OpenSlide's reading."""
    import openslide

    with openslide.OpenSlide(slide_file) as slide:
        vendor = slide.properties.get(openslide.PROPERTY_NAME_VENDOR)
        dimensions = list(slide.dimensions)
        levels = slide.level_count
        mpp_x = float(slide.properties[openslide.PROPERTY_NAME_MPP_X])
    report = _load(output)
    _expect(len(report["slides"]) == 1, f"expected one slide, got {len(report['slides'])}")
    got = report["slides"][0]
    _expect(got["vendor"] == vendor, f"vendor {got['vendor']} != {vendor}")
    _expect(list(got["dimensions"]) == dimensions, f"size {got['dimensions']} != {dimensions}")
    _expect(got["level_count"] == levels, f"levels {got['level_count']} != {levels}")
    _expect(math.isclose(got["mpp"][0], mpp_x, rel_tol=1e-3), f"mpp {got['mpp']} != {mpp_x}")
    return f"{vendor} {dimensions[0]}x{dimensions[1]}, {levels} level(s)"


def check_predict(output: str) -> str:
    """A benefit probability in [0, 1] from a checkpoint identified by its hash."""
    report = _load(output)
    text = json.dumps(report)
    probabilities = [
        float(v) for k, v in _walk(report) if "probability" in k and isinstance(v, int | float)
    ]
    _expect(bool(probabilities), f"no probability in the prediction: {text[:200]}")
    _expect(all(0.0 <= p <= 1.0 for p in probabilities), f"probability outside [0, 1]: {text}")
    _expect(re.search(r"[0-9a-f]{64}", text) is not None, "no checkpoint SHA-256 in the output")
    return f"probability {probabilities[0]:.3f}"


def _walk(node: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _walk(v, str(k))]
    if isinstance(node, list):
        return [pair for v in node for pair in _walk(v, key)]
    return [(key, node)]


def check_screenshot(image: str) -> str:
    """Not blank: many distinct colours, real contrast, no single colour covering the screen."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(image).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    dominant = counts.max() / len(pixels)
    spread = float(pixels.astype(np.float32).std())
    _expect(len(colours) >= 64, f"{image}: only {len(colours)} distinct colours")
    _expect(dominant < 0.9, f"{image}: one colour covers {dominant:.0%} of the screen")
    _expect(spread > 10.0, f"{image}: grey-level spread {spread:.1f} (flat image)")
    return f"{len(colours)} colours, largest uniform share {dominant:.0%}, spread {spread:.0f}"


_INET = re.compile(r'sa_family=AF_INET6?, .*?(?:inet_addr\(|inet_pton\(AF_INET6, )"([^"]+)"')


def check_connects(*logs: str) -> str:
    """No connect() to a non-loopback IPv4/IPv6 address in any strace log."""
    count = 0
    for log in logs:
        for line in Path(log).read_text(encoding="utf-8").splitlines():
            if "connect(" not in line:
                continue
            count += 1
            match = _INET.search(line)
            if match and not ipaddress.ip_address(match.group(1)).is_loopback:
                raise CheckFailed(f"{log}: network connect attempted: {line.strip()}")
            _expect("AF_INET" not in line or match is not None, f"unparsed connect: {line}")
    return f"{count} connect() call(s), none to a network address"


CHECKS: dict[str, Callable[..., str]] = {
    "dicom": check_dicom,
    "slide": check_slide,
    "predict": check_predict,
    "screenshot": check_screenshot,
    "connects": check_connects,
}

if __name__ == "__main__":
    try:
        print(f"  ok: {CHECKS[sys.argv[1]](*sys.argv[2:])}")
    except CheckFailed as exc:
        print(f"  FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
