"""Lay a `ReportData` out as an A4 PDF with reportlab platypus.

Every page carries the header (trial, protocol, pseudonym), the footer (generated time, page
x of y) and, for synthetic data or a synthetic checkpoint, a light diagonal SYNTHETIC mark.
Only black, greys and the figures' ordered maps are used, so the report reads in grey print.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app import __version__
from app.errors import ScreeningError
from app.report.figures import gene_figure, modality_figure, mri_figure, slide_figure
from app.report.model import PROTOCOL_LABEL, TRIAL_ID, ReportData, SanityRow

log = logging.getLogger(__name__)

PAGE_W, PAGE_H = A4
MARGIN = 15 * mm
FRAME_W = PAGE_W - 2 * MARGIN
SHORT_SHA = 12
DRAFT_TITLE = "DRAFT \N{EM DASH} NO DECISION RECORDED"


def _override_note(outcome: str, overrides: bool) -> str:
    """How the decision relates to the criteria's recommendation, for the decision table."""
    if outcome == "deferred":
        return " (the decision is deferred: not yet taken)"
    return " (the decision OVERRIDES it)" if overrides else ""


OUTCOME_LABELS = {
    "eligible": "ELIGIBLE",
    "screen_failure": "SCREEN FAILURE",
    "deferred": "DEFERRED",
}
TARGET_LABELS = {
    "mri_integrated_gradients": "MRI saliency map (Integrated Gradients)",
    "mri_gradcam": "MRI Grad-CAM map",
    "slide_attribution": "slide tile attribution",
    "gene_attribution": "gene attributions",
    "modality_shapley": "modality contributions",
}
GRID = colors.Color(0.35, 0.35, 0.35)
HEADER_FILL = colors.Color(0.86, 0.86, 0.86)
FAIL_FILL = colors.Color(0.93, 0.93, 0.93)


class ReportWriteError(ScreeningError):
    """The report file cannot be written."""


def build_report(data: ReportData, out: Path) -> Path:
    """Write the report PDF.

    Args:
        data: The content (`app.report.gather.gather_report_data`).
        out: The PDF to write (replaced if it exists; written to a temporary name first).

    Returns:
        ``out``.

    Raises:
        ReportWriteError: if ``out``'s folder does not exist or cannot be written.
    """
    if not out.parent.is_dir():
        raise ReportWriteError(f"Cannot write '{out}': the folder '{out.parent}' does not exist.")
    if out.is_dir():
        raise ReportWriteError(f"Cannot write '{out}': it is a folder.")
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 8 * mm,
        bottomMargin=MARGIN + 4 * mm,
        title="Neoadj-Net01 tumour-board report" + (" (draft)" if data.is_draft else ""),
        author=f"neoadj {__version__}",
        subject=f"{TRIAL_ID}, {PROTOCOL_LABEL}",
    )
    story = _story(data, _styles())

    def canvas_maker(*args: Any, **kwargs: Any) -> Canvas:
        return _DecoratedCanvas(data, *args, **kwargs)

    doc.build(story, canvasmaker=canvas_maker)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportWriteError(f"Cannot write '{out}': {exc.strerror}.") from exc
    log.info("report written (%d bytes)", len(buffer.getvalue()))
    return out


