"""The worklist: which cases the workstation knows about and where each one stands.

`CaseSource` is the interface the window's worklist reads; `FolderCaseSource` keeps the
folders opened in this session (and the recent ones); `app.database_worklist` adds the cases
of the screening database to them. Qt-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class CaseStatus(StrEnum):
    """Where a case of the worklist stands."""

    NOT_LOADED = "not loaded"
    IMPORTING = "importing"
    READY = "ready"
    FAILED = "import failed"
    CANCELLED = "import cancelled"


@dataclass
class CaseEntry:
    """One row of the worklist.

    Attributes:
        key: Stable identifier of the entry (the resolved folder path for folder cases).
        paths: What to import (folders and/or files).
        label: What the window shows: the case's pseudonymous id once known, else a
            neutral placeholder ("case 3"); never a patient name.
        status: Where the case stands.
        synthetic: True when the case is marked synthetic; None until imported (or read
            from the database).
        message: A short note for the user (an import error...), "" when none.
        record_id: The case's id in the screening database; None when not recorded.
        screening_status: Its status there (`app.storage.CaseStatus` value: "pending",
            "eligible", "randomised"...); None when not recorded.
        content_sha256: The content hash of its inputs: the database's for a recorded case,
            else the import's once imported; None before.
        changed_at: When its record last changed (UTC); None when not recorded.
    """

    key: str
    paths: tuple[Path, ...]
    label: str
    status: CaseStatus = CaseStatus.NOT_LOADED
    synthetic: bool | None = None
    message: str = ""
    record_id: int | None = None
    screening_status: str | None = None
    content_sha256: str | None = None
    changed_at: datetime | None = None


class CaseSource(Protocol):
    """Where worklist entries come from (opened folders now, the database later)."""

    def entries(self) -> list[CaseEntry]:
        """Every known case, in display order."""
        ...

    def get(self, key: str) -> CaseEntry:
        """The entry with this key; raises KeyError if there is none."""
        ...

    def add(self, paths: Sequence[Path], label: str | None = None) -> CaseEntry:
        """Add (or find) the entry for these paths and return it."""
        ...

    def update(self, entry: CaseEntry) -> None:
        """Store a changed status, label or message of an entry."""
        ...


class FolderCaseSource:
    """Cases opened from folders in this session, in the order they were added."""

    def __init__(self) -> None:
        self._entries: dict[str, CaseEntry] = {}

    @staticmethod
    def key_for(paths: Sequence[Path]) -> str:
        """The entry key for a set of paths: their resolved paths, sorted, joined by '|'."""
        if not paths:
            raise ValueError("A case needs at least one path.")
        return "|".join(sorted(str(Path(p).resolve()) for p in paths))

    def entries(self) -> list[CaseEntry]:
        """Every entry, oldest first."""
        return list(self._entries.values())

    def get(self, key: str) -> CaseEntry:
        """The entry with this key.

        Raises:
            KeyError: if there is none.
        """
        return self._entries[key]

    def add(self, paths: Sequence[Path], label: str | None = None) -> CaseEntry:
        """Add the entry for `paths`, or return the existing one (its label updated if given)."""
        key = self.key_for(paths)
        entry = self._entries.get(key)
        if entry is None:
            entry = CaseEntry(
                key=key,
                paths=tuple(Path(p) for p in paths),
                label=label or f"case {len(self._entries) + 1}",
            )
            self._entries[key] = entry
        elif label:
            entry.label = label
        return entry

    def update(self, entry: CaseEntry) -> None:
        """Replace the stored entry with the same key."""
        if entry.key not in self._entries:
            raise KeyError(f"No worklist entry {entry.key!r}.")
        self._entries[entry.key] = entry

    def adopt(self, entries: Iterable[CaseEntry]) -> None:
        """Take over the folders opened in this session from another source (the worklist of
        another database), keeping their import state and forgetting that database's record.

        Entries of that database never opened in this session are left out.
        """
        for entry in entries:
            recorded = entry.record_id is not None
            if not entry.paths or entry.key in self._entries:
                continue
            if recorded and entry.status is CaseStatus.NOT_LOADED:
                continue
            verified = entry.status is CaseStatus.READY or not recorded  # the imported hash
            self._entries[entry.key] = replace(
                entry,
                record_id=None,
                screening_status=None,
                changed_at=None,
                content_sha256=entry.content_sha256 if verified else None,
            )
