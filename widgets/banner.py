"""The permanent banner that says when the data or the model checkpoint is synthetic."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

DATA_TEXT = "SYNTHETIC DATA: this case is generated, not a patient."
CHECKPOINT_TEXT = "SYNTHETIC CHECKPOINT: the model was trained on generated data."
SUFFIX = "Not for clinical decisions."


class SyntheticBanner(QLabel):
    """A red strip across the window, shown while either flag is set; it cannot be closed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("syntheticBanner")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.data_synthetic = False
        self.checkpoint_synthetic = False
        self._refresh()

    def set_data_synthetic(self, on: bool) -> None:
        """Whether the case on screen is synthetic."""
        self.data_synthetic = on
        self._refresh()

    def set_checkpoint_synthetic(self, on: bool) -> None:
        """Whether the model checkpoint in use is synthetic."""
        self.checkpoint_synthetic = on
        self._refresh()

    def _refresh(self) -> None:
        parts = [DATA_TEXT] if self.data_synthetic else []
        if self.checkpoint_synthetic:
            parts.append(CHECKPOINT_TEXT)
        self.setText("   ".join([*parts, SUFFIX]) if parts else "")
        self.setVisible(bool(parts))