class _DecoratedCanvas(Canvas):  # type: ignore[misc]
    """Draws header, footer ("page x of y") and watermark once the page count is known."""

    def __init__(self, data: ReportData, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._data = data
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._decorate(number, total)
            super().showPage()
        super().save()

    def _decorate(self, number: int, total: int) -> None:
        data = self._data
        self.saveState()
        if data.synthetic:
            self.setFillColor(colors.Color(0.5, 0.5, 0.5, alpha=0.16))
            self.setFont("Helvetica-Bold", 86)
            self.translate(PAGE_W / 2, PAGE_H / 2)
            self.rotate(50)
            self.drawCentredString(0, -30, "SYNTHETIC")
            self.rotate(-50)
            self.translate(-PAGE_W / 2, -PAGE_H / 2)
        self.setFillColor(colors.black)
        self.setStrokeColor(colors.black)
        top = PAGE_H - MARGIN
        self.setFont("Helvetica-Bold", 8)
        self.drawString(MARGIN, top, f"Neoadj-Net01 tumour board \N{MIDDLE DOT} {TRIAL_ID}")
        self.setFont("Helvetica", 8)
        self.drawRightString(
            PAGE_W - MARGIN, top, f"{PROTOCOL_LABEL} \N{MIDDLE DOT} pseudonym {_short(data)}"
        )
        self.setLineWidth(0.5)
        self.line(MARGIN, top - 2.5 * mm, PAGE_W - MARGIN, top - 2.5 * mm)
        bottom = MARGIN
        self.line(MARGIN, bottom + 4 * mm, PAGE_W - MARGIN, bottom + 4 * mm)
        state = DRAFT_TITLE if data.is_draft else "decision recorded"
        if data.synthetic:
            state += " \N{MIDDLE DOT} SYNTHETIC: not for clinical use"
        self.drawString(
            MARGIN,
            bottom,
            f"Generated {data.generated_at:%Y-%m-%d %H:%M} UTC by neoadj {__version__} "
            f"\N{MIDDLE DOT} {state}",
        )
        self.drawRightString(PAGE_W - MARGIN, bottom, f"page {number} of {total}")
        self.restoreState()


def _short(data: ReportData) -> str:
    return data.pseudonym[:SHORT_SHA] if data.pseudonym else "not recorded"


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontSize=8.5, leading=10.5)
    return {
        "title": ParagraphStyle(
            "title", parent=base["Title"], fontSize=15, leading=18, spaceAfter=2 * mm
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base["Heading2"],
            fontSize=11,
            leading=13,
            spaceBefore=4 * mm,
            spaceAfter=1.5 * mm,
            keepWithNext=1,
        ),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=9),
        "cell": ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9, spaceBefore=0),
        "mono": ParagraphStyle("mono", parent=body, fontName="Courier", fontSize=7, leading=8.5),
        "banner": ParagraphStyle(
            "banner",
            parent=body,
            fontName="Helvetica-Bold",
            fontSize=10,
            leading=12,
            alignment=TA_CENTER,
        ),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(
    rows: Sequence[Sequence[Flowable | str]],
    widths: Sequence[float],
    *,
    header: bool = True,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    table = Table(list(map(list, rows)), colWidths=list(widths), repeatRows=1 if header else 0)
    style: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL))
    table.setStyle(TableStyle(style + list(extra)))
    return table


def _figure(png: bytes, width: float = FRAME_W) -> Image:
    w, h = ImageReader(io.BytesIO(png)).getSize()
    return Image(io.BytesIO(png), width=width, height=width * h / w)


