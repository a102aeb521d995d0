"""User settings kept between sessions with QSettings: database URL, checkpoint folder,
recent cases, and the main window's geometry and dock layout."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

log = logging.getLogger(__name__)

ORGANIZATION = "NeoadjNet"
APPLICATION = "Workstation"
MAX_RECENT = 10
# Bump when the docks change so that an old saved layout is not restored onto a new window.
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class RecentCase:
    """A case opened before: what to import and the label it was shown under."""

    paths: tuple[Path, ...]
    label: str


class AppSettings:
    """Typed access to the workstation's QSettings (organisation/application names above)."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the screening database; "" when not set."""
        return str(self.store.value("database/url", "", type=str))

    @database_url.setter
    def database_url(self, url: str) -> None:
        self.store.setValue("database/url", url.strip())

    @property
    def checkpoint_dir(self) -> Path | None:
        """Folder holding the model checkpoint; None when not set."""
        text = str(self.store.value("model/checkpoint_dir", "", type=str))
        return Path(text) if text else None

    @checkpoint_dir.setter
    def checkpoint_dir(self, folder: Path | None) -> None:
        self.store.setValue("model/checkpoint_dir", str(folder) if folder else "")

    @property
    def last_import_dir(self) -> Path | None:
        """Folder the import dialog opened last; None when never used."""
        text = str(self.store.value("import/last_dir", "", type=str))
        return Path(text) if text else None

    @last_import_dir.setter
    def last_import_dir(self, folder: Path) -> None:
        self.store.setValue("import/last_dir", str(folder))

    def recent_cases(self) -> list[RecentCase]:
        """Recently opened cases, newest first (unreadable entries are dropped)."""
        text = str(self.store.value("cases/recent", "[]", type=str))
        try:
            raw = json.loads(text)
            return [
                RecentCase(paths=tuple(Path(p) for p in item["paths"]), label=str(item["label"]))
                for item in raw
            ]
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("the recent-cases setting is unreadable; starting an empty list")
            return []

    def add_recent_case(self, paths: tuple[Path, ...], label: str) -> None:
        """Put a case first in the recent list (at most `MAX_RECENT` entries)."""
        entries = [RecentCase(paths, label)] + [
            r for r in self.recent_cases() if {str(p) for p in r.paths} != {str(p) for p in paths}
        ]
        data = [
            {"paths": [str(p) for p in r.paths], "label": r.label} for r in entries[:MAX_RECENT]
        ]
        self.store.setValue("cases/recent", json.dumps(data))

    def clear_recent_cases(self) -> None:
        """Forget every recent case."""
        self.store.setValue("cases/recent", "[]")

    def save_window(self, window: QMainWindow) -> None:
        """Remember the window's geometry and the state of its docks and toolbars."""
        self.store.setValue("window/geometry", window.saveGeometry())
        self.store.setValue("window/state", window.saveState(LAYOUT_VERSION))

    def restore_window(self, window: QMainWindow) -> bool:
        """Restore what `save_window` stored; False when nothing (or nothing usable) was stored."""
        geometry = self.store.value("window/geometry")
        state = self.store.value("window/state")
        if not isinstance(geometry, QByteArray) or not isinstance(state, QByteArray):
            return False
        return bool(window.restoreGeometry(geometry)) and bool(
            window.restoreState(state, LAYOUT_VERSION)
        )

    def sync(self) -> None:
        """Write pending changes to disk."""
        self.store.sync()
