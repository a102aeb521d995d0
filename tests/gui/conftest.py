"""GUI test set-up: Qt under Xvfb (pytest-xvfb, Mesa llvmpipe), settings in a temporary place,
and screenshots saved as test artefacts under ``test-artifacts/screenshots``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")
# napari keeps its own settings file; keep the tests away from the user's.
os.environ.setdefault("NAPARI_CONFIG", str(Path(tempfile.mkdtemp(prefix="napari-cfg-")) / "s.yaml"))

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.synth.cohort import generate_demo
from tests.conftest import REPO_ROOT
from widgets.app import load_style
from widgets.main_window import MainWindow
from widgets.settings import AppSettings

SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(autouse=True)
def _private_qsettings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every QSettings made during a test lives under its tmp folder, never the user's; so
    does the default screening database (not created until a test writes to it)."""
    from app.storage import DB_URL_ENV

    monkeypatch.setenv(DB_URL_ENV, f"sqlite:///{tmp_path / 'default-neoadj.db'}")
    folder = tmp_path / "qsettings"
    folder.mkdir()
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    yield


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's synthetic demo case (small slide to stay fast), generated once; tests
    read it and never change it."""
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out / "demo", slide_size_px=2048)
    return out / "demo"


@pytest.fixture
def app_settings(tmp_path: Path) -> AppSettings:
    """Settings in a throw-away ini file."""
    return AppSettings(QSettings(str(tmp_path / "workstation.ini"), QSettings.Format.IniFormat))


def show_main_window(qtbot: QtBot, settings: AppSettings) -> MainWindow:
    """A 1600 x 1000 main window styled as `neoadj gui` styles it, shown and exposed."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    load_style(app)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def philips_dir(shared_data: Path) -> Path:
    """The real 25-slice axial T2 liver series (plus a presentation state)."""
    return shared_data / "mri" / "liver_philips_s401_T2W_TRA_BH"


def save_screenshot(name: str, pixels: NDArray[np.uint8]) -> Path:
    """Save an (H, W, 3|4) uint8 image as test-artifacts/screenshots/<name>.png."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    Image.fromarray(np.ascontiguousarray(pixels[..., :3])).save(path)
    return path


def grab_widget(widget: QWidget) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 RGB of a widget as drawn by Qt (OpenGL canvases included; a native
    VTK window shows black: read it with the 3D view's own screenshot)."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return (
        data.reshape(height, image.bytesPerLine())[:, : width * 3].reshape(height, width, 3).copy()
    )


def assert_not_blank(pixels: NDArray[np.uint8], *, min_std: float = 8.0) -> None:
    """The image has structure: its grey values vary, and no single value covers 98%."""
    rgb = np.asarray(pixels[..., :3], dtype=np.float64)
    grey = rgb.mean(axis=-1)
    assert grey.std() > min_std, f"image looks blank (grey std {grey.std():.1f})"
    _, counts = np.unique(grey.astype(np.uint8), return_counts=True)
    assert counts.max() / grey.size < 0.98, "one grey value covers almost the whole image"


def colour_fraction(
    pixels: NDArray[np.uint8], *, min_red: int = 150, min_excess: int = 60
) -> float:
    """Share of pixels that are clearly warm-coloured (red/orange/yellow overlay):
    red high and red exceeding blue by `min_excess` (grey anatomy has R == G == B)."""
    return float(warm_mask(pixels, min_red=min_red, min_excess=min_excess).mean())


def warm_mask(
    pixels: NDArray[np.uint8], *, min_red: int = 150, min_excess: int = 60
) -> NDArray[np.bool_]:
    """Pixels that `colour_fraction` counts."""
    rgb = np.asarray(pixels[..., :3], dtype=np.int32)
    return (rgb[..., 0] >= min_red) & (rgb[..., 0] - rgb[..., 2] >= min_excess)
