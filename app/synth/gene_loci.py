"""GRCh38 contigs and approximate loci of the HCC panel genes, with hotspot-like variants.

Gene spans, Ensembl gene/transcript ids and the listed coding changes follow GRCh38 and
Ensembl; positions are approximate, and REF bases are derived from the coding change (strand
complemented), not checked against the reference FASTA. Good enough for a synthetic panel that
parsers, annotators and models read; never for real interpretation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GRCH38_CONTIGS: tuple[tuple[str, int], ...] = (
    ("chr1", 248956422),
    ("chr2", 242193529),
    ("chr3", 198295559),
    ("chr4", 190214555),
    ("chr5", 181538259),
    ("chr6", 170805979),
    ("chr7", 159345973),
    ("chr8", 145138636),
    ("chr9", 138394717),
    ("chr10", 133797422),
    ("chr11", 135086622),
    ("chr12", 133275309),
    ("chr13", 114364328),
    ("chr14", 107043718),
    ("chr15", 101991189),
    ("chr16", 90338345),
    ("chr17", 83257441),
    ("chr18", 80373285),
    ("chr19", 58617616),
    ("chr20", 64444167),
    ("chr21", 46709983),
    ("chr22", 50818468),
    ("chrX", 156040895),
    ("chrY", 57227415),
)
"""GRCh38 primary-assembly chromosomes and their lengths (bp), in karyotype order."""


@dataclass(frozen=True)
class SmallVariant:
    """A hotspot-like SNV/indel of one gene (1-based position, plus-strand REF/ALT)."""

    pos: int
    ref: str
    alt: str
    consequence: str
    impact: Literal["HIGH", "MODERATE", "LOW", "MODIFIER"]
    exon: str
    hgvsc: str
    hgvsp: str


@dataclass(frozen=True)
class GeneLocus:
    """One panel gene on GRCh38 with its candidate alterations."""

    symbol: str
    chrom: str
    start: int
    end: int
    gene_id: str
    transcript_id: str
    variants: tuple[SmallVariant, ...] = ()
    amplicon: tuple[int, int] | None = None  # span of a focal amplification / deletion


def _v(
    pos: int, ref: str, alt: str, consequence: str, impact: str, exon: str, hgvsc: str, hgvsp: str
) -> SmallVariant:
    return SmallVariant(pos, ref, alt, consequence, impact, exon, hgvsc, hgvsp)  # type: ignore[arg-type]


GENE_LOCI: dict[str, GeneLocus] = {
    g.symbol: g
    for g in (
        GeneLocus(
            "TP53",
            "chr17",
            7661779,
            7687538,
            "ENSG00000141510",
            "ENST00000269305",
            (
                _v(
                    7674216,
                    "C",
                    "A",
                    "missense_variant",
                    "MODERATE",
                    "7/11",
                    "c.747G>T",
                    "p.Arg249Ser",
                ),
                _v(
                    7673802,
                    "C",
                    "T",
                    "missense_variant",
                    "MODERATE",
                    "8/11",
                    "c.818G>A",
                    "p.Arg273His",
                ),
                _v(
                    7675088,
                    "C",
                    "T",
                    "missense_variant",
                    "MODERATE",
                    "5/11",
                    "c.524G>A",
                    "p.Arg175His",
                ),
                _v(7674894, "G", "A", "stop_gained", "HIGH", "6/11", "c.637C>T", "p.Arg213Ter"),
            ),
        ),
        GeneLocus(
            "CTNNB1",
            "chr3",
            41194741,
            41260096,
            "ENSG00000168036",
            "ENST00000349496",
            (
                _v(
                    41224633,
                    "T",
                    "C",
                    "missense_variant",
                    "MODERATE",
                    "3/15",
                    "c.133T>C",
                    "p.Ser45Pro",
                ),
                _v(
                    41224595,
                    "A",
                    "G",
                    "missense_variant",
                    "MODERATE",
                    "3/15",
                    "c.95A>G",
                    "p.Asp32Gly",
                ),
                _v(
                    41224598,
                    "C",
                    "G",
                    "missense_variant",
                    "MODERATE",
                    "3/15",
                    "c.98C>G",
                    "p.Ser33Cys",
                ),
                _v(
                    41224621,
                    "A",
                    "G",
                    "missense_variant",
                    "MODERATE",
                    "3/15",
                    "c.121A>G",
                    "p.Thr41Ala",
                ),
            ),
        ),
        GeneLocus(
            "TERT",
            "chr5",
            1253167,
            1295068,
            "ENSG00000164362",
            "ENST00000310581",
            (
                _v(1295228, "G", "A", "upstream_gene_variant", "MODIFIER", "", "c.-124C>T", ""),
                _v(1295250, "G", "A", "upstream_gene_variant", "MODIFIER", "", "c.-146C>T", ""),
            ),
        ),
        GeneLocus(
            "AXIN1",
            "chr16",
            287440,
            352723,
            "ENSG00000103126",
            "ENST00000262320",
            (
                _v(313755, "G", "A", "stop_gained", "HIGH", "4/11", "c.1273C>T", "p.Arg425Ter"),
                _v(
                    298916,
                    "AG",
                    "A",
                    "frameshift_variant",
                    "HIGH",
                    "7/11",
                    "c.1858del",
                    "p.Leu620TrpfsTer12",
                ),
            ),
        ),
        GeneLocus(
            "ARID1A",
            "chr1",
            26693236,
            26782104,
            "ENSG00000117713",
            "ENST00000324856",
            (
                _v(26729743, "C", "T", "stop_gained", "HIGH", "3/20", "c.1873C>T", "p.Gln625Ter"),
                _v(
                    26773690,
                    "GC",
                    "G",
                    "frameshift_variant",
                    "HIGH",
                    "20/20",
                    "c.5548del",
                    "p.Asp1850ThrfsTer33",
                ),
            ),
        ),
        GeneLocus(
            "ARID2",
            "chr12",
            45729707,
            45908040,
            "ENSG00000189079",
            "ENST00000334344",
            (_v(45838021, "C", "T", "stop_gained", "HIGH", "8/21", "c.1072C>T", "p.Arg358Ter"),),
        ),
        GeneLocus(
            "RB1",
            "chr13",
            48303747,
            48481890,
            "ENSG00000139687",
            "ENST00000267163",
            (_v(48362842, "C", "T", "stop_gained", "HIGH", "10/27", "c.958C>T", "p.Arg320Ter"),),
        ),
        GeneLocus(
            "PIK3CA",
            "chr3",
            179148114,
            179240093,
            "ENSG00000121879",
            "ENST00000263967",
            (
                _v(
                    179234297,
                    "A",
                    "G",
                    "missense_variant",
                    "MODERATE",
                    "21/21",
                    "c.3140A>G",
                    "p.His1047Arg",
                ),
                _v(
                    179218303,
                    "G",
                    "A",
                    "missense_variant",
                    "MODERATE",
                    "10/21",
                    "c.1633G>A",
                    "p.Glu545Lys",
                ),
            ),
        ),
        GeneLocus(
            "KEAP1",
            "chr19",
            10486120,
            10503100,
            "ENSG00000079999",
            "ENST00000171111",
            (
                _v(
                    10491724,
                    "C",
                    "A",
                    "missense_variant",
                    "MODERATE",
                    "3/6",
                    "c.997G>T",
                    "p.Gly333Cys",
                ),
            ),
        ),
        GeneLocus(
            "NFE2L2",
            "chr2",
            177230303,
            177265131,
            "ENSG00000116044",
            "ENST00000397062",
            (
                _v(
                    177234082,
                    "C",
                    "G",
                    "missense_variant",
                    "MODERATE",
                    "2/5",
                    "c.235G>C",
                    "p.Glu79Gln",
                ),
            ),
        ),
        GeneLocus(
            "FGF19",
            "chr11",
            69698229,
            69704642,
            "ENSG00000162344",
            "ENST00000294312",
            amplicon=(69420000, 69990000),
        ),
        GeneLocus(
            "VEGFA",
            "chr6",
            43770209,
            43786487,
            "ENSG00000112715",
            "ENST00000372067",
            amplicon=(43610000, 43960000),
        ),
        GeneLocus(
            "CDKN2A",
            "chr9",
            21967752,
            21995301,
            "ENSG00000147889",
            "ENST00000304494",
            amplicon=(21900000, 22020000),
        ),
        GeneLocus(
            "TSC2",
            "chr16",
            2047985,
            2089491,
            "ENSG00000103197",
            "ENST00000219476",
            (_v(2074405, "C", "T", "stop_gained", "HIGH", "20/42", "c.2251C>T", "p.Arg751Ter"),),
        ),
    )
}
"""Every gene of `app.genomics.hcc_panel.HCC_PANEL_GENES`, by symbol."""
