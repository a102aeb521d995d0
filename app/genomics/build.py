"""Genome build names, normalised from what VCF headers and MAF columns write."""

from __future__ import annotations

import re

_PATTERNS = (
    (
        re.compile(r"grch38|hg38|hs38|assembly38|(?<![a-z0-9])b38(?![0-9])", re.IGNORECASE),
        "GRCh38",
    ),
    (
        re.compile(r"grch37|hg19|hs37|assembly19|(?<![a-z0-9])b37(?![0-9])|g1k_v37", re.IGNORECASE),
        "GRCh37",
    ),
    (re.compile(r"ncbi36|hg18|(?<![a-z0-9])b36(?![0-9])", re.IGNORECASE), "NCBI36"),
)
_BARE_NUMBERS = {"38": "GRCh38", "37": "GRCh37", "36": "NCBI36", "19": "GRCh37", "18": "NCBI36"}

CHR1_LENGTHS = {248956422: "GRCh38", 249250621: "GRCh37", 247249719: "NCBI36"}
"""Length in bp of chromosome 1 in each build (identifies a build from VCF contig lines)."""


def normalise_build(text: str) -> str | None:
    """ "GRCh38", "GRCh37" or "NCBI36" named in `text` (a path, URL, or "hg19"), else None.

    A bare number (MAF's NCBI_Build "37") counts too.
    """
    value = text.strip()
    if value in _BARE_NUMBERS:
        return _BARE_NUMBERS[value]
    for pattern, build in _PATTERNS:
        if pattern.search(value):
            return build
    return None


def liftover_target_build(chain_file: str) -> str | None:
    """The build a liftOver chain file maps to ("hg19ToHg38.over.chain.gz" -> "GRCh38")."""
    match = re.search(r"to(hg\d+|grch\d+)", chain_file, re.IGNORECASE)
    return normalise_build(match.group(1)) if match else None
