"""``neoadj report CASE --out FILE.pdf [--db URL] [--checkpoint DIR] [--explain-dir DIR]``.

Writes the tumour-board report of one case folder. The case is looked up in the screening
record by the content hash of its inputs: its decision, criteria, prediction, allocation and
recorded explanation folder are used. Without a recorded decision the report is titled
"DRAFT - NO DECISION RECORDED". A prediction that is not recorded is computed with
``--checkpoint`` (default: the demo one), and so is the explanation unless one is recorded,
``--explain-dir`` names one, or ``--no-explain`` is given.
Exit status: 0 written, 2 bad input (missing case, unwritable output, bad checkpoint).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from app.case import Case, load_case
from app.errors import CaseImportError
from app.pseudonym import SiteSecret, SiteSecretError, default_secret_path, load_site_secret
from app.report import (
    ExplanationMaps,
    ReportWriteError,
    build_report,
    gather_report_data,
    read_explanation_folder,
    read_record,
)
from app.report.record import StoredRecord
from app.storage import default_database_url, open_database
from explain.explanation import Explanation, explain_case
from inference.checkpoint import Checkpoint
from inference.runner import Prediction, predict_case, resolve_checkpoint

NAME = "report"
HELP = "write the tumour-board report (PDF) of one case"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``neoadj report``."""
    parser.add_argument("case", type=Path, metavar="CASE", help="the case folder")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.pdf", help="the PDF")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $NEOADJ_DB_URL)")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        metavar="DIR",
        help="checkpoint for what is not recorded (default: the demo one)",
    )
    parser.add_argument(
        "--explain-dir",
        type=Path,
        metavar="DIR",
        help="an explanation folder (neoadj explain --out) to show instead of the recorded one",
    )
    parser.add_argument(
        "--no-explain", action="store_true", help="do not compute a missing explanation"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")


def run(args: argparse.Namespace) -> int:
    """Gather the case's record, compute what is missing, and write the PDF."""
    out: Path = args.out
    if out.suffix.lower() != ".pdf":
        raise ReportWriteError(f"'{out}': the report must be a .pdf file.")
    if not out.parent.is_dir():
        raise ReportWriteError(f"Cannot write '{out}': the folder '{out.parent}' does not exist.")
    if not args.case.is_dir():
        raise CaseImportError(f"'{args.case}' is not a case folder.")
    torch.set_num_threads(max(1, args.threads))
    case = load_case([args.case])
    if not case.imported_anything:
        raise CaseImportError(f"'{args.case}' holds no MRI, slide or gene panel.")
    db = open_database(args.db, create=False) if args.db or _default_db_exists() else None
    try:
        record = None if db is None else read_record(db, case.content_hash)
    finally:
        if db is not None:
            db.dispose()
    explanation: ExplanationMaps | Explanation | None = _given_explanation(args.explain_dir)
    needs_explanation = (
        explanation is None
        and not args.no_explain
        and (record is None or record.explanation_dir is None)
    )
    needs_prediction = record is None or record.model is None
    prediction: Prediction | None = None
    if needs_prediction or needs_explanation:
        checkpoint = resolve_checkpoint(args.checkpoint, args.device)
        if needs_prediction:
            prediction = predict_case(case, checkpoint)
        if needs_explanation:
            explanation = _explain(case, checkpoint, record)
    data = gather_report_data(
        case,
        record=record,
        prediction=prediction,
        explanation=explanation,
        secret=_secret_if_present() if record is None else None,
    )
    build_report(data, out)
    state = "draft (no decision recorded)" if data.is_draft else "decision recorded"
    print(f"report written to {out} ({state})")
    return 0


def _default_db_exists() -> bool:
    url = default_database_url()
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).is_file()


def _given_explanation(folder: Path | None) -> ExplanationMaps | None:
    return None if folder is None else read_explanation_folder(folder)


def _explain(case: Case, checkpoint: Checkpoint, record: StoredRecord | None) -> Explanation | None:
    recorded = None if record is None or record.model is None else record.model
    if recorded is not None and recorded.checkpoint_sha256 != checkpoint.info.sha256:
        print(
            "neoadj report: the recorded prediction was made with checkpoint "
            f"{recorded.checkpoint_sha256[:12]}, not {checkpoint.info.sha256[:12]}: the "
            "report shows no explanation (give that checkpoint with --checkpoint)",
            file=sys.stderr,
        )
        return None
    return explain_case(case, checkpoint)


def _secret_if_present() -> SiteSecret | None:
    """The site secret when it exists (never created here), for the draft's pseudonym."""
    path = default_secret_path()
    if not path.is_file():
        return None
    try:
        return load_site_secret(path)
    except SiteSecretError:
        return None
