"""The installed PySide6 keeps None's reference count across void Qt calls.

PySide6 6.12.0 dropped a reference to None on every call of a Qt method that returns nothing
(and to True/False on every signal emit); a long session then aborted Python 3.11 at exit
(``Fatal Python error: none_dealloc``). pyproject.toml excludes that release; this test catches
a release with the same fault before users do.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

VOID_CALLS = 300_000
SCRIPT = f"""
import sys
from PySide6.QtCore import QObject, Signal

class Emitter(QObject):
    fired = Signal(bool)

o = Emitter()
before = sys.getrefcount(None), sys.getrefcount(True)
for _ in range({VOID_CALLS}):
    o.setObjectName("x")  # returns nothing
    o.fired.emit(True)
after = sys.getrefcount(None), sys.getrefcount(True)
print(before[0] - after[0], before[1] - after[1])
"""


def test_void_qt_calls_and_emits_keep_none_and_true_references() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lost_none, lost_true = (int(v) for v in result.stdout.split())
    assert abs(lost_none) < 100 and abs(lost_true) < 100
