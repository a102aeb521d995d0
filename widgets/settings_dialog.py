"""The Settings dialog: database URL and model checkpoint folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from widgets.settings import AppSettings


class SettingsDialog(QDialog):
    """Edits `AppSettings`; OK stores the values, Cancel leaves them unchanged."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.database_edit = QLineEdit(settings.database_url)
        self.database_edit.setPlaceholderText(
            "postgresql+psycopg://user@host/neoadj or sqlite:///..."
        )
        self.checkpoint_edit = QLineEdit(str(settings.checkpoint_dir or ""))
        self.checkpoint_edit.setPlaceholderText("folder with model.safetensors and manifest.json")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse_checkpoint)
        checkpoint_row = QHBoxLayout()
        checkpoint_row.addWidget(self.checkpoint_edit, 1)
        checkpoint_row.addWidget(browse)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Database URL", self.database_edit)
        form.addRow("Checkpoint folder", checkpoint_row)
        form.addRow(buttons)

    def accept(self) -> None:
        """Store the values and close."""
        self.settings.database_url = self.database_edit.text()
        text = self.checkpoint_edit.text().strip()
        self.settings.checkpoint_dir = Path(text) if text else None
        self.settings.sync()
        super().accept()

    def _browse_checkpoint(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Checkpoint folder", self.checkpoint_edit.text()
        )
        if folder:
            self.checkpoint_edit.setText(folder)
