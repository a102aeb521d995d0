"""The tumour-board report: one PDF per decision, without Qt.

- `model`: `ReportData`, the report's content as plain data.
- `record`: `read_record(db, content_sha256)`, what the screening record holds on a case.
- `explanation_source`: an explanation in memory (`ExplanationLike`) or read from its folder.
- `gather`: `gather_report_data(case, record=, prediction=, explanation=, measurement=)`.
- `figures`: matplotlib (Agg) figures: MRI key slices, slide heatmap, gene and modality bars.
- `pdf`: `build_report(data, out)`, the reportlab layout.
"""

from app.report.explanation_source import (
    ExplanationFolderError,
    ExplanationLike,
    ExplanationMaps,
    maps_from_explanation,
    read_explanation_folder,
)
from app.report.gather import gather_report_data
from app.report.model import ReportData
from app.report.pdf import DRAFT_TITLE, ReportWriteError, build_report
from app.report.record import StoredRecord, read_record

__all__ = [
    "DRAFT_TITLE",
    "ExplanationFolderError",
    "ExplanationLike",
    "ExplanationMaps",
    "ReportData",
    "ReportWriteError",
    "StoredRecord",
    "build_report",
    "gather_report_data",
    "maps_from_explanation",
    "read_explanation_folder",
    "read_record",
]
