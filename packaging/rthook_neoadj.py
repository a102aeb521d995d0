"""PyInstaller runtime hook: settings the frozen app needs before any library is imported.

- Qt bindings: qtpy, napari and superqt must all pick PySide6, the only binding bundled.
- Qt looks for its plugins inside the bundle only: a QT_PLUGIN_PATH from the workstation's
  environment (another Qt install) would load plugins built for a different Qt.
"""

import os

os.environ["QT_API"] = "pyside6"
os.environ.pop("QT_PLUGIN_PATH", None)
