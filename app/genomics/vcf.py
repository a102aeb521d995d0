"""VCF/BCF gene panels (plain, bgzipped or gzipped, indexed or not) read with pysam.

Gene symbols come from VEP's CSQ (SYMBOL), SnpEff's ANN (Gene_Name), or INFO GENE / SYMBOL /
Gene / GENEINFO / Gene.refGene; the class from the annotation's consequence terms; copy-number
events from symbolic alleles (<DUP>, <AMP>, <CNV>, <DEL>) with INFO SVTYPE and CN.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pysam

from app.errors import CaseImportError
from app.genomics.build import CHR1_LENGTHS, liftover_target_build, normalise_build
from app.genomics.classify import SEVERITY, classify_term, most_severe
from app.genomics.panel import GenePanel
from app.genomics.variant import Variant

log = logging.getLogger(__name__)

_ANNOTATION_KEYS = ("CSQ", "ANN")
_FIELD_ALIASES = {
    "allele": ("Allele",),
    "symbol": ("SYMBOL", "Gene_Name"),
    "consequence": ("Consequence", "Annotation"),
    "hgvsp": ("HGVSp", "HGVS.p"),
    "hgvsc": ("HGVSc", "HGVS.c"),
    "pick": ("PICK",),
    "canonical": ("CANONICAL",),
}
_INFO_GENE_KEYS = ("GENE", "SYMBOL", "Gene", "GENEINFO", "Gene.refGene")
_INFO_CONSEQUENCE_KEYS = ("Consequence", "EFFECT", "ExonicFunc.refGene", "Func.refGene")
_INFO_VAF_KEYS = ("TUMOR_AF", "TVAF", "VAF", "AF")
_BUILD_KEYS = {"reference", "assembly", "genome_build", "genomebuild", "ref_genome", "build"}
_AMPLIFICATION_MIN_CN = 4
_BGZF_MAGIC = b"\x1f\x8b\x08\x04"


@dataclass
class _Tally:
    """Counts behind the panel's warnings."""

    failed_filter: int = 0
    without_gene: int = 0
    bad_vaf: int = 0


@contextlib.contextmanager
def _quiet_htslib() -> Iterator[None]:
    """Silence htslib's stderr chatter (undeclared contigs...): problems raise or warn here."""
    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


def _header_line_count(path: Path) -> int | None:
    """Number of '#' header lines of a text VCF (plain or gzipped); None for BCF."""
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic.startswith(b"BCF"):
        return None
    opener = gzip.open if magic[:2] == b"\x1f\x8b" else open
    count = 0
    with opener(path, "rb") as fh:
        for line in fh:
            if not line.startswith(b"#"):
                break
            count += 1
    return count


def read_vcf(path: Path) -> GenePanel:
    """Read a VCF or BCF file into a `GenePanel`.

    Records whose FILTER is neither PASS nor "." are dropped (and counted in a warning).

    Raises:
        CaseImportError: naming the file (and line) if it is not VCF/BCF or a record is malformed.
    """
    with path.open("rb") as fh:
        magic = fh.read(18)
    is_bcf = path.name.lower().endswith(".bcf")
    warnings: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_htslib())
        readable = path
        if magic[:2] == b"\x1f\x8b" and magic[:4] != _BGZF_MAGIC and not is_bcf:
            # htslib cannot read plain gzip through its index-aware reader: use a copy.
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            readable = folder / "panel.vcf"
            with gzip.open(path, "rb") as src, readable.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            warnings.append(f"'{path.name}' is gzip- but not bgzip-compressed; read from a copy.")
        try:
            variant_file = stack.enter_context(pysam.VariantFile(str(readable)))
        except (OSError, ValueError) as exc:
            raise CaseImportError(
                f"'{path.name}' is not a readable VCF/BCF file (no valid VCF header)."
            ) from exc
        header_lines = None if is_bcf else _header_line_count(readable)
        variants, sample_count = _read_records(path, variant_file, header_lines, warnings)
        build = _genome_build(variant_file.header, warnings, path.name)
    log.debug("VCF: %d variants, %d samples, build %s", len(variants), sample_count, build)
    return GenePanel(
        source=path,
        format="bcf" if is_bcf else "vcf",
        variants=variants,
        sample_count=sample_count,
        genome_build=build,
        warnings=warnings,
    )


