"""Application set-up: names for QSettings, the style sheet and the window icon."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from widgets.settings import APPLICATION, ORGANIZATION

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
STYLE_SHEET = RESOURCES / "styles" / "workstation.qss"
APP_ICON = RESOURCES / "icons" / "workstation.svg"


def create_application(argv: Sequence[str]) -> QApplication:
    """The QApplication with the organisation/application names QSettings uses."""
    QApplication.setOrganizationName(ORGANIZATION)
    QApplication.setApplicationName(APPLICATION)
    app = QApplication(list(argv))
    app.setWindowIcon(QIcon(str(APP_ICON)))
    return app


def load_style(app: QApplication) -> None:
    """Apply the workstation's style sheet on top of the platform style."""
    app.setStyleSheet(STYLE_SHEET.read_text(encoding="utf-8"))
