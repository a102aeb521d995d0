"""The Genomics tab: each gene panel's variants (gene, change, locus, VAF, classification),
the genes of the model's HCC panel first and in bold."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.genomics import GenePanel, Variant
from app.genomics.hcc_panel import HCC_PANEL_GENES

COLUMNS = ("Gene", "Change", "Locus", "VAF", "Classification", "HCC panel")
HCC_COLUMN = 5


def _locus(variant: Variant) -> str:
    if not variant.chrom:
        return ""
    return f"{variant.chrom}:{variant.pos:,} {variant.ref or '-'}>{variant.alt or '-'}"


class GenomicsView(QWidget):
    """A sortable variant table over every gene panel of the case."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No gene panel in this case.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("variantTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)

    def set_panels(self, panels: list[GenePanel]) -> None:
        """Show the variants of these panels."""
        variants = [v for panel in panels for v in panel.variants]
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(variants))
        bold = QFont()
        bold.setBold(True)
        for row, variant in enumerate(variants):
            in_panel = variant.gene in HCC_PANEL_GENES
            values: tuple[str | float, ...] = (
                variant.gene or "(not annotated)",
                variant.change,
                _locus(variant),
                "" if variant.vaf is None else round(variant.vaf, 3),
                variant.classification,
                "yes" if in_panel else "",
            )
            for col, value in enumerate(values):
                item = QTableWidgetItem()
                item.setData(Qt.ItemDataRole.DisplayRole, value)  # floats sort as numbers
                if in_panel:
                    item.setFont(bold)
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(HCC_COLUMN, Qt.SortOrder.DescendingOrder)  # HCC genes first
        if panels:
            hits = sum(1 for v in variants if v.gene in HCC_PANEL_GENES)
            builds = sorted({p.genome_build for p in panels if p.genome_build})
            self.summary.setText(
                f"{len(panels)} panel(s), {len(variants)} variant(s)"
                + (f" ({', '.join(builds)})" if builds else "")
                + f"; {hits} in genes of the model's HCC panel (bold, listed first)."
            )
        else:
            self.summary.setText("No gene panel in this case.")
