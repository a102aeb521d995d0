"""A guard against a reference-count bug of PySide6 6.12 under Python 3.11.

Every call of a Qt method that returns nothing (``label.setText(...)``, ``timer.start()``...)
hands Python a ``None`` it never took a reference to, and a signal's ``emit()`` does the same
with ``True``/``False``: each call leaves the singleton one reference short. A session makes
hundreds of thousands of such calls, so when the interpreter releases its objects at exit the
count reaches zero and CPython aborts (``Fatal Python error: none_dealloc``, SIGABRT), after
the work is done but with a crash report and a failing exit status.

Python 3.12 and later make these singletons immortal, which the bug cannot harm;
`make_singletons_immortal` gives them, on 3.11, a reference count no session can exhaust.
"""

from __future__ import annotations

import ctypes
import sys

HEADROOM = 1 << 40
"""References added to None, True and False: about 10^12 leaking calls."""


def make_singletons_immortal() -> None:
    """Raise the reference counts of None, True and False by `HEADROOM` (CPython < 3.12 only;
    there ``ob_refcnt`` is the object's first field, a ``Py_ssize_t``). Idempotent."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        if refcount.value < HEADROOM:
            refcount.value += HEADROOM
