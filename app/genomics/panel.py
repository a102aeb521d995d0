"""A gene panel read from one file, and its per-gene alteration calls for a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.genomics.variant import Variant

PanelFormat = Literal["vcf", "bcf", "maf", "csv"]


@dataclass
class GenePanel:
    """Variants of one file, normalised; holds no sample identifier.

    Attributes:
        source: The file read.
        format: "vcf", "bcf", "maf" or "csv" (tab-separated panels included).
        variants: Every variant kept (failed-filter VCF records are dropped, see warnings).
        sample_count: Number of samples in the file (VCF sample columns, MAF tumour barcodes).
        genes: Sorted symbols of the genes with at least one variant.
        genome_build: "GRCh38", "GRCh37" or "NCBI36" from the header, None when not stated.
        warnings: Problems the user should know about, one sentence each.
    """

    source: Path
    format: PanelFormat
    variants: list[Variant]
    sample_count: int
    genes: list[str] = field(default_factory=list)
    genome_build: str | None = None
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.genes:
            self.genes = sorted({v.gene for v in self.variants if v.gene})

    def altered_genes(self) -> set[str]:
        """Upper-case symbols of the genes with at least one altering variant."""
        return {v.gene.upper() for v in self.variants if v.gene and v.is_alteration}

    def alteration_calls(self, genes: Sequence[str]) -> dict[str, float]:
        """Per-gene calls for a model's gene list: 1.0 if altered, else 0.0.

        A gene counts as altered when it carries a protein-altering, splice, promoter,
        amplification or deep-deletion variant (see `ALTERING_CLASSES`); synonymous and
        other variants do not. Genes of the panel that are not in `genes` are ignored (list
        them with `unknown_genes`). Symbols are compared case-insensitively.

        Args:
            genes: The model's gene symbols, in its input order.

        Returns:
            {gene: 1.0 or 0.0} with the keys of `genes` in their order.
        """
        altered = self.altered_genes()
        return {gene: 1.0 if gene.upper() in altered else 0.0 for gene in genes}

    def unknown_genes(self, genes: Sequence[str]) -> list[str]:
        """Sorted genes of this panel (with any variant) that are not in `genes`."""
        known = {g.upper() for g in genes}
        return [g for g in self.genes if g.upper() not in known]

    def to_json(self) -> dict[str, Any]:
        """The ``genomics`` entry of ``neoadj inspect --json``: counts, never sample IDs."""
        return {
            "source": str(self.source),
            "format": self.format,
            "variants": len(self.variants),
            "samples": self.sample_count,
            "genes": list(self.genes),
            "genome_build": self.genome_build,
            "warnings": list(self.warnings),
        }
