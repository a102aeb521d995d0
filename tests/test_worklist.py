"""FolderCaseSource: the worklist of opened folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.worklist import CaseStatus, FolderCaseSource


def test_entries_are_added_once_per_folder_and_updated(tmp_path: Path) -> None:
    source = FolderCaseSource()
    first = source.add([tmp_path / "a"])
    assert first.label == "case 1" and first.status is CaseStatus.NOT_LOADED
    again = source.add([tmp_path / "x" / ".." / "a"])  # the same folder, spelled differently
    assert again is first and len(source.entries()) == 1
    second = source.add([tmp_path / "b"], label="DEMO-0001")
    assert second.label == "DEMO-0001"
    second.status = CaseStatus.READY
    source.update(second)
    assert source.get(second.key).status is CaseStatus.READY
    assert [e.label for e in source.entries()] == ["case 1", "DEMO-0001"]
    source.add([tmp_path / "a"], label="REAL-01")
    assert source.get(first.key).label == "REAL-01"


def test_unknown_entries_and_empty_cases_are_refused(tmp_path: Path) -> None:
    source = FolderCaseSource()
    entry = FolderCaseSource().add([tmp_path])
    with pytest.raises(KeyError):
        source.update(entry)
    with pytest.raises(KeyError):
        source.get("nope")
    with pytest.raises(ValueError, match="at least one path"):
        source.add([])
