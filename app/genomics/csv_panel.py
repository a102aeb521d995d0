"""Hand-made gene panels: a CSV (or tab-separated) table with gene and alteration columns."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from app.errors import CaseImportError
from app.genomics.classify import WILDTYPE_WORDS, classify_alteration_text
from app.genomics.panel import GenePanel
from app.genomics.table import read_table
from app.genomics.variant import Variant

GENE_COLUMNS = ("gene", "hugo_symbol", "symbol", "gene_symbol")
ALTERATION_COLUMNS = ("alteration", "change", "variant", "protein_change", "hgvsp", "mutation")
_VAF_COLUMNS = ("vaf", "af", "allele_fraction", "tumor_vaf")
_SAMPLE_COLUMNS = ("sample", "sample_id", "tumor_sample_barcode")
_POSITION_COLUMNS = {"chrom": ("chrom", "chromosome"), "pos": ("pos", "position", "start")}


def find_column(columns: list[str], names: tuple[str, ...]) -> str | None:
    """The first of `columns` whose lower-cased name is in `names`."""
    lowered = {c.lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def read_csv_panel(path: Path, sep: str) -> GenePanel:
    """Read a gene panel table: one row per alteration ("TP53", "p.R249S", optional vaf).

    Alteration cells may be HGVS ("p.R249S", "c.-124C>T"), a class word ("amplification",
    "missense") or a wild-type word ("wt", "none"), which records no variant. VAF may be a
    fraction or a percentage ("45%", or any value above 1).

    Args:
        path: The table.
        sep: "," for CSV, "\\t" for tab-separated.

    Raises:
        CaseImportError: naming the file (and line) if a column is missing or a row is invalid.
    """
    frame, first_line = read_table(path, sep)
    columns = list(frame.columns)
    gene_col = find_column(columns, GENE_COLUMNS)
    change_col = find_column(columns, ALTERATION_COLUMNS)
    if gene_col is None or change_col is None:
        raise CaseImportError(
            f"'{path.name}' is not a gene panel: it needs a 'gene' and an 'alteration' column "
            f"(found: {', '.join(columns) or 'none'})."
        )
    vaf_col = find_column(columns, _VAF_COLUMNS)
    chrom_col = find_column(columns, _POSITION_COLUMNS["chrom"])
    pos_col = find_column(columns, _POSITION_COLUMNS["pos"])
    variants = []
    for offset, row in enumerate(frame.itertuples(index=False)):
        values = dict(zip(columns, row, strict=True))
        line = first_line + offset
        gene, change = values[gene_col], values[change_col]
        if not gene and not change:
            continue
        if not gene:
            raise CaseImportError(f"'{path.name}', line {line}: the gene is empty.")
        if change.lower() in WILDTYPE_WORDS:
            continue
        if not change:
            raise CaseImportError(f"'{path.name}', line {line}: the alteration of {gene} is empty.")
        variants.append(
            Variant(
                gene=gene,
                chrom=values[chrom_col] if chrom_col else "",
                pos=_position(values[pos_col], path, line) if pos_col else 0,
                ref="",
                alt="",
                change=change,
                vaf=_vaf(values[vaf_col], path, line) if vaf_col else None,
                classification=classify_alteration_text(change),
            )
        )
    sample_col = find_column(columns, _SAMPLE_COLUMNS)
    samples = int(frame[sample_col].replace("", pd.NA).dropna().nunique()) if sample_col else 1
    return GenePanel(source=path, format="csv", variants=variants, sample_count=max(samples, 1))


def _position(text: str, path: Path, line: int) -> int:
    if not text:
        return 0
    if not text.isdigit():
        raise CaseImportError(f"'{path.name}', line {line}: position {text!r} is not a number.")
    return int(text)


def _vaf(text: str, path: Path, line: int) -> float | None:
    """A VAF cell as a fraction 0-1: "0.45", "45%" or "45" (values above 1 are percentages)."""
    if not text:
        return None
    percent = text.endswith("%")
    try:
        value = float(text.rstrip("%").strip())
    except ValueError:
        value = math.nan
    if percent or value > 1.0:
        value /= 100.0
    if not 0.0 <= value <= 1.0:
        raise CaseImportError(
            f"'{path.name}', line {line}: VAF {text!r} is not a fraction 0-1 or a percentage."
        )
    return round(value, 6)
