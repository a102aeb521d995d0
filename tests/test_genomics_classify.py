"""Consequence terms and hand-written alterations mapped to classes; Variant validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.genomics import ALTERING_CLASSES, CLASSIFICATIONS, GenePanel, Variant
from app.genomics.build import liftover_target_build, normalise_build
from app.genomics.classify import classify_alteration_text, classify_term


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("missense_variant", "missense"),
        ("stop_gained", "nonsense"),
        ("stop_lost", "nonsense"),
        ("start_lost", "nonsense"),
        ("frameshift_variant", "frameshift"),
        ("inframe_deletion", "inframe"),
        ("disruptive_inframe_insertion", "inframe"),
        ("splice_acceptor_variant", "splice"),
        ("splice_region_variant", "other"),
        ("upstream_gene_variant", "promoter"),
        ("synonymous_variant", "synonymous"),
        ("transcript_amplification", "amplification"),
        ("transcript_ablation", "deletion"),
        ("intron_variant", "other"),
        ("missense_variant&splice_region_variant", "missense"),
        ("splice_region_variant&synonymous_variant", "synonymous"),
        ("stop_gained&frameshift_variant", "nonsense"),
        ("Missense_Mutation", "missense"),
        ("Nonsense_Mutation", "nonsense"),
        ("Frame_Shift_Ins", "frameshift"),
        ("In_Frame_Del", "inframe"),
        ("Splice_Site", "splice"),
        ("Silent", "synonymous"),
        ("5'Flank", "promoter"),
        ("3'UTR", "other"),
        ("nonsynonymous_SNV", "missense"),
        ("stopgain", "nonsense"),
        ("frameshift_deletion", "frameshift"),
        ("a_term_nobody_uses", "other"),
    ],
)
def test_consequence_terms(term: str, expected: str) -> None:
    assert classify_term(term) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p.R249S", "missense"),
        ("p.Arg249Ser", "missense"),
        ("R249S", "missense"),
        ("p.(Arg249Ser)", "missense"),
        ("p.R213*", "nonsense"),
        ("p.Arg213Ter", "nonsense"),
        ("R213X", "nonsense"),
        ("p.*394Wext*?", "nonsense"),
        ("p.M1?", "nonsense"),
        ("p.K120fs", "frameshift"),
        ("p.Lys120AsnfsTer5", "frameshift"),
        ("p.E19_V21del", "inframe"),
        ("p.S45del", "inframe"),
        ("p.L10=", "synonymous"),
        ("p.L10L", "synonymous"),
        ("c.-124C>T", "promoter"),
        ("TERT promoter C228T", "promoter"),
        ("c.1389+1G>A", "splice"),
        ("c.673-2A>G", "splice"),
        ("X125_splice", "splice"),
        ("c.900+50T>C", "other"),
        ("amplification", "amplification"),
        ("Amplified", "amplification"),
        ("AMP", "amplification"),
        ("homdel", "deletion"),
        ("Deep Deletion", "deletion"),
        ("missense", "missense"),
        ("Missense_Mutation", "missense"),
        ("something odd", "other"),
    ],
)
def test_hand_written_alterations(text: str, expected: str) -> None:
    assert classify_alteration_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GRCh38", "GRCh38"),
        ("file:///data/Homo_sapiens_assembly38.fasta", "GRCh38"),  # GATK bundle
        ("Homo_sapiens_assembly19.fasta", "GRCh37"),
        ("/refs/hg38/genome.fa", "GRCh38"),
        ("hs37d5.fa.gz", "GRCh37"),
        ("human_g1k_v37.fasta", "GRCh37"),
        ("b37", "GRCh37"),
        ("hg19", "GRCh37"),
        ("37", "GRCh37"),
        ("38", "GRCh38"),
        ("NCBI36", "NCBI36"),
        ("mm10", None),
        ("ab38c", None),
    ],
)
def test_genome_build_names(text: str, expected: str | None) -> None:
    assert normalise_build(text) == expected


def test_liftover_chain_target() -> None:
    assert liftover_target_build("/x/hg19Tohg38.over.chain.gz") == "GRCh38"
    assert liftover_target_build("hg38ToHg19.over.chain") == "GRCh37"
    assert liftover_target_build("chain.txt") is None


def test_variant_refuses_an_unknown_class_or_vaf() -> None:
    with pytest.raises(ValueError, match="classification"):
        Variant("TP53", "17", 1, "A", "C", "p.X", None, "bad")
    with pytest.raises(ValueError, match="vaf"):
        Variant("TP53", "17", 1, "A", "C", "p.X", 1.5, "missense")
    assert set(ALTERING_CLASSES) == set(CLASSIFICATIONS) - {"synonymous", "other"}


def test_panel_genes_and_calls_from_variants() -> None:
    variants = [
        Variant("TP53", "17", 1, "A", "C", "p.R249S", 0.4, "missense"),
        Variant("CTNNB1", "3", 2, "G", "A", "p.T41T", 0.3, "synonymous"),
        Variant("", "1", 3, "G", "A", "G>A", None, "other"),
        Variant("XYZ1", "2", 4, "G", "A", "p.G1A", None, "missense"),
    ]
    panel = GenePanel(Path("p.csv"), "csv", variants, sample_count=1)
    assert panel.genes == ["CTNNB1", "TP53", "XYZ1"]
    assert panel.alteration_calls(("TP53", "CTNNB1", "RB1")) == {
        "TP53": 1.0,
        "CTNNB1": 0.0,
        "RB1": 0.0,
    }
    assert panel.unknown_genes(("TP53", "CTNNB1")) == ["XYZ1"]
    assert panel.to_json()["variants"] == 4 and panel.to_json()["genes"] == panel.genes
