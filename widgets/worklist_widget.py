"""The worklist dock: every known case with its status; activating a row opens the case."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from app.worklist import CaseEntry, CaseSource, CaseStatus

COLUMNS = ("Case", "Status", "Data")
_STATUS_COLORS = {
    CaseStatus.READY: Qt.GlobalColor.darkGreen,
    CaseStatus.FAILED: Qt.GlobalColor.red,
    CaseStatus.IMPORTING: Qt.GlobalColor.darkYellow,
}


class WorklistWidget(QTableWidget):
    """A table over a `CaseSource`; call `refresh` after the source changed."""

    case_activated = Signal(str)  # entry key

    def __init__(self, source: CaseSource) -> None:
        super().__init__(0, len(COLUMNS))
        self.source = source
        self.setObjectName("worklist")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumWidth(260)
        self.cellActivated.connect(lambda row, _col: self._activate(row))
        self.cellDoubleClicked.connect(lambda row, _col: self._activate(row))
        self.refresh()

    def refresh(self, select_key: str | None = None) -> None:
        """Re-read the source; keep (or move to) the selected entry."""
        current = select_key or self.selected_key()
        entries = self.source.entries()
        self.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            self._fill_row(row, entry)
            if entry.key == current:
                self.selectRow(row)

    def selected_key(self) -> str | None:
        """The key of the selected entry, if any."""
        items = self.selectedItems()
        return str(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def status_of(self, key: str) -> CaseStatus:
        """The status shown for an entry.

        Raises:
            KeyError: if no row has that key.
        """
        return self.source.get(key).status

    def _fill_row(self, row: int, entry: CaseEntry) -> None:
        data = "synthetic" if entry.synthetic else "" if entry.synthetic is None else "real"
        status = entry.status.value + (f": {entry.message}" if entry.message else "")
        for col, text in enumerate((entry.label, status, data)):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, entry.key)
            if col == 1:
                item.setToolTip(status)
                color = _STATUS_COLORS.get(entry.status)
                if color is not None:
                    item.setForeground(color)
            self.setItem(row, col, item)

    def _activate(self, row: int) -> None:
        item = self.item(row, 0)
        if item is not None:
            self.case_activated.emit(str(item.data(Qt.ItemDataRole.UserRole)))
