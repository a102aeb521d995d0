"""``neoadj gui [CASE_DIR...]``: open the workstation window, optionally on a case.

The window itself lives in `app.gui` (the one module of ``app/`` that imports Qt), imported
only inside `run` so that the other commands never load Qt.
"""

from __future__ import annotations

import argparse
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
    from app.gui import open_window

    return open_window(list(args.case))
