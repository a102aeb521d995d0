"""The core (app/ without the GUI entry, inference/, explain/) must not import Qt."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

CORE_DIRS = ("app", "inference", "explain")
GUI_ENTRY_MODULES = {"app/gui.py"}
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "qtpy", "napari", "vtk", "vtkmodules", "widgets")


def _imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_modules_import_no_qt() -> None:
    offenders = []
    files = [p for d in CORE_DIRS for p in (REPO_ROOT / d).rglob("*.py")]
    assert len(files) > 5
    for path in files:
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel in GUI_ENTRY_MODULES:
            continue
        for name in _imported_names(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_checker_catches_qt_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6.QtCore import QObject\nimport vtkmodules.all\n")
    assert _imported_names(bad) == {"PySide6.QtCore", "vtkmodules.all"}
