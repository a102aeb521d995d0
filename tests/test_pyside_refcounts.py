"""PySide6 6.12 leaves None one reference short on every call of a Qt method that returns
nothing; `widgets` guards against the resulting abort at interpreter exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

VOID_CALLS = 300_000
LEAKY_SCRIPT = f"""
{{guard}}
from PySide6.QtCore import QObject
o = QObject()
for _ in range({VOID_CALLS}):
    o.setObjectName("x")  # returns nothing
"""


def _run(guard: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LEAKY_SCRIPT.format(guard=guard)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12")
def test_pyside_leaks_none_references_without_the_guard() -> None:
    """The bug the guard exists for; if this fails, PySide6 is fixed and the guard can go."""
    result = _run(guard="")
    assert result.returncode != 0 and "none_dealloc" in result.stderr


def test_importing_widgets_keeps_the_interpreter_alive_at_exit() -> None:
    result = _run(guard="import widgets")
    assert result.returncode == 0, result.stderr[-2000:]