def _read_records(
    path: Path,
    variant_file: pysam.VariantFile,
    header_lines: int | None,
    warnings: list[str],
) -> tuple[list[Variant], int]:
    header = variant_file.header
    fields = _annotation_fields(header, warnings, path.name)
    samples = list(header.samples)
    tumour = _tumour_sample(header, samples, warnings, path.name)
    tally = _Tally()
    variants: list[Variant] = []
    records = iter(variant_file)
    index = 0
    while True:
        where = (
            f"line {header_lines + index + 1}"
            if header_lines is not None
            else f"record {index + 1}"
        )
        try:
            record = next(records)
        except StopIteration:
            break
        except (OSError, ValueError) as exc:
            raise CaseImportError(
                f"'{path.name}', {where}: malformed VCF record ({exc}); fix or re-export the file."
            ) from exc
        try:
            variants.extend(_record_variants(record, fields, tumour, tally))
        except (ValueError, KeyError, TypeError) as exc:
            raise CaseImportError(
                f"'{path.name}', {where}: malformed VCF record ({exc}); fix or re-export the file."
            ) from exc
        index += 1
    if tally.failed_filter:
        warnings.append(
            f"'{path.name}': {tally.failed_filter} record(s) failed the caller's filters "
            "(FILTER not PASS) and were ignored."
        )
    if tally.without_gene:
        warnings.append(
            f"'{path.name}': {tally.without_gene} of {len(variants)} variant(s) name no gene "
            "(no VEP CSQ, SnpEff ANN or INFO GENE annotation); annotate the VCF (e.g. with "
            "VEP) to call genes from it."
        )
    if tally.bad_vaf:
        warnings.append(
            f"'{path.name}': {tally.bad_vaf} variant(s) have an allele fraction outside 0-1; "
            "their VAF is left empty."
        )
    return variants, len(samples)


def _annotation_fields(
    header: pysam.VariantHeader, warnings: list[str], name: str
) -> dict[str, list[str]]:
    """Sub-field names of each CSQ/ANN key, from its header Description."""
    fields = {}
    for key in _ANNOTATION_KEYS:
        if key not in header.info:
            continue
        description = header.info[key].description or ""
        match = re.search(r"'([^']*\|[^']*)'", description) or re.search(
            r"Format:\s*(\S.*)$", description
        )
        if match is None:
            warnings.append(f"'{name}': the {key} header gives no field list; {key} is ignored.")
            continue
        fields[key] = [part.strip() for part in match.group(1).strip(" \"'").split("|")]
    return fields


def _tumour_sample(
    header: pysam.VariantHeader, samples: list[str], warnings: list[str], name: str
) -> str | None:
    """The sample whose FORMAT fields give the tumour VAF (never logged: it is an identifier)."""
    if not samples:
        return None
    for record in header.records:
        key = (record.key or "").lower()
        tumour_key = key in ("tumor_sample", "tumour_sample")
        if record.type == "GENERIC" and tumour_key and record.value in samples:
            return str(record.value)
    if len(samples) == 1:
        return samples[0]
    named = [s for s in samples if re.search(r"tumou?r", s, re.IGNORECASE)]
    if named:
        return named[0]
    warnings.append(
        f"'{name}' has {len(samples)} samples and does not say which is the tumour; "
        "allele fractions are read from the first."
    )
    return samples[0]


