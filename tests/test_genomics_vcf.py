"""VCF/BCF gene panels: the real PCGR tumour VCF against its raw text, a VEP-annotated panel
like the synthetic generator writes, SnpEff and INFO-key annotations, and malformed files."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pysam
import pytest

from app.errors import CaseImportError
from app.genomics import read_gene_panel
from app.genomics.hcc_panel import HCC_PANEL_GENES

CSQ_FORMAT = (
    "Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|EXON|INTRON|HGVSc|HGVSp"
)


@pytest.fixture(scope="module")
def real_vcf(shared_data: Path) -> Path:
    return shared_data / "genomics" / "T001-BRCA.grch38.vcf.gz"


def _raw_records(path: Path) -> tuple[list[str], list[list[str]]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    header = [line for line in lines if line.startswith("#")]
    return header, [line.split("\t") for line in lines if line and not line.startswith("#")]


def test_real_vcf_counts_vafs_and_build_match_the_text(real_vcf: Path) -> None:
    header, records = _raw_records(real_vcf)
    passing = [r for r in records if r[6] in ("PASS", ".")]
    samples = header[-1].split("\t")[9:]
    tvaf = [
        float(field.split("=", 1)[1])
        for r in passing
        for field in r[7].split(";")
        if field.startswith("TVAF=")
    ]
    panel = read_gene_panel(real_vcf)
    assert panel.format == "vcf"
    assert len(panel.variants) == len(passing) == 196
    assert panel.sample_count == len(samples) == 1
    assert [v.pos for v in panel.variants] == [int(r[1]) for r in passing]
    assert [v.vaf for v in panel.variants] == pytest.approx(tvaf, abs=1e-6)
    # no ##reference line: the build comes from the liftOver chain the header names
    chain = next(line for line in header if line.startswith("##liftOverChainFile="))
    assert "hg19Tohg38" in chain and panel.genome_build == "GRCh38"
    # this VCF carries no gene annotation at all: nothing can be called, and the user is told
    assert not any("CSQ" in line or "ANN" in line or "GENE" in line for line in header)
    assert panel.genes == []
    assert any("name no gene" in w and real_vcf.name in w for w in panel.warnings)
    assert panel.alteration_calls(HCC_PANEL_GENES) == dict.fromkeys(HCC_PANEL_GENES, 0.0)


def test_real_vcf_json_holds_counts_not_sample_ids(real_vcf: Path) -> None:
    header, _ = _raw_records(real_vcf)
    sample = header[-1].split("\t")[9]
    entry = read_gene_panel(real_vcf).to_json()
    assert set(entry) == {
        "source",
        "format",
        "variants",
        "samples",
        "genes",
        "genome_build",
        "warnings",
    }
    assert entry["variants"] == 196 and entry["samples"] == 1
    text = json.dumps(entry)
    assert sample not in text and "TCGA-A2" not in text


@pytest.mark.parametrize("form", ["plain", "gzip", "bcf"])
def test_other_encodings_of_the_real_vcf_read_the_same(
    real_vcf: Path, tmp_path: Path, form: str
) -> None:
    reference = read_gene_panel(real_vcf)
    if form == "plain":
        path = tmp_path / "t.vcf"
        with gzip.open(real_vcf, "rb") as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    elif form == "gzip":  # plain gzip, not bgzip: htslib cannot read it directly
        path = tmp_path / "t.vcf.gz"
        with gzip.open(real_vcf, "rb") as src, gzip.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        path = tmp_path / "t.bcf"
        with (
            pysam.VariantFile(str(real_vcf)) as src,
            pysam.VariantFile(str(path), "wb", header=src.header) as dst,
        ):
            for record in src:
                dst.write(record)
    panel = read_gene_panel(path)
    assert panel.format == ("bcf" if form == "bcf" else "vcf")
    assert [(v.chrom, v.pos, v.ref, v.alt, v.vaf) for v in panel.variants] == [
        (v.chrom, v.pos, v.ref, v.alt, v.vaf) for v in reference.variants
    ]
    assert (form == "gzip") == any("bgzip" in w for w in panel.warnings)


# A panel as the synthetic generator writes it: VEP CSQ, FORMAT AF, <DUP> copy-number events.
# Each row: record fields, then the ground truth (gene, classification, change, vaf).
_SYNTHETIC = [
    (
        "17\t7673776\t.\tG\tT\t.\tPASS\tCSQ=T|missense_variant|MODERATE|TP53|ENSG00000141510|Transcript|ENST00000269305|protein_coding|7/11||ENST00000269305.9:c.747G>T|ENSP00000269305.4:p.Arg249Ser\tGT:AF\t0/1:0.42",
        ("TP53", "missense", "p.Arg249Ser", 0.42),
    ),
    (
        "3\t41224610\t.\tC\tT\t.\tPASS\tCSQ=T|missense_variant|MODERATE|CTNNB1|ENSG00000168036|Transcript|ENST00000349496|protein_coding|3/15||ENST00000349496.11:c.122C>T|ENSP00000344456.5:p.Thr41Ile\tGT:AF\t0/1:0.31",
        ("CTNNB1", "missense", "p.Thr41Ile", 0.31),
    ),
    (
        "5\t1295113\t.\tG\tA\t.\tPASS\tCSQ=A|upstream_gene_variant|MODIFIER|TERT|ENSG00000164362|Transcript|ENST00000310581|protein_coding|||ENST00000310581.10:c.-124C>T|\tGT:AF\t0/1:0.27",
        ("TERT", "promoter", "c.-124C>T", 0.27),
    ),
    (
        "1\t26696404\t.\tC\tT\t.\tPASS\tCSQ=T|synonymous_variant|LOW|ARID1A|ENSG00000117713|Transcript|ENST00000324856|protein_coding|5/20||ENST00000324856.13:c.1500C>T|ENSP00000320485.7:p.Leu500%3D\tGT:AF\t0/1:0.12",
        ("ARID1A", "synonymous", "p.Leu500=", 0.12),
    ),
    (
        "16\t352000\t.\tA\tG\t.\tPASS\tCSQ=G|intron_variant|MODIFIER|AXIN1|ENSG00000103126|Transcript|ENST00000262320|protein_coding||3/10|ENST00000262320.8:c.900+50T>C|\tGT:AF\t0/1:0.2",
        ("AXIN1", "other", "c.900+50T>C", 0.2),
    ),
    (
        "11\t69700000\t.\tN\t<DUP>\t.\tPASS\tSVTYPE=DUP;END=69750000;CN=8;CSQ=duplication|transcript_amplification|HIGH|FGF19|ENSG00000162344|Transcript|ENST00000294312|protein_coding||||\tGT:AF\t0/1:.",
        ("FGF19", "amplification", "amplification", None),
    ),
    (
        "6\t43770000\t.\tN\t<DUP>\t.\tPASS\tSVTYPE=DUP;END=43790000;CN=3;CSQ=duplication|transcript_amplification|HIGH|VEGFA|ENSG00000112715|Transcript|ENST00000372067|protein_coding||||\tGT:AF\t0/1:.",
        ("VEGFA", "other", "copy number 3", None),
    ),
    (
        "9\t21960000\t.\tN\t<DEL>\t.\tPASS\tSVTYPE=DEL;END=21995000;CN=0;CSQ=deletion|transcript_ablation|HIGH|CDKN2A|ENSG00000147889|Transcript|ENST00000304494|protein_coding||||\tGT:AF\t1/1:.",
        ("CDKN2A", "deletion", "deletion", None),
    ),
    (
        "13\t48303900\t.\tAC\tA\t.\tPASS\tCSQ=-|frameshift_variant|HIGH|RB1|ENSG00000139687|Transcript|ENST00000267163|protein_coding|2/27||ENST00000267163.6:c.150del|ENSP00000267163.4:p.Pro51LeufsTer3\tGT:AF\t0/1:0.5",
        ("RB1", "frameshift", "p.Pro51LeufsTer3", 0.5),
    ),
]
_FILTERED = "19\t10486000\t.\tC\tT\t.\tLowQual\tCSQ=T|missense_variant|MODERATE|KEAP1|ENSG00000079999|Transcript|ENST00000171111|protein_coding|2/6||c.400G>A|p.Gly134Arg\tGT:AF\t0/1:0.05"  # noqa: E501


def _synthetic_vcf(path: Path) -> Path:
    lines = [
        "##fileformat=VCFv4.2",
        "##source=SYNTHETIC neoadj generator",
        "##reference=GRCh38",
        '##FILTER=<ID=LowQual,Description="Low quality">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End position">',
        '##INFO=<ID=CN,Number=1,Type=Integer,Description="Copy number">',
        f'##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. Format: {CSQ_FORMAT}">',  # noqa: E501
        '##ALT=<ID=DUP,Description="Duplication">',
        '##ALT=<ID=DEL,Description="Deletion">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fraction">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR",
    ]
    body = [row for row, _ in _SYNTHETIC] + [_FILTERED]
    path.write_text("\n".join(lines + body) + "\n", encoding="utf-8")
    return path


def test_vep_annotated_synthetic_panel_is_read_as_the_generator_meant(tmp_path: Path) -> None:
    panel = read_gene_panel(_synthetic_vcf(tmp_path / "synthetic.vcf"))
    truth = [t for _, t in _SYNTHETIC]
    got = [(v.gene, v.classification, v.change, v.vaf) for v in panel.variants]
    assert got == [(g, c, ch, pytest.approx(vaf) if vaf else None) for g, c, ch, vaf in truth]
    assert panel.genome_build == "GRCh38"
    assert any("synthetic" in w for w in panel.warnings)
    assert any("1 record(s) failed" in w for w in panel.warnings)  # KEAP1 LowQual dropped
    altered = {g for g, c, _, _ in truth if c not in ("synonymous", "other")}
    calls = panel.alteration_calls(HCC_PANEL_GENES)
    assert list(calls) == list(HCC_PANEL_GENES)
    assert calls == {g: 1.0 if g in altered else 0.0 for g in HCC_PANEL_GENES}
    assert calls["KEAP1"] == 0.0 and calls["VEGFA"] == 0.0 and calls["ARID1A"] == 0.0


def test_genes_outside_the_model_list_are_reported(tmp_path: Path) -> None:
    path = _synthetic_vcf(tmp_path / "synthetic.vcf")
    text = path.read_text(encoding="utf-8").replace("|TP53|", "|BRAF|")
    path.write_text(text, encoding="utf-8")
    panel = read_gene_panel(path)
    assert panel.unknown_genes(HCC_PANEL_GENES) == ["BRAF"]
    assert "BRAF" not in panel.alteration_calls(HCC_PANEL_GENES)
    assert panel.alteration_calls(["braf"]) == {"braf": 1.0}  # symbols compare case-blind


def _vcf(path: Path, meta: list[str], samples: list[str], rows: list[str]) -> Path:
    header = [
        "##fileformat=VCFv4.2",
        *meta,
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
        + ("\tFORMAT\t" + "\t".join(samples) if samples else ""),
    ]
    path.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    return path


def test_snpeff_ann_multiallelic_and_ad_vaf(tmp_path: Path) -> None:
    ann = (
        "Allele | Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | "  # noqa: E501
        "Transcript_BioType | Rank | HGVS.c | HGVS.p"
    )
    path = _vcf(
        tmp_path / "snpeff.vcf",
        [
            f"##INFO=<ID=ANN,Number=.,Type=String,Description=\"Functional annotations: '{ann}' \">",  # noqa: E501
            '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
            "##tumor_sample=T1",
            "##reference=file:///refs/hg19.fa",
        ],
        ["N1", "T1"],
        [
            "17\t100\t.\tC\tA,T\t.\tPASS\tANN=A|stop_gained|HIGH|TP53|g|transcript|t|protein_coding|5/11|c.10C>A|p.Ser4*,"
            "T|synonymous_variant|LOW|TP53|g|transcript|t|protein_coding|5/11|c.10C>T|p.Ser4Ser\tAD\t40,0,0\t60,30,10"
        ],
    )
    panel = read_gene_panel(path)
    got = [(v.alt, v.gene, v.classification, v.change, v.vaf) for v in panel.variants]
    assert got == [
        ("A", "TP53", "nonsense", "p.Ser4*", pytest.approx(0.3)),
        ("T", "TP53", "synonymous", "p.Ser4Ser", pytest.approx(0.1)),
    ]
    assert panel.genome_build == "GRCh37" and panel.sample_count == 2


def test_info_gene_keys_and_contig_lengths(tmp_path: Path) -> None:
    path = _vcf(
        tmp_path / "info.vcf",
        [
            '##INFO=<ID=GENEINFO,Number=1,Type=String,Description="gene:id">',
            '##INFO=<ID=Consequence,Number=.,Type=String,Description="SO terms">',
            '##INFO=<ID=VAF,Number=A,Type=Float,Description="VAF">',
            "##contig=<ID=chr1,length=248956422>",
        ],
        [],
        [
            "chr1\t1000\t.\tG\tGA\t.\t.\tGENEINFO=ARID1A:8289;Consequence=frameshift_variant;VAF=0.4",
            "chr1\t2000\t.\tG\tA\t.\t.\tVAF=0.2",
        ],
    )
    panel = read_gene_panel(path)
    assert [(v.gene, v.classification, v.vaf) for v in panel.variants] == [
        ("ARID1A", "frameshift", pytest.approx(0.4)),
        ("", "other", pytest.approx(0.2)),
    ]
    assert panel.genome_build == "GRCh38"  # chr1 length of GRCh38
    assert panel.sample_count == 0 and panel.genes == ["ARID1A"]
    assert any("1 of 2 variant(s) name no gene" in w for w in panel.warnings)


def _malformed_copy(real_vcf: Path, tmp_path: Path, index: int, line: str) -> tuple[Path, int]:
    header, records = _raw_records(real_vcf)
    body = ["\t".join(r) for r in records]
    body[index] = line
    path = tmp_path / "bad.vcf"
    path.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    return path, len(header) + index + 1


@pytest.mark.parametrize(
    "line",
    ["this is not a vcf line at all", "1\tabc\t.\tC\tT\t.\tPASS\t.", "1\t12345\t.\tC"],
    ids=["garbage", "position-not-a-number", "too-few-columns"],
)
def test_malformed_line_names_file_and_line(real_vcf: Path, tmp_path: Path, line: str) -> None:
    path, line_number = _malformed_copy(real_vcf, tmp_path, 5, line)
    with pytest.raises(CaseImportError) as caught:
        read_gene_panel(path)
    assert path.name in caught.value.user_message
    assert f"line {line_number}" in caught.value.user_message


def test_a_vaf_outside_0_1_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = _vcf(
        tmp_path / "vaf.vcf",
        [
            '##INFO=<ID=VAF,Number=1,Type=Float,Description="VAF">',
            '##INFO=<ID=GENE,Number=1,Type=String,Description="gene">',
        ],
        [],
        ["1\t5\t.\tA\tC\t.\tPASS\tGENE=TP53;VAF=42"],
    )
    panel = read_gene_panel(path)
    assert panel.variants[0].vaf is None
    assert any("outside 0-1" in w for w in panel.warnings)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.vcf", b"", "empty"),
        ("noheader.vcf", b"1\t100\t.\tA\tC\t.\tPASS\t.\n", "not a readable VCF"),
        ("binary.vcf.gz", bytes(range(256)) * 20, "not a readable VCF"),
        ("text.bcf", b"hello world\n", "not a readable VCF"),
    ],
)
def test_unreadable_files_are_refused(
    tmp_path: Path, name: str, content: bytes, words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CaseImportError, match=words) as caught:
        read_gene_panel(path)
    assert name in caught.value.user_message


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_generator_vcfs_give_back_the_planted_alterations(tmp_path: Path, seed: int) -> None:
    import datetime as dt

    import numpy as np

    from app.synth.generating_model import sample_features
    from app.synth.vcf_writer import plan_variants, write_panel_vcf

    rng = np.random.default_rng(seed)
    features = sample_features(rng)
    planted = plan_variants(features, rng)
    path = write_panel_vcf(planted, tmp_path / "panel.vcf.gz", dt.date(2024, 1, 1))
    panel = read_gene_panel(path)
    truth = (
        set(features.mutated_genes) | set(features.amplified_genes) | set(features.deleted_genes)
    )
    calls = panel.alteration_calls(HCC_PANEL_GENES)
    assert {g for g, call in calls.items() if call == 1.0} == truth
    assert [(v.gene, v.pos, v.vaf) for v in panel.variants] == [
        (p.gene, p.pos, pytest.approx(p.allele_fraction) if p.allele_fraction else None)
        for p in planted
    ]
    assert panel.genome_build == "GRCh38" and panel.unknown_genes(HCC_PANEL_GENES) == []
    assert any("synthetic" in w for w in panel.warnings)
