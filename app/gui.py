"""The GUI entry point: the one module of ``app/`` that imports Qt.

``neoadj gui`` imports it only when it runs, so the other commands never load Qt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_API", "pyside6")

from PySide6.QtWidgets import QApplication

from widgets.app import create_application, load_style
from widgets.main_window import MainWindow
from widgets.startup_probe import StartupProbe


def open_window(case_paths: list[Path]) -> int:
    """Show the main window, importing `case_paths` as one case when given, until it is closed.

    Returns:
        The Qt event loop's exit code (0 on a normal exit).
    """
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else create_application(sys.argv[:1])
    load_style(app)
    window = MainWindow()
    probe = StartupProbe.from_environment(window)  # only for the installer's smoke test
    window.show()
    task = window.open_case(case_paths) if case_paths else None
    if probe is not None:
        probe.start(task)
    return int(app.exec())
