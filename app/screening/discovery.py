"""The case folders of a batch: the immediate sub-folders of the cases root.

Hidden folders (name starting with ".") and ground-truth folders of synthetic data (holding
``truth.json``, never an input) are left out. A root that is itself a case folder (it holds
``case.json`` or ``clinical.json``) is screened as the one case.
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.case import CASE_META_FILENAME
from app.clinical import CLINICAL_FILENAME
from app.errors import ScreeningError
from app.synth.layout import TRUTH_JSON

log = logging.getLogger(__name__)

CASE_MARKERS = (CASE_META_FILENAME, CLINICAL_FILENAME)
"""Files that make a folder a case folder."""


class CasesRootError(ScreeningError):
    """The cases root is missing, not a folder, unreadable or holds no case folder."""


def is_case_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a case's ``case.json`` or ``clinical.json`` directly."""
    return any((folder / name).is_file() for name in CASE_MARKERS)


def is_ground_truth_folder(folder: Path) -> bool:
    """Whether ``folder`` is the ground truth of a synthetic case (``truth.json``)."""
    return (folder / TRUTH_JSON).is_file()


def find_case_folders(root: Path) -> list[Path]:
    """The case folders under ``root``, sorted by name.

    Raises:
        CasesRootError: if ``root`` does not exist, is not a folder, cannot be listed, or
            holds no case folder.
    """
    if not root.exists():
        raise CasesRootError(f"'{root}' does not exist.")
    if not root.is_dir():
        raise CasesRootError(
            f"'{root}' is not a folder; give the folder that holds one sub-folder per case."
        )
    if is_case_folder(root):
        return [root]
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError as exc:
        raise CasesRootError(f"'{root}' cannot be listed: {exc.strerror}.") from exc
    folders = []
    for child in children:
        if child.name.startswith("."):
            continue
        if is_ground_truth_folder(child):
            log.info("left out a ground-truth folder (not an input)")
            continue
        folders.append(child)
    if not folders:
        raise CasesRootError(f"'{root}' holds no case folder: put each case in its own sub-folder.")
    return folders
