"""Write a patient's planted gene alterations as a bgzipped, tabix-indexed somatic VCF.

One tumour sample "SYNTHETIC_TUMOUR" (FORMAT GT:AF). SNVs and indels carry a VEP-style CSQ
annotation; amplifications are ``<DUP>`` and homozygous deletions ``<DEL>`` records with
INFO SVTYPE, END and CN. The header says ``##source=SYNTHETIC neoadj synth`` and
``##reference=GRCh38`` and lists GRCh38 contigs with their real lengths.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pysam

from app import __version__
from app.synth.gene_loci import GENE_LOCI, GRCH38_CONTIGS, GeneLocus
from app.synth.generating_model import PatientFeatures

SAMPLE_NAME = "SYNTHETIC_TUMOUR"
CSQ_FORMAT = (
    "Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|EXON|INTRON|HGVSc|HGVSp"
)
_CONTIG_ORDER = {name: i for i, (name, _) in enumerate(GRCH38_CONTIGS)}


@dataclass(frozen=True)
class PlantedVariant:
    """One VCF record as planted (for the ground truth).

    Attributes:
        gene: Panel gene symbol.
        kind: "snv_indel", "amplification" or "deletion".
        chrom: GRCh38 contig.
        pos: 1-based position.
        ref: REF allele.
        alt: ALT allele ("<DUP>", "<DEL>" for copy-number records).
        end: END of a copy-number record, else None.
        copy_number: CN of a copy-number record, else None.
        allele_fraction: Tumour allele fraction of an SNV/indel, else None.
        consequence: VEP consequence term.
        hgvsp: Protein change ("" when none).
    """

    gene: str
    kind: str
    chrom: str
    pos: int
    ref: str
    alt: str
    end: int | None
    copy_number: int | None
    allele_fraction: float | None
    consequence: str
    hgvsp: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return asdict(self)


def _csq(
    allele: str, locus: GeneLocus, consequence: str, impact: str, exon: str, hgvsc: str, hgvsp: str
) -> str:
    fields = [
        allele,
        consequence,
        impact,
        locus.symbol,
        locus.gene_id,
        "Transcript",
        locus.transcript_id,
        "protein_coding",
        exon,
        "",
        f"{locus.transcript_id}:{hgvsc}" if hgvsc else "",
        f"{locus.transcript_id}:{hgvsp}" if hgvsp else "",
    ]
    return "|".join(fields)


def plan_variants(features: PatientFeatures, rng: np.random.Generator) -> list[PlantedVariant]:
    """Choose one record per altered gene (hotspot, AF, copy number), sorted by position."""
    out: list[PlantedVariant] = []
    purity = rng.uniform(0.4, 0.9)
    for gene in features.mutated_genes:
        locus = GENE_LOCI[gene]
        v = locus.variants[int(rng.integers(len(locus.variants)))]
        af = round(float(purity * rng.uniform(0.35, 0.55)), 3)
        out.append(
            PlantedVariant(
                gene,
                "snv_indel",
                locus.chrom,
                v.pos,
                v.ref,
                v.alt,
                None,
                None,
                af,
                v.consequence,
                v.hgvsp,
            )
        )
    for gene in features.amplified_genes:
        locus = GENE_LOCI[gene]
        start, end = locus.amplicon or (locus.start, locus.end)
        out.append(
            PlantedVariant(
                gene,
                "amplification",
                locus.chrom,
                start,
                "N",
                "<DUP>",
                end,
                int(rng.integers(6, 15)),
                None,
                "feature_amplification",
                "",
            )
        )
    for gene in features.deleted_genes:
        locus = GENE_LOCI[gene]
        start, end = locus.amplicon or (locus.start, locus.end)
        out.append(
            PlantedVariant(
                gene,
                "deletion",
                locus.chrom,
                start,
                "N",
                "<DEL>",
                end,
                0,
                None,
                "transcript_ablation",
                "",
            )
        )
    out.sort(key=lambda v: (_CONTIG_ORDER[v.chrom], v.pos))
    return out


def _record(v: PlantedVariant) -> str:
    locus = GENE_LOCI[v.gene]
    if v.kind == "snv_indel":
        small = next(s for s in locus.variants if s.pos == v.pos and s.alt == v.alt)
        allele = v.alt if len(v.ref) == len(v.alt) else (v.alt[1:] or "-")  # VEP trims the anchor
        csq = _csq(
            allele, locus, small.consequence, small.impact, small.exon, small.hgvsc, small.hgvsp
        )
        info = f"CSQ={csq}"
        sample = f"0/1:{v.allele_fraction:.3f}"
    else:
        svtype = "DUP" if v.kind == "amplification" else "DEL"
        allele = "duplication" if svtype == "DUP" else "deletion"
        csq = _csq(allele, locus, v.consequence, "HIGH", "", "", "")
        info = f"SVTYPE={svtype};END={v.end};CN={v.copy_number};CSQ={csq}"
        sample = "0/1:." if v.kind == "amplification" else "1/1:."
    return "\t".join([v.chrom, str(v.pos), ".", v.ref, v.alt, "60", "PASS", info, "GT:AF", sample])


def write_panel_vcf(variants: list[PlantedVariant], path: Path, file_date: dt.date) -> Path:
    """Write ``path`` (must end ``.vcf.gz``) bgzipped, with a tabix index beside it.

    Args:
        variants: Records sorted by contig and position (`plan_variants`).
        path: Output path ending ``.vcf.gz``; ``path + '.tbi'`` is written too.
        file_date: Written as ``##fileDate`` (no clock: output is reproducible).

    Returns:
        The bgzipped VCF path.
    """
    if not path.name.endswith(".vcf.gz"):
        raise ValueError(f"VCF output must end .vcf.gz: {path.name}")
    header = [
        "##fileformat=VCFv4.2",
        f"##fileDate={file_date.strftime('%Y%m%d')}",
        f"##source=SYNTHETIC neoadj synth {__version__}",
        "##reference=GRCh38",
        *(
            f"##contig=<ID={name},length={length},assembly=GRCh38>"
            for name, length in GRCH38_CONTIGS
        ),
        '##ALT=<ID=DUP,Description="Duplication (focal amplification)">',
        '##ALT=<ID=DEL,Description="Deletion">',
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End position of the variant">',
        '##INFO=<ID=CN,Number=1,Type=Integer,Description="Total copy number">',
        '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
        f'Ensembl VEP. Format: {CSQ_FORMAT}">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fraction in the tumour">',
        "##SYNTHETIC=This panel was generated by neoadj synth; it is not a real patient",
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", SAMPLE_NAME]
        ),
    ]
    plain = path.with_name(path.name[: -len(".gz")])
    plain.write_text("\n".join([*header, *(_record(v) for v in variants)]) + "\n", encoding="ascii")
    pysam.tabix_index(str(plain), preset="vcf", force=True, keep_original=False)
    return path
