"""MAF and CSV/TSV gene panels: the real TCGA-LAML MAF against its raw text, hand-made panels,
file recognition, and malformed tables."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from app.errors import CaseImportError
from app.genomics import is_gene_panel_file, read_gene_panel
from app.genomics.hcc_panel import HCC_PANEL_GENES

# MAF classes that alter the gene product (GDC/maftools "non-synonymous" set, plus 5'Flank)
ALTERING_MAF_TERMS = {
    "Missense_Mutation",
    "Nonsense_Mutation",
    "Nonstop_Mutation",
    "Translation_Start_Site",
    "Frame_Shift_Del",
    "Frame_Shift_Ins",
    "In_Frame_Del",
    "In_Frame_Ins",
    "Splice_Site",
    "5'Flank",
}


@pytest.fixture(scope="module")
def maf(shared_data: Path) -> Path:
    return shared_data / "genomics" / "tcga_laml.maf.gz"


@pytest.fixture(scope="module")
def maf_rows(maf: Path) -> list[dict[str, str]]:
    with gzip.open(maf, "rt", encoding="utf-8") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("".join(lines)), delimiter="\t"))


def test_real_maf_counts_genes_and_build_match_the_text(
    maf: Path, maf_rows: list[dict[str, str]]
) -> None:
    panel = read_gene_panel(maf)
    assert panel.format == "maf"
    assert len(panel.variants) == len(maf_rows) == 2207
    assert panel.sample_count == len({r["Tumor_Sample_Barcode"] for r in maf_rows}) == 193
    assert {r["NCBI_Build"] for r in maf_rows} == {"37"} and panel.genome_build == "GRCh37"
    assert panel.genes == sorted({r["Hugo_Symbol"] for r in maf_rows} - {"Unknown"})
    assert [v.change for v in panel.variants] == [
        r["Protein_Change"] or v.classification
        for v, r in zip(panel.variants, maf_rows, strict=True)
    ]
    # VAF: i_TumorVAF_WU is a percentage ("NA" where the centre gave none)
    expected = [
        float(r["i_TumorVAF_WU"]) / 100 if r["i_TumorVAF_WU"] not in ("", "NA") else None
        for r in maf_rows
    ]
    assert [v.vaf is None for v in panel.variants] == [e is None for e in expected]
    assert [v.vaf for v in panel.variants if v.vaf is not None] == pytest.approx(
        [e for e in expected if e is not None], abs=1e-6
    )


def test_real_maf_alteration_calls_follow_the_variant_classes(
    maf: Path, maf_rows: list[dict[str, str]]
) -> None:
    panel = read_gene_panel(maf)
    altered = {
        r["Hugo_Symbol"] for r in maf_rows if r["Variant_Classification"] in ALTERING_MAF_TERMS
    }
    genes = sorted({r["Hugo_Symbol"] for r in maf_rows})
    calls = panel.alteration_calls(genes)
    assert {g for g, call in calls.items() if call == 1.0} == altered
    assert 0 < len(altered) < len(genes)  # some genes carry only silent/intronic variants
    hcc = panel.alteration_calls(HCC_PANEL_GENES)
    assert hcc["TP53"] == (1.0 if "TP53" in altered else 0.0)
    assert set(panel.unknown_genes(HCC_PANEL_GENES)) == set(panel.genes) - set(HCC_PANEL_GENES)


def test_real_maf_json_has_no_barcodes(maf: Path, maf_rows: list[dict[str, str]]) -> None:
    text = json.dumps(read_gene_panel(maf).to_json())
    assert not any(r["Tumor_Sample_Barcode"] in text for r in maf_rows)
    assert "TCGA-" not in text


def test_maf_counts_give_vaf_and_comment_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "counts.maf"
    path.write_text(
        "#version 2.4\n#annotated\n"
        "Hugo_Symbol\tChromosome\tStart_Position\tVariant_Classification\tHGVSp_Short\t"
        "t_alt_count\tt_ref_count\tt_depth\tTumor_Sample_Barcode\tNCBI_Build\n"
        "TP53\t17\t7673776\tMissense_Mutation\tp.R249S\t30\t70\t100\tS1\tGRCh38\n"
        "CTNNB1\t3\t41224610\tIn_Frame_Del\tp.S45del\t10\t30\t\tS1\tGRCh38\n"
        "TERT\t5\t1295113\t5'Flank\t\t5\t5\t10\tS2\tGRCh38\n",
        encoding="utf-8",
    )
    panel = read_gene_panel(path)
    assert [(v.gene, v.classification, v.change, v.vaf) for v in panel.variants] == [
        ("TP53", "missense", "p.R249S", 0.3),
        ("CTNNB1", "inframe", "p.S45del", 0.25),  # no depth: alt / (alt + ref)
        ("TERT", "promoter", "promoter", 0.5),
    ]
    assert panel.sample_count == 2 and panel.genome_build == "GRCh38"


def test_maf_with_a_malformed_row_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.maf"
    path.write_text(
        "#version 2.4\nHugo_Symbol\tVariant_Classification\n"
        "TP53\tMissense_Mutation\nKRAS\tMissense_Mutation\textra\tfield\n",
        encoding="utf-8",
    )
    with pytest.raises(CaseImportError, match="line 4") as caught:
        read_gene_panel(path)
    assert "bad.maf" in caught.value.user_message


def test_maf_without_its_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nocols.maf"
    path.write_text("gene\tthing\nTP53\tx\n", encoding="utf-8")
    with pytest.raises(CaseImportError, match="Variant_Classification"):
        read_gene_panel(path)


def test_maf_unknown_terms_are_other_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "odd.maf"
    path.write_text("Hugo_Symbol\tVariant_Classification\nTP53\tWeird_Class\n", encoding="utf-8")
    panel = read_gene_panel(path)
    assert panel.variants[0].classification == "other"
    assert any("Weird_Class" in w for w in panel.warnings)
    assert panel.alteration_calls(["TP53"]) == {"TP53": 0.0}


# A hand-made panel; the third column is the ground truth the test expects.
_CSV_ROWS = [
    ("TP53", "p.R249S", "missense", "0.41"),
    ("CTNNB1", "p.Ser45del", "inframe", "35%"),
    ("TERT", "c.-124C>T", "promoter", ""),
    ("FGF19", "amplification", "amplification", ""),
    ("CDKN2A", "deep deletion", "deletion", ""),
    ("AXIN1", "p.R146*", "nonsense", "12"),
    ("ARID2", "p.K120fs", "frameshift", ""),
    ("RB1", "c.1389+1G>A", "splice", ""),
    ("PIK3CA", "p.E545=", "synonymous", ""),
    ("KEAP1", "wt", None, ""),
    ("BRAF", "p.V600E", "missense", ""),
]


def _csv_panel(path: Path, sep: str = ",") -> Path:
    lines = [sep.join(["Gene", "Alteration", "VAF"])]
    lines += [sep.join([gene, change, vaf]) for gene, change, _, vaf in _CSV_ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "sep"), [("panel.csv", ","), ("panel.tsv", "\t")])
def test_hand_made_panel_classes_vafs_and_calls(tmp_path: Path, name: str, sep: str) -> None:
    path = _csv_panel(tmp_path / name, sep)
    assert is_gene_panel_file(path)
    panel = read_gene_panel(path)
    expected = [(g, c) for g, _, c, _ in _CSV_ROWS if c is not None]
    assert [(v.gene, v.classification) for v in panel.variants] == expected
    assert [v.vaf for v in panel.variants][:3] == [0.41, 0.35, None]
    assert panel.variants[5].vaf == 0.12  # "12" read as a percentage
    assert panel.format == "csv" and panel.sample_count == 1 and panel.genome_build is None
    altered = {g for g, _, c, _ in _CSV_ROWS if c not in (None, "synonymous", "other")}
    assert panel.alteration_calls(HCC_PANEL_GENES) == {
        g: 1.0 if g in altered else 0.0 for g in HCC_PANEL_GENES
    }
    assert panel.unknown_genes(HCC_PANEL_GENES) == ["BRAF"]
    assert "KEAP1" not in panel.genes  # wild-type rows record no variant


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("gene,vaf\nTP53,0.3\n", "'alteration' column"),
        ("gene,alteration\nTP53,p.R249S\n,p.G12D\n", "line 3"),
        ("gene,alteration\nTP53,p.R249S,0.4,extra\n", "line 2"),
        ("gene,alteration,vaf\nTP53,p.R249S,abc\n", "line 2"),
        ("gene,alteration,vaf\nTP53,p.R249S,140\n", "line 2"),
        ("gene,alteration\nTP53,\n", "line 2"),
        ("", "empty"),
    ],
)
def test_malformed_csv_panels_name_file_and_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "panel.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CaseImportError) as caught:
        read_gene_panel(path)
    assert "panel.csv" in caught.value.user_message and words in caught.value.user_message


def test_clinical_tsv_is_not_a_gene_panel(shared_data: Path) -> None:
    annotations = shared_data / "genomics" / "tcga_laml_annot.tsv"
    assert not is_gene_panel_file(annotations)
    with pytest.raises(CaseImportError, match="without gene-panel columns"):
        read_gene_panel(annotations)


def test_tsv_with_maf_columns_reads_as_maf(maf: Path, tmp_path: Path) -> None:
    path = tmp_path / "mutations.tsv"
    with gzip.open(maf, "rt", encoding="utf-8") as fh:
        path.write_text(fh.read(), encoding="utf-8")
    assert is_gene_panel_file(path)
    panel = read_gene_panel(path)
    assert panel.format == "maf" and len(panel.variants) == 2207


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.vcf", True),
        ("a.vcf.gz", True),
        ("a.bcf", True),
        ("a.maf", True),
        ("a.maf.gz", True),
        ("a.maf.txt", True),
        ("a.csv", True),
        ("a.json", False),
        ("a.svs", False),
        ("a.txt", False),
        ("missing.tsv", False),
    ],
)
def test_gene_panel_files_are_recognised_by_name(tmp_path: Path, name: str, expected: bool) -> None:
    assert is_gene_panel_file(tmp_path / name) is expected


def test_unknown_type_and_missing_file_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("TP53 mutated", encoding="utf-8")
    with pytest.raises(CaseImportError, match="not a gene-panel file"):
        read_gene_panel(other)
    with pytest.raises(CaseImportError, match="does not exist"):
        read_gene_panel(tmp_path / "absent.vcf")
