"""A somatic alteration and its normalised class."""

from __future__ import annotations

from dataclasses import dataclass

CLASSIFICATIONS = (
    "missense",
    "nonsense",
    "frameshift",
    "inframe",
    "splice",
    "promoter",
    "amplification",
    "deletion",
    "synonymous",
    "other",
)
"""Every value of `Variant.classification`.

"nonsense" is any truncating change at the start or stop codon (stop gained, stop lost,
start lost: cBioPortal's "truncating" group); "splice" only the canonical splice
acceptor/donor sites; "promoter" an upstream (5' flank) variant; "deletion" a copy-number loss
to zero copies or a deleted transcript; "amplification" a copy-number gain to >= 4 copies;
"other" anything else (intronic, UTR, intergenic, splice region, low-level gains...).
"""

ALTERING_CLASSES = frozenset(CLASSIFICATIONS) - {"synonymous", "other"}
"""Classes that count as an alteration of the gene (protein-altering, splice, promoter, CNA)."""


@dataclass
class Variant:
    """One alteration of one gene in one sample file.

    Attributes:
        gene: HGNC symbol ("" when the file gives none).
        chrom: Chromosome as written in the file ("" when unknown, e.g. a CSV panel).
        pos: 1-based position (0 when unknown).
        ref: Reference allele ("" when unknown).
        alt: Alternate allele, or a symbolic one such as "<DUP>".
        change: HGVS protein change ("p.Arg249Ser"), else HGVS coding change, else
            "amplification"/"deletion" for copy-number events, else "ref>alt".
        vaf: Variant allele fraction 0-1 in the tumour, None when not given.
        classification: One of `CLASSIFICATIONS`.
    """

    gene: str
    chrom: str
    pos: int
    ref: str
    alt: str
    change: str
    vaf: float | None
    classification: str

    def __post_init__(self) -> None:
        if self.classification not in CLASSIFICATIONS:
            raise ValueError(
                f"classification must be one of {', '.join(CLASSIFICATIONS)}; "
                f"got {self.classification!r}"
            )
        if self.vaf is not None and not 0.0 <= self.vaf <= 1.0:
            raise ValueError(f"vaf must be within 0-1, got {self.vaf}")

    @property
    def is_alteration(self) -> bool:
        """Whether this counts as an alteration of its gene (not synonymous or "other")."""
        return self.classification in ALTERING_CLASSES
