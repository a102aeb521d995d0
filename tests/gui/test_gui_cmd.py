"""``neoadj gui [CASE_DIR]``: opens the window on a case; bad paths are a one-line error."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.cli import main
from app.commands import gui_cmd
from app.worklist import CaseStatus
from widgets.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_a_missing_case_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["gui", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"neoadj gui: '{tmp_path / 'missing'}' does not exist."
    assert "Traceback" not in err


def test_gui_opens_the_window_on_a_case(
    qtbot: QtBot, philips_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[MainWindow] = []

    def event_loop(app: QApplication) -> int:
        """Stands in for QApplication.exec: runs until the case is on screen, then closes
        the window (quitting the shared test QApplication would end every later test)."""
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        assert len(windows) == 1 and windows[0].isVisible()
        window = windows[0]
        qtbot.waitUntil(lambda: len(window.cases) == 1, timeout=60_000)
        qtbot.waitUntil(lambda: not window.case_view.mri_view.building, timeout=60_000)
        entry = window.source.entries()[0]
        assert entry.status is CaseStatus.READY
        seen.append(window)
        window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", event_loop)
    assert gui_cmd.run(argparse.Namespace(case=[philips_dir])) == 0
    assert len(seen) == 1 and not seen[0].isVisible()
    seen[0].deleteLater()
