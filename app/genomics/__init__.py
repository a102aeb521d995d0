"""Gene panels: VCF/BCF, MAF and CSV, normalised to per-gene alteration calls."""

from app.genomics.panel import GenePanel
from app.genomics.reader import is_gene_panel_file, read_gene_panel
from app.genomics.variant import ALTERING_CLASSES, CLASSIFICATIONS, Variant

__all__ = [
    "ALTERING_CLASSES",
    "CLASSIFICATIONS",
    "GenePanel",
    "Variant",
    "is_gene_panel_file",
    "read_gene_panel",
]
