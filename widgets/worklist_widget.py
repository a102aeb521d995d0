"""The worklist dock: every known case with its screening status (from the database), its
import state in this session, its data kind and when its record changed; activating a row
opens the case."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from app.worklist import CaseEntry, CaseSource, CaseStatus

COLUMNS = ("Case", "Screening", "Import", "Data", "Changed")
SCREENING_COLUMN, IMPORT_COLUMN = 1, 2
NOT_RECORDED = "not recorded"
_STATUS_COLORS = {
    CaseStatus.READY: Qt.GlobalColor.darkGreen,
    CaseStatus.FAILED: Qt.GlobalColor.red,
    CaseStatus.IMPORTING: Qt.GlobalColor.darkYellow,
}
_SCREENING_COLORS = {  # app.storage.CaseStatus values
    "pending": Qt.GlobalColor.darkYellow,
    "failed": Qt.GlobalColor.red,
    "eligible": Qt.GlobalColor.darkGreen,
    "screen_failure": Qt.GlobalColor.darkRed,
    "deferred": Qt.GlobalColor.darkGray,
    "randomised": Qt.GlobalColor.blue,
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
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.setWordWrap(False)
        self.setMinimumWidth(460)
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

    def screening_status_of(self, key: str) -> str:
        """The screening status shown for an entry ("pending", "not recorded"...).

        Raises:
            KeyError: if no row has that key.
        """
        status = self.source.get(key).screening_status
        return status.replace("_", " ") if status else NOT_RECORDED

    def _fill_row(self, row: int, entry: CaseEntry) -> None:
        data = "synthetic" if entry.synthetic else "" if entry.synthetic is None else "real"
        status = entry.status.value + (f": {entry.message}" if entry.message else "")
        screening = self.screening_status_of(entry.key)
        changed = (
            entry.changed_at.astimezone().strftime("%Y-%m-%d %H:%M") if entry.changed_at else ""
        )
        texts = (entry.label, screening, status, data, changed)
        for col, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, entry.key)
            if col == 0:
                item.setToolTip(self._where(entry))
            elif col == SCREENING_COLUMN:
                color = _SCREENING_COLORS.get(entry.screening_status or "")
                if color is not None:
                    item.setForeground(color)
            elif col == IMPORT_COLUMN:
                item.setToolTip(status)
                color = _STATUS_COLORS.get(entry.status)
                if color is not None:
                    item.setForeground(color)
            self.setItem(row, col, item)

    @staticmethod
    def _where(entry: CaseEntry) -> str:
        """The entry's record and folder, for the label's tooltip."""
        folders = ", ".join(str(p) for p in entry.paths) or "no folder recorded"
        if entry.record_id is None:
            return folders
        return f"record {entry.record_id}; {folders}"

    def _activate(self, row: int) -> None:
        item = self.item(row, 0)
        if item is not None:
            self.case_activated.emit(str(item.data(Qt.ItemDataRole.UserRole)))
