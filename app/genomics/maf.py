"""MAF (Mutation Annotation Format) files: GDC/TCGA, maftools, cBioPortal exports."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from app.errors import CaseImportError
from app.genomics.build import normalise_build
from app.genomics.classify import classify_alteration_text, classify_term, is_known_term
from app.genomics.panel import GenePanel
from app.genomics.table import read_table
from app.genomics.variant import Variant

log = logging.getLogger(__name__)

MAF_REQUIRED_COLUMNS = ("Hugo_Symbol", "Variant_Classification")
_CHANGE_COLUMNS = ("HGVSp_Short", "Protein_Change", "HGVSp", "HGVSc")
_VAF_COLUMNS = ("t_vaf", "tumor_f", "VAF", "i_TumorVAF_WU", "i_TumorVAF")


def read_maf(path: Path) -> GenePanel:
    """Read a MAF (tab-separated, optional '#' comment lines, gzipped or not).

    VAF is t_alt_count / t_depth (or / (t_alt_count + t_ref_count)), else a VAF column
    (percent when any value exceeds 1). Samples are counted from Tumor_Sample_Barcode.

    Raises:
        CaseImportError: naming the file (and line) if columns are missing or a row is malformed.
    """
    frame, first_line = read_table(path, "\t")
    missing = [c for c in MAF_REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise CaseImportError(
            f"'{path.name}' is not a MAF: column(s) {', '.join(missing)} missing."
        )
    warnings: list[str] = []
    vafs = _vafs(frame, path, first_line, warnings)
    change_column = next((c for c in _CHANGE_COLUMNS if c in frame.columns), None)
    unknown_terms: set[str] = set()
    variants = []
    for offset, row in enumerate(frame.itertuples(index=False)):
        values = dict(zip(frame.columns, row, strict=True))
        term = values["Variant_Classification"]
        if term and not is_known_term(term):
            unknown_terms.add(term)
        gene = values["Hugo_Symbol"]
        change = values.get(change_column, "") if change_column else ""
        classification = classify_term(term) if term else classify_alteration_text(change)
        try:
            pos = int(values.get("Start_Position") or 0)
        except ValueError as exc:
            raise CaseImportError(
                f"'{path.name}', line {first_line + offset}: Start_Position "
                f"{values.get('Start_Position')!r} is not a number."
            ) from exc
        variants.append(
            Variant(
                gene="" if gene.lower() in ("", "unknown") else gene,
                chrom=values.get("Chromosome", ""),
                pos=pos,
                ref=values.get("Reference_Allele", ""),
                alt=values.get("Tumor_Seq_Allele2", "") or values.get("Tumor_Seq_Allele1", ""),
                change=change or classification,
                vaf=vafs[offset],
                classification=classification,
            )
        )
    if unknown_terms:
        warnings.append(
            f"'{path.name}': unknown Variant_Classification value(s) "
            f"{', '.join(sorted(unknown_terms))} count as 'other' (not an alteration)."
        )
    log.debug(
        "MAF: %d variants, %d unknown classification terms", len(variants), len(unknown_terms)
    )
    return GenePanel(
        source=path,
        format="maf",
        variants=variants,
        sample_count=_sample_count(frame),
        genome_build=_genome_build(frame, path, warnings),
        warnings=warnings,
    )


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _vafs(
    frame: pd.DataFrame, path: Path, first_line: int, warnings: list[str]
) -> list[float | None]:
    """Per-row VAF 0-1 (None where absent); raises on a count that is not a number."""
    vafs: list[float | None] = [None] * len(frame)
    if "t_alt_count" in frame.columns and (
        "t_depth" in frame.columns or "t_ref_count" in frame.columns
    ):
        for i, row in enumerate(frame.itertuples(index=False)):
            values = dict(zip(frame.columns, row, strict=True))
            alt = _number(values["t_alt_count"]) if values["t_alt_count"] else None
            depth_text = values.get("t_depth", "")
            ref_text = values.get("t_ref_count", "")
            if depth_text:
                depth = _number(depth_text)
            elif ref_text and alt is not None:
                ref = _number(ref_text)
                depth = None if ref is None else ref + alt
            else:
                depth = None
            if (values["t_alt_count"] and alt is None) or (depth_text and depth is None):
                raise CaseImportError(
                    f"'{path.name}', line {first_line + i}: read counts are not numbers."
                )
            if alt is not None and depth and 0 <= alt <= depth:
                vafs[i] = round(alt / depth, 6)
        return vafs
    column = next((c for c in _VAF_COLUMNS if c in frame.columns), None)
    if column is None:
        return vafs
    numbers = [_number(v) if v else None for v in frame[column]]
    present = [n for n in numbers if n is not None]
    scale = 100.0 if present and max(present) > 1.0 else 1.0
    if scale == 100.0:
        warnings.append(f"'{path.name}': {column} is read as a percentage.")
    out_of_range = 0
    for i, number in enumerate(numbers):
        if number is None:
            continue
        vaf = number / scale
        if 0.0 <= vaf <= 1.0:
            vafs[i] = round(vaf, 6)
        else:
            out_of_range += 1
    if out_of_range:
        warnings.append(
            f"'{path.name}': {out_of_range} allele fraction(s) outside 0-1 were left empty."
        )
    return vafs


def _sample_count(frame: pd.DataFrame) -> int:
    if "Tumor_Sample_Barcode" not in frame.columns:
        return 1
    return int(frame["Tumor_Sample_Barcode"].replace("", pd.NA).dropna().nunique())


def _genome_build(frame: pd.DataFrame, path: Path, warnings: list[str]) -> str | None:
    if "NCBI_Build" not in frame.columns:
        return None
    builds = {b for b in (normalise_build(v) for v in frame["NCBI_Build"].unique() if v) if b}
    if len(builds) > 1:
        warnings.append(f"'{path.name}' mixes genome builds ({', '.join(sorted(builds))}).")
        return None
    return builds.pop() if builds else None