def _genome_build(header: pysam.VariantHeader, warnings: list[str], name: str) -> str | None:
    """The build stated by ##reference/##assembly, contig assembly/length, or a liftOver chain."""
    stated: list[str] = []
    from_contigs: list[str] = []
    lifted: list[str] = []
    for record in header.records:
        if record.type == "GENERIC":
            key, value = (record.key or "").lower(), str(record.value or "")
            if key in _BUILD_KEYS and (build := normalise_build(value)):
                stated.append(build)
            elif key == "liftoverchainfile" and (build := liftover_target_build(value)):
                lifted.append(build)
            elif key == "source" and value.upper().startswith("SYNTHETIC"):
                warnings.append(f"'{name}' is marked synthetic (##source): not patient data.")
        elif record.type == "CONTIG":
            assembly = record.get("assembly")
            if assembly and (build := normalise_build(str(assembly))):
                from_contigs.append(build)
            elif record.get("ID") in ("1", "chr1") and (length := record.get("length")):
                build = CHR1_LENGTHS.get(int(length))
                if build:
                    from_contigs.append(build)
    for found in (stated, from_contigs, lifted):
        if found:
            if len(set(found)) > 1:
                warnings.append(
                    f"'{name}' names several genome builds ({', '.join(sorted(set(found)))}); "
                    f"using {found[0]}."
                )
            return found[0]
    return None


def _info_text(record: pysam.VariantRecord, key: str) -> str | None:
    if key not in record.info:
        return None
    value = record.info[key]
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value if v is not None)
    text = str(value).strip()
    return text if text and text != "." else None


def _annotation_entries(
    record: pysam.VariantRecord, fields: dict[str, list[str]]
) -> list[dict[str, str]]:
    """Every CSQ/ANN entry of the record as {canonical field: value}."""
    entries = []
    for key, names in fields.items():
        if key not in record.info:
            continue
        raw = record.info[key]
        for item in raw if isinstance(raw, tuple) else (raw,):
            values = str(item).split("|")
            by_name = dict(zip(names, values, strict=False))
            entries.append(
                {
                    canonical: next((by_name[a] for a in aliases if by_name.get(a)), "")
                    for canonical, aliases in _FIELD_ALIASES.items()
                }
            )
    return entries


def _entries_for_allele(
    entries: list[dict[str, str]], ref: str, alt: str, n_alts: int
) -> list[dict[str, str]]:
    """Entries of one ALT allele (VEP trims a shared first base; "-" for an empty allele)."""
    if n_alts == 1:
        return entries
    trimmed = (alt[1:] or "-") if ref[:1] == alt[:1] and len(ref) != len(alt) else alt
    names = {alt, trimmed, alt.strip("<>")}
    return [e for e in entries if e["allele"] in names] or entries


def _pick(entries: list[dict[str, str]]) -> dict[str, str] | None:
    """VEP's --pick entry, else a canonical transcript's, else the most severe."""
    if not entries:
        return None
    for flag, value in (("pick", "1"), ("canonical", "YES")):
        flagged = [e for e in entries if e[flag] == value]
        if flagged:
            entries = flagged
            break
    return min(entries, key=lambda e: SEVERITY.index(classify_term(e["consequence"])))


def _hgvs(value: str) -> str:
    """An HGVS string without its transcript/protein prefix, URL-decoded ("p.Leu10%3D")."""
    return unquote(value.split(":", 1)[-1]) if value else ""


def _copy_number(record: pysam.VariantRecord) -> float | None:
    if "CN" not in record.info:
        return None
    value = record.info["CN"]
    if isinstance(value, tuple):
        value = value[0] if value else None
    return float(value) if value is not None else None


def _copy_number_class(record: pysam.VariantRecord, alt: str) -> str | None:
    """ "amplification", "deletion" or "other" for a copy-number/structural allele, else None.

    With a copy number (INFO CN): >= 4 copies is an amplification, 0 a (deep) deletion,
    anything else a low-level gain or loss ("other"). Without one, <DUP>/<AMP> (or SVTYPE
    DUP/AMP) is taken as an amplification and <DEL> as a deletion.
    """
    symbolic = alt.startswith("<") and alt.endswith(">")
    svtype_info = _info_text(record, "SVTYPE")
    if not symbolic and svtype_info is None:
        return None
    svtype = (svtype_info or alt.strip("<>").split(":")[0]).upper()
    copies = _copy_number(record)
    if copies is not None and svtype in ("DUP", "AMP", "CNV", "GAIN", "DEL", "LOSS"):
        if copies >= _AMPLIFICATION_MIN_CN:
            return "amplification"
        return "deletion" if copies == 0 else "other"
    if svtype in ("DUP", "AMP", "GAIN"):
        return "amplification"
    if svtype in ("DEL", "LOSS"):
        return "deletion"
    return "other"


