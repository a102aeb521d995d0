"""Consequence terms (VEP/Sequence Ontology, SnpEff, MAF, ANNOVAR) and free-text alterations
mapped to `Variant.classification`."""

from __future__ import annotations

import re

_TERM_CLASSES: dict[str, str] = {
    # Sequence Ontology terms, as VEP (CSQ) and SnpEff (ANN) write them
    "transcript_ablation": "deletion",
    "exon_loss_variant": "deletion",
    "splice_acceptor_variant": "splice",
    "splice_donor_variant": "splice",
    "stop_gained": "nonsense",
    "stop_lost": "nonsense",
    "start_lost": "nonsense",
    "frameshift_variant": "frameshift",
    "transcript_amplification": "amplification",
    "inframe_insertion": "inframe",
    "inframe_deletion": "inframe",
    "conservative_inframe_insertion": "inframe",
    "conservative_inframe_deletion": "inframe",
    "disruptive_inframe_insertion": "inframe",
    "disruptive_inframe_deletion": "inframe",
    "protein_altering_variant": "inframe",
    "missense_variant": "missense",
    "rare_amino_acid_variant": "missense",
    "synonymous_variant": "synonymous",
    "stop_retained_variant": "synonymous",
    "start_retained_variant": "synonymous",
    "upstream_gene_variant": "promoter",
    # MAF Variant_Classification
    "missense_mutation": "missense",
    "nonsense_mutation": "nonsense",
    "nonstop_mutation": "nonsense",
    "translation_start_site": "nonsense",
    "frame_shift_del": "frameshift",
    "frame_shift_ins": "frameshift",
    "in_frame_del": "inframe",
    "in_frame_ins": "inframe",
    "splice_site": "splice",
    "silent": "synonymous",
    "5'flank": "promoter",
    "amp": "amplification",
    "del": "deletion",
    # ANNOVAR Func/ExonicFunc
    "nonsynonymous_snv": "missense",
    "stopgain": "nonsense",
    "stoploss": "nonsense",
    "startloss": "nonsense",
    "frameshift_deletion": "frameshift",
    "frameshift_insertion": "frameshift",
    "frameshift_substitution": "frameshift",
    "nonframeshift_deletion": "inframe",
    "nonframeshift_insertion": "inframe",
    "nonframeshift_substitution": "inframe",
    "synonymous_snv": "synonymous",
    "splicing": "splice",
    "upstream": "promoter",
    # known terms that do not alter the gene product
    **dict.fromkeys(
        (
            "splice_region_variant",
            "splice_donor_5th_base_variant",
            "splice_donor_region_variant",
            "splice_polypyrimidine_tract_variant",
            "incomplete_terminal_codon_variant",
            "coding_sequence_variant",
            "mature_mirna_variant",
            "5_prime_utr_variant",
            "5_prime_utr_premature_start_codon_gain_variant",
            "3_prime_utr_variant",
            "non_coding_transcript_exon_variant",
            "non_coding_transcript_variant",
            "nmd_transcript_variant",
            "intron_variant",
            "downstream_gene_variant",
            "intergenic_variant",
            "intergenic_region",
            "regulatory_region_variant",
            "tf_binding_site_variant",
            "feature_elongation",
            "feature_truncation",
            "sequence_variant",
            "splice_region",
            "intron",
            "igr",
            "rna",
            "lincrna",
            "5'utr",
            "3'utr",
            "3'flank",
            "targeted_region",
            "de_novo_start_inframe",
            "de_novo_start_outofframe",
            "exonic",
            "intronic",
            "intergenic",
            "utr5",
            "utr3",
            "downstream",
            "ncrna_exonic",
            "ncrna_intronic",
            "unknown",
        ),
        "other",
    ),
    # words a hand-made panel uses
    "missense": "missense",
    "nonsense": "nonsense",
    "truncating": "nonsense",
    "frameshift": "frameshift",
    "inframe": "inframe",
    "in-frame": "inframe",
    "splice": "splice",
    "promoter": "promoter",
    "amplification": "amplification",
    "amplified": "amplification",
    "deletion": "deletion",
    "deep deletion": "deletion",
    "homdel": "deletion",
    "homozygous deletion": "deletion",
    "synonymous": "synonymous",
}

SEVERITY = (
    "nonsense",
    "frameshift",
    "splice",
    "deletion",
    "amplification",
    "inframe",
    "missense",
    "promoter",
    "synonymous",
    "other",
)
"""Classes from most to least severe: picks one class for a variant with several consequences."""

WILDTYPE_WORDS = frozenset(
    {"wt", "wildtype", "wild-type", "wild type", "none", "negative", "no alteration", "normal"}
)
"""Alteration cells of a hand-made panel that mean "tested, not altered"."""

_PROTEIN = re.compile(r"^(?:p\.)?\(?(?P<ref>[A-Z][a-z]{2}|[A-Z*])(?P<pos>\d+)(?P<rest>.*?)\)?$")
_SPLICE_SITE_CODING = re.compile(r"^c\.\d+[+-][12][ACGT]")
_UPSTREAM_CODING = re.compile(r"^c\.-\d+")


def classify_term(term: str) -> str:
    """The class of one consequence term, "&"- or ","-joined lists taking the most severe."""
    parts = [p.strip().lower() for p in re.split(r"[&,]", term) if p.strip()]
    classes = [_TERM_CLASSES.get(p, "other") for p in parts] or ["other"]
    return most_severe(classes)


def is_known_term(term: str) -> bool:
    """Whether every part of `term` is in the mapping (unknown parts become "other")."""
    parts = [p.strip().lower() for p in re.split(r"[&,]", term) if p.strip()]
    return bool(parts) and all(p in _TERM_CLASSES for p in parts)


def most_severe(classes: list[str]) -> str:
    """The most severe of `classes` by `SEVERITY`."""
    return min(classes, key=SEVERITY.index)


def classify_alteration_text(text: str) -> str:
    """The class of a hand-written alteration: a class word, a consequence term, or HGVS.

    Examples: "amplification" -> amplification, "p.R249S" -> missense, "R213*" -> nonsense,
    "p.K120fs" -> frameshift, "p.E19_V21del" -> inframe, "c.-124C>T" -> promoter,
    "c.673-2A>G" -> splice, "p.L10=" -> synonymous; anything else -> other.
    """
    value = text.strip()
    low = value.lower()
    if low in _TERM_CLASSES or is_known_term(low):
        return classify_term(low)
    if "promoter" in low or _UPSTREAM_CODING.match(low):
        return "promoter"
    if "amplif" in low:
        return "amplification"
    if "splice" in low or _SPLICE_SITE_CODING.match(value):
        return "splice"
    match = _PROTEIN.match(value)
    if match is None:
        return "other"
    rest = match["rest"]
    if "fs" in rest:
        return "frameshift"
    if "ext" in rest or rest in ("*", "X", "Ter") or rest.endswith(("*", "Ter")):
        return "nonsense"
    if rest == "?" and match["pos"] == "1" and match["ref"] in ("M", "Met"):
        return "nonsense"  # start lost
    if re.search(r"del|ins|dup", rest):
        return "inframe"
    if rest in ("=", match["ref"]):
        return "synonymous"
    if re.fullmatch(r"[A-Z][a-z]{2}|[A-Z]", rest):
        return "missense"
    return "other"
