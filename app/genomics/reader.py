"""Recognising and reading gene-panel files of every supported format."""

from __future__ import annotations

from pathlib import Path

from app.errors import CaseImportError
from app.genomics.csv_panel import ALTERATION_COLUMNS, GENE_COLUMNS, find_column, read_csv_panel
from app.genomics.maf import MAF_REQUIRED_COLUMNS, read_maf
from app.genomics.panel import GenePanel
from app.genomics.table import header_columns
from app.genomics.vcf import read_vcf

_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
_MAF_SUFFIXES = (".maf", ".maf.gz", ".maf.txt", ".maf.txt.gz")


def _tsv_kind(path: Path) -> str | None:
    """ "maf" or "csv" for a tab-separated file by its columns, else None."""
    columns = header_columns(path, "\t")
    if all(c in columns for c in MAF_REQUIRED_COLUMNS):
        return "maf"
    if find_column(columns, GENE_COLUMNS) and find_column(columns, ALTERATION_COLUMNS):
        return "csv"
    return None


def is_gene_panel_file(path: Path) -> bool:
    """Whether `path` is a gene panel: .vcf(.gz) .bcf .maf(.gz/.txt) .csv, or a .tsv whose
    columns are a MAF's or a panel's (gene, alteration)."""
    name = path.name.lower()
    if name.endswith(_VCF_SUFFIXES + _MAF_SUFFIXES + (".csv",)):
        return True
    return name.endswith(".tsv") and path.is_file() and _tsv_kind(path) is not None


def read_gene_panel(path: Path) -> GenePanel:
    """Read a VCF/BCF, MAF or CSV/TSV gene panel.

    Raises:
        CaseImportError: naming the file, if it is missing, empty, of an unknown type or
            malformed (with the line number where one is at fault).
    """
    if not path.is_file():
        raise CaseImportError(f"'{path.name}' does not exist.")
    if path.stat().st_size == 0:
        raise CaseImportError(f"'{path.name}' is empty (0 bytes).")
    name = path.name.lower()
    if name.endswith(_VCF_SUFFIXES):
        return read_vcf(path)
    if name.endswith(_MAF_SUFFIXES):
        return read_maf(path)
    if name.endswith(".csv"):
        return read_csv_panel(path, ",")
    if name.endswith(".tsv"):
        kind = _tsv_kind(path)
        if kind == "maf":
            return read_maf(path)
        if kind == "csv":
            return read_csv_panel(path, "\t")
        raise CaseImportError(
            f"'{path.name}' is a table without gene-panel columns "
            "(a MAF's Hugo_Symbol/Variant_Classification, or gene/alteration)."
        )
    raise CaseImportError(
        f"'{path.name}' is not a gene-panel file (VCF, BCF, MAF, CSV or TSV expected)."
    )