def _vaf(
    record: pysam.VariantRecord, alt_index: int, tumour: str | None, tally: _Tally
) -> float | None:
    """Tumour allele fraction: FORMAT AF, else FORMAT AD, else INFO TUMOR_AF/TVAF/VAF/AF."""
    value: Any = None
    if tumour is not None:
        sample = record.samples[tumour]
        if "AF" in record.format:
            value = _pick_allele(sample["AF"], alt_index)
        if value is None and "AD" in record.format:
            depths = sample["AD"]
            if isinstance(depths, tuple) and len(depths) > alt_index + 1:
                counts = [d for d in depths if d is not None]
                alt_count = depths[alt_index + 1]
                if alt_count is not None and sum(counts) > 0:
                    value = alt_count / sum(counts)
    for key in _INFO_VAF_KEYS:
        if value is not None:
            break
        if key in record.info:
            value = _pick_allele(record.info[key], alt_index)
    if value is None:
        return None
    vaf = round(float(value), 6)  # INFO/FORMAT floats are float32
    if not 0.0 <= vaf <= 1.0:
        tally.bad_vaf += 1
        return None
    return vaf


def _pick_allele(value: Any, alt_index: int) -> Any:
    if isinstance(value, tuple):
        if not value:
            return None
        return value[alt_index] if alt_index < len(value) else value[0]
    return value


def _info_genes(record: pysam.VariantRecord) -> list[str]:
    """Gene symbols from the first INFO gene key present ("TP53", "TP53:7157", "A,B")."""
    for key in _INFO_GENE_KEYS:
        text = _info_text(record, key)
        if text:
            parts = (p.split(":")[0].strip() for p in re.split(r"[,|&]", text))
            return [p for p in parts if p and p != "."]
    return []


def _record_variants(
    record: pysam.VariantRecord,
    fields: dict[str, list[str]],
    tumour: str | None,
    tally: _Tally,
) -> list[Variant]:
    """The variants of one record: one per ALT allele, one per gene for copy-number events."""
    filters = list(record.filter.keys())
    if filters and filters != ["PASS"]:
        tally.failed_filter += 1
        return []
    ref = record.ref or ""
    entries = _annotation_entries(record, fields)
    info_genes = _info_genes(record)
    alts = record.alts or ()
    variants = []
    for alt_index, alt in enumerate(alts):
        allele_entries = _entries_for_allele(entries, ref, alt, len(alts))
        vaf = _vaf(record, alt_index, tumour, tally)
        cn_class = _copy_number_class(record, alt)
        genes: list[str]
        if cn_class is not None:
            genes = sorted({e["symbol"] for e in allele_entries if e["symbol"]}) or info_genes
            copies = _copy_number(record)
            if cn_class != "other":
                change = cn_class
            else:
                change = f"copy number {copies:g}" if copies is not None else alt
            classification = cn_class
        else:
            entry = _pick(allele_entries)
            if entry is not None:
                genes = [entry["symbol"]] if entry["symbol"] else info_genes[:1]
                classification = classify_term(entry["consequence"])
                change = _hgvs(entry["hgvsp"]) or _hgvs(entry["hgvsc"])
            else:
                genes = info_genes[:1]
                terms = [t for k in _INFO_CONSEQUENCE_KEYS if (t := _info_text(record, k))]
                classification = most_severe([classify_term(t) for t in terms] or ["other"])
                change = ""
        if not genes:
            tally.without_gene += 1
        for gene in genes or [""]:
            variants.append(
                Variant(
                    gene=gene,
                    chrom=str(record.chrom),
                    pos=int(record.pos),
                    ref=ref,
                    alt=alt,
                    change=change or f"{ref}>{alt}",
                    vaf=vaf,
                    classification=classification,
                )
            )
    return variants
