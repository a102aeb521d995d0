"""The start-up probe the installer's smoke test drives through ``NEOADJ_SCREENSHOT``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QLabel, QMainWindow
from pytestqt.qtbot import QtBot

from widgets.startup_probe import DELAY_ENV, SCREENSHOT_ENV, StartupProbe

pytestmark = pytest.mark.gui


def test_no_probe_without_the_variable(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCREENSHOT_ENV, raising=False)
    window = QMainWindow()
    qtbot.addWidget(window)
    assert StartupProbe.from_environment(window) is None


def test_probe_saves_the_screen_and_timings_then_closes(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "start.png"
    monkeypatch.setenv(SCREENSHOT_ENV, str(target))
    monkeypatch.setenv(DELAY_ENV, "0.2")
    window = QMainWindow()
    window.setCentralWidget(QLabel("probe"))
    window.setStyleSheet("background: rgb(200, 30, 30);")
    window.setGeometry(0, 0, 400, 300)
    qtbot.addWidget(window)
    probe = StartupProbe.from_environment(window)
    assert probe is not None
    window.show()
    qtbot.waitExposed(window)
    probe.start(None)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)

    timings = json.loads((tmp_path / "start.png.json").read_text(encoding="utf-8"))
    assert 0 < timings["first_paint_s"] <= timings["screenshot_s"]
    pixels = np.asarray(Image.open(target).convert("RGB"))
    screen = window.screen().geometry()
    assert pixels.shape[:2] == (screen.height(), screen.width())
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 0.5 * 400 * 300, "the window's own pixels are not on the screenshot"