def _story(data: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = []
    title = "Tumour-board screening report"
    story.append(_p(title if not data.is_draft else f"{title}: {DRAFT_TITLE}", st["title"]))
    if data.synthetic:
        story.append(
            _banner(
                "SYNTHETIC: "
                + ("demo data" if data.synthetic_case else "checkpoint trained on synthetic data")
                + " \N{EM DASH} not for clinical use",
                st,
            )
        )
    story += _summary(data, st)
    story += _decision(data, st)
    story += _criteria(data, st)
    story += _model(data, st)
    story += _explanation(data, st)
    story += _inputs(data, st)
    if data.notes:
        story.append(_p("Notes", st["h2"]))
        story += [_p(f"\N{BULLET} {n}", st["body"]) for n in data.notes]
    return story


def _banner(text: str, st: dict[str, ParagraphStyle]) -> Table:
    return _table(
        [[_p(text, st["banner"])]],
        [FRAME_W],
        header=False,
        extra=[("BOX", (0, 0), (-1, -1), 1.5, colors.black)],
    )


def _summary(data: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    cell = st["cell"]
    decision = (
        "none recorded (draft)"
        if data.decision is None
        else f"{OUTCOME_LABELS.get(data.decision.outcome, data.decision.outcome)} by "
        f"{data.decision.reviewer}, {data.decision.decided_at:%Y-%m-%d %H:%M} UTC"
    )
    model = "not run" if data.model is None else _model_line(data)
    arm = "not randomised" if data.allocation is None else data.allocation.label
    rows = [
        ("Pseudonym", data.pseudonym or "not recorded (case not in the screening record)"),
        (
            "Record",
            "not recorded"
            if data.record_id is None
            else f"case {data.record_id}" + (f", status {data.status}" if data.status else ""),
        ),
        ("Site", data.site or "unknown"),
        ("BCLC stage", data.bclc_stage or "unknown"),
        ("Decision", decision),
        ("Model", model),
        ("Randomised arm", arm),
    ]
    table = _table(
        [[_p(k, cell), _p(v, cell)] for k, v in rows],
        [32 * mm, FRAME_W - 32 * mm],
        header=False,
        extra=[
            ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
            ("BACKGROUND", (0, 0), (0, -1), HEADER_FILL),
        ],
    )
    return [Spacer(1, 2 * mm), table]


def _model_line(data: ReportData) -> str:
    m = data.model
    if m is None:
        return "not run"
    verdict = "predicts benefit" if m.predicts_benefit else "does not predict benefit"
    sign = ">=" if m.predicts_benefit else "<"
    return (
        f"probability {m.probability:.3f} {sign} threshold {m.threshold:.3f}: {verdict} "
        f"from HAIC + lenvatinib + PD-1 inhibitor"
    )


def _decision(data: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [_p("Decision", st["h2"])]
    d = data.decision
    if d is None:
        out.append(_banner(DRAFT_TITLE, st))
        out.append(
            _p(
                "No reviewer has decided this case yet; this page is not a record of a decision.",
                st["body"],
            )
        )
    else:
        rows = [
            ("Decision", OUTCOME_LABELS.get(d.outcome, d.outcome)),
            ("Failed criteria", ", ".join(d.failed_criteria) or "none"),
            (
                "Recommended by the criteria",
                OUTCOME_LABELS.get(d.recommended, d.recommended)
                + _override_note(d.outcome, d.overrides_recommendation),
            ),
            ("Rationale", d.rationale or "none given"),
            ("Reviewer", d.reviewer),
            ("Decided", f"{d.decided_at:%Y-%m-%d %H:%M:%S} UTC (decision {d.id})"),
        ]
        out.append(_kv(rows, st))
    a = data.allocation
    out.append(_p("Randomisation", st["h2"]))
    if a is None:
        out.append(_p("Not randomised.", st["body"]))
        return out
    regimen = "<br/>".join(f"{i}. {escape(step)}" for i, step in enumerate(a.regimen, start=1))
    rows2: list[tuple[str, str | Paragraph]] = [
        ("Arm", f"{a.label} ({a.role})"),
        ("Regimen", Paragraph(regimen, st["cell"])),
        (
            "Stratum",
            f"site {a.site}, BCLC {a.bclc_stage}; sequence position {a.sequence_index + 1}",
        ),
        ("Randomised", f"by {a.allocated_by}, {a.allocated_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    out.append(_kv(rows2, st))
    return out


def _kv(rows: Sequence[tuple[str, str | Paragraph]], st: dict[str, ParagraphStyle]) -> Table:
    cell = st["cell"]
    return _table(
        [[_p(k, cell), v if isinstance(v, Paragraph) else _p(v, cell)] for k, v in rows],
        [42 * mm, FRAME_W - 42 * mm],
        header=False,
        extra=[
            ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
            ("BACKGROUND", (0, 0), (0, -1), HEADER_FILL),
        ],
    )


def _criteria(data: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [_p("Eligibility criteria (protocol V1.1)", st["h2"])]
    if data.criteria_provenance != "recorded":
        out.append(_p(f"Criteria {data.criteria_provenance}.", st["small"]))
    if not data.criteria:
        return out
    cell = st["cell"]
    bold = ParagraphStyle("bold", parent=cell, fontName="Helvetica-Bold")
    rows: list[list[Flowable | str]] = [
        [_p(h, bold) for h in ("ID", "Criterion", "Value", "Source", "Result")]
    ]
    extra: list[tuple[Any, ...]] = []
    for i, c in enumerate(data.criteria, start=1):
        result = c.status.upper()
        if c.id.startswith("E") and c.status == "pass":
            result = "PASS (absent)"
        if c.id.startswith("E") and c.status == "fail":
            result = "FAIL (present)"
        rows.append(
            [
                _p(c.id, bold),
                _p(c.label, cell),
                _p(c.value, cell),
                _p(c.source, cell),
                _p(result, bold if c.status != "pass" else cell),
            ]
        )
        if c.status == "fail":
            extra += [
                ("BACKGROUND", (0, i), (-1, i), FAIL_FILL),
                ("BOX", (0, i), (-1, i), 1.4, colors.black),
            ]
    widths = [10 * mm, 62 * mm, 62 * mm, 17 * mm]
    widths.append(FRAME_W - sum(widths))
    out.append(_table(rows, widths, extra=extra))
    out.append(
        _p(
            "E1-E6 are exclusion criteria: PASS means the excluding condition is absent.",
            st["small"],
        )
    )
    return out


def _model(data: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [_p("Neoadj-Net prediction", st["h2"])]
    m = data.model
    if m is None:
        out.append(_p("The model was not run for this case.", st["body"]))
        return out
    rows: list[tuple[str, str | Paragraph]] = [
        ("Recommendation", _model_line(data)),
        ("Probability / threshold", f"{m.probability:.3f} / {m.threshold:.3f}"),
        ("Modalities used", ", ".join(m.modalities_used) or "none"),
        ("Modalities missing", ", ".join(m.modalities_missing) or "none"),
        (
            "Model / checkpoint",
            f"{m.checkpoint_name} version {m.checkpoint_version}"
            + (" (trained on SYNTHETIC data)" if m.checkpoint_synthetic else ""),
        ),
        ("Checkpoint sha256", Paragraph(escape(m.checkpoint_sha256), st["mono"])),
        ("Device", m.device + ("" if m.total_s is None else f", {m.total_s:.1f} s")),
        ("Prediction", m.provenance),
    ]
    if m.flags:
        rows.append(("Flags", "; ".join(m.flags)))
    out.append(_kv(rows, st))
    return out


def sanity_sentence(row: SanityRow) -> str:
    """A plain-language line on one sanity check."""
    what = TARGET_LABELS.get(row.target, row.target.replace("_", " "))
    if row.passed:
        rule = ">=" if row.name == "effect" else "<"  # effect: the input must move the output
        return f"{what}: {row.name} check passed ({row.figure:.3g} {rule} {row.threshold:.3g})."
    if row.name == "effect":
        return (
            f"{what} is UNRELIABLE: the model's output hardly depends on this input (it moves "
            f"by {row.figure:.2g} {row.units}, at least {row.threshold:.3g} needed), so the map "
            "mostly shows noise: do not read it as the reason for the prediction."
        )
    if row.name == "randomisation":
        return (
            f"{what} is UNRELIABLE: it hardly changed when the model's learned weights were "
            f"replaced by random ones (rank correlation {row.figure:.2f}; it must stay below "
            f"{row.threshold:.2f}). It may show image structure rather than what the model "
            "used: do not read it as the reason for the prediction."
        )
    return (
        f"{what} is UNRELIABLE: the values do not add up to the model's output (error "
        f"{row.figure:.3g} {row.units}, allowed {row.threshold:.3g}); treat them as approximate."
    )


def _explanation(data: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    out: list[Flowable] = [_p("Why the model says so", st["h2"])]
    out.append(_p(f"Explanation {data.explanation_provenance}.", st["small"]))
    if data.sanity:
        failed = [s for s in data.sanity if not s.passed]
        head = (
            "Every sanity check passed."
            if not failed
            else f"{len(failed)} of {len(data.sanity)} sanity checks FAILED: the maps named "
            "below are unreliable."
        )
        rows = [[_p(head, ParagraphStyle("b", parent=st["cell"], fontName="Helvetica-Bold"))]]
        rows += [
            [
                _p(
                    ("\N{BULLET} " if s.passed else "\N{BLACK SQUARE} ") + sanity_sentence(s),
                    st["cell"],
                )
            ]
            for s in data.sanity
        ]
        out.append(
            _table(
                rows,
                [FRAME_W],
                header=False,
                extra=[("BOX", (0, 0), (-1, -1), 1.4 if failed else 0.4, colors.black)],
            )
        )
    if data.modalities is not None:
        out.append(
            KeepTogether(
                [
                    _p("Modality contributions (Shapley values, probability)", st["h2"]),
                    _figure(
                        modality_figure(
                            data.modalities, None if data.model is None else data.model.threshold
                        )
                    ),
                    _p(
                        "From the model's probability with no modality (baseline) each bar adds "
                        "what one modality contributes, averaged over every order of adding "
                        "them; the steps add up to the prediction.",
                        st["small"],
                    ),
                ]
            )
        )
    if data.genes:
        out.append(
            KeepTogether(
                [
                    _p("Gene attributions", st["h2"]),
                    _figure(gene_figure(data.genes), FRAME_W * 0.85),
                ]
            )
        )
    if data.variants:
        out.append(_variants(data, st))
    if data.mri:
        out.append(
            KeepTogether(
                [
                    _p("MRI key slices with saliency", st["h2"]),
                    _figure(mri_figure(data.mri), FRAME_W * 0.92),
                    _p(
                        "Grey: the MRI slice. Colour and white contours: where the MRI saliency "
                        "(smoothed |Integrated Gradients|) is high, relative to the series' peak. "
                        "The slice is the measured tumour's when a diameter was measured, else the "
                        "slice of highest saliency, else the middle slice.",
                        st["small"],
                    ),
                ]
            )
        )
    if data.slide is not None:
        out.append(
            KeepTogether(
                [
                    _p("Pathology slide", st["h2"]),
                    _figure(slide_figure(data.slide)),
                    _p(
                        "The slide's label and macro images are never shown. Heatmap: the model's "
                        "attention per scored tile (outlined), relative to the highest tile.",
                        st["small"],
                    ),
                ]
            )
        )
    return out


def _variants(data: ReportData, st: dict[str, ParagraphStyle]) -> Flowable:
    cell = st["cell"]
    bold = ParagraphStyle("bold", parent=cell, fontName="Helvetica-Bold")
    rows: list[list[Flowable | str]] = [
        [_p(h, bold) for h in ("Gene", "Change", "VAF", "Classification")]
    ]
    for v in data.variants:
        rows.append(
            [
                _p(v.gene, cell),
                _p(v.change, cell),
                _p("n/a" if v.vaf is None else f"{100 * v.vaf:.0f} %", cell),
                _p(v.classification.replace("_", " "), cell),
            ]
        )
    widths = [25 * mm, 70 * mm, 20 * mm]
    widths.append(FRAME_W - sum(widths))
    return KeepTogether([_p("Gene panel variants", st["h2"]), _table(rows, widths)])


def _inputs(data: ReportData, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    cell = st["cell"]
    bold = ParagraphStyle("bold", parent=cell, fontName="Helvetica-Bold")
    out: list[Flowable] = [_p("Inputs", st["h2"])]
    out.append(
        _p(
            f"Case content sha256 (over every input's sha256): {data.content_sha256}. "
            "A series' files are hashed together (sha256 over their sorted sha256).",
            st["small"],
        )
    )
    rows: list[list[Flowable | str]] = [
        [_p(h, bold) for h in ("Kind", "Input", "Size", "sha256 (first 12)")]
    ]
    for r in data.inputs:
        rows.append(
            [
                _p(r.kind, cell),
                _p(r.label, cell),
                _p(_size(r.size_bytes), cell),
                Paragraph(escape(r.sha256[:SHORT_SHA]), st["mono"]),
            ]
        )
    widths = [20 * mm, 95 * mm, 22 * mm]
    widths.append(FRAME_W - sum(widths))
    out.append(_table(rows, widths))
    return out


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
