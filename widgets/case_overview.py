"""The Overview tab: what a case holds (inputs with hashes), what was skipped and what failed.

Paths are shown relative to the case folder; the patient's name is never shown (the case is
named by its pseudonymous id)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QListWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.case import Case


class CaseOverview(QWidget):
    """A summary of the open case."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No case open.")
        self.summary.setObjectName("caseSummary")
        self.summary.setWordWrap(True)
        self.inputs = QTableWidget(0, 4)
        self.inputs.setHorizontalHeaderLabels(("File", "Kind", "Size", "SHA-256"))
        self.inputs.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.inputs.verticalHeader().setVisible(False)
        self.inputs.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.problems = QListWidget()
        self.problems.setObjectName("caseProblems")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Inputs"))
        layout.addWidget(self.inputs, 3)
        layout.addWidget(QLabel("Problems and skipped files"))
        layout.addWidget(self.problems, 1)

    def set_case(self, case: Case) -> None:
        """Show `case`."""
        self.summary.setText(
            f"<b>Case {case.case_id}</b>{' (synthetic)' if case.synthetic else ''}: "
            f"{len(case.mri)} MRI series, {len(case.slides)} slide(s), "
            f"{len(case.genomics)} gene panel(s), clinical data "
            f"{'present' if case.clinical is not None else 'absent'}; "
            f"{len(case.errors)} problem(s), {len(case.skipped)} skipped file(s). "
            f"Content hash {case.content_hash[:16]}."
        )
        self.inputs.setRowCount(len(case.inputs))
        for row, item in enumerate(case.inputs):
            values = (
                _relative(item.path, case.root),
                item.kind,
                f"{item.size_bytes / 1e6:.2f} MB",
                item.sha256[:16],
            )
            for col, text in enumerate(values):
                cell = QTableWidgetItem(text)
                if col == 3:
                    cell.setToolTip(item.sha256)
                self.inputs.setItem(row, col, cell)
        self.problems.clear()
        for path, message in case.errors:
            self.problems.addItem(f"Error: {_relative(path, case.root)}: {message}")
        for path, reason in case.skipped:
            self.problems.addItem(f"Skipped: {_relative(path, case.root)}: {reason}")


def _relative(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.name
