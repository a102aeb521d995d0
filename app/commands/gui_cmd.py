"""``neoadj gui [CASE_DIR...]``: open the workstation window, optionally on a case.

This is the one module of ``app/`` that may import Qt (and only inside `run`, so that the
other commands never load it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.errors import CaseImportError

NAME = "gui"
HELP = "open the workstation window (optionally importing the given case folders)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``CASE_DIR...``: case folders (or files) to import as one case on start."""
    parser.add_argument("case", nargs="*", type=Path, metavar="CASE_DIR", help="case folder(s)")


def run(args: argparse.Namespace) -> int:
    """Show the main window until it is closed; 0 on a normal exit."""
    missing = [p for p in args.case if not p.exists()]
    if missing:
        raise CaseImportError(f"'{missing[0]}' does not exist.")
    os.environ.setdefault("QT_API", "pyside6")
    from PySide6.QtWidgets import QApplication

    from widgets.app import create_application, load_style
    from widgets.main_window import MainWindow
    from widgets.startup_probe import StartupProbe

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else create_application(sys.argv[:1])
    load_style(app)
    window = MainWindow()
    probe = StartupProbe.from_environment(window)  # only for the installer's smoke test
    window.show()
    task = window.open_case(list(args.case)) if args.case else None
    if probe is not None:
        probe.start(task)
    return int(app.exec())
