"""``neoadj screen CASES_ROOT [--clinical FILE.csv] [--db URL] [--checkpoint DIR] ...``.

Screens every case folder under CASES_ROOT headlessly (`app.screening.batch`): import,
prediction, explanation (unless ``--no-explain``), protocol criteria, and the screening
record, one transaction per case. Cases already recorded (same content hash) are skipped;
a case that fails is recorded with its message and the rest go on. Every screened case is
left "deferred" for a reviewer. Progress goes to stderr (a bar on a terminal, one line per
case otherwise); a summary table, or with ``--json`` one JSON object, to stdout.
Exit status: 0 every case screened or skipped, 1 some case failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import TracebackType

import platformdirs
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from app.commands.screen_model import CheckpointModel
from app.errors import ScreeningError
from app.pseudonym import SiteSecret, default_secret_path, load_site_secret
from app.screening.batch import STEPS_PER_CASE, screen_batch
from app.screening.clinical_table import read_clinical_table
from app.screening.discovery import find_case_folders
from app.screening.outcome import BatchSummary, CaseOutcome, CaseState
from app.storage import DatabaseError, database_reason, open_database

NAME = "screen"
HELP = "screen every case folder under a root: import, predict, explain, criteria, record"
EXPLANATIONS_DIR = "explanations"


def default_artefacts_dir() -> Path:
    """``explanations/`` in the user data directory (beside the default database)."""
    return Path(platformdirs.user_data_dir("neoadj")) / EXPLANATIONS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``neoadj screen``."""
    parser.add_argument(
        "cases_root", type=Path, metavar="CASES_ROOT", help="folder with one sub-folder per case"
    )
    parser.add_argument(
        "--clinical",
        type=Path,
        metavar="FILE.csv",
        help="clinical data overriding each case's clinical.json (a case_id column, then "
        "clinical.json fields)",
    )
    parser.add_argument("--db", metavar="URL", help="database URL (default: $NEOADJ_DB_URL)")
    parser.add_argument(
        "--checkpoint", type=Path, metavar="DIR", help="checkpoint folder (default: the demo one)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--no-explain", action="store_true", help="predict only, no saliency")
    parser.add_argument(
        "--artefacts",
        type=Path,
        metavar="DIR",
        help="where explanations go, one folder per case (default: the user data folder)",
    )
    parser.add_argument(
        "--site-secret",
        type=Path,
        metavar="FILE",
        help="the site's secret (default: $NEOADJ_SITE_SECRET_FILE or the user config "
        "folder; created when absent)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Screen the batch and print its summary."""
    if args.threads < 1:
        raise ScreeningError("--threads must be at least 1.")
    folders = find_case_folders(args.cases_root)
    clinical = read_clinical_table(args.clinical) if args.clinical is not None else {}
    secret = _site_secret(args.site_secret)
    torch.set_num_threads(args.threads)
    model = CheckpointModel.load(args.checkpoint, args.device)
    explain_root = None if args.no_explain else args.artefacts or default_artefacts_dir()
    db = open_database(args.db)
    try:
        with _BatchProgress(len(folders)) as display:
            summary = screen_batch(
                folders,
                db=db,
                secret=secret,
                model=model,
                clinical=clinical,
                explain_root=explain_root,
                progress=display.progress,
                on_case=display.case_done,
            )
    except SQLAlchemyError as exc:
        reason = database_reason(exc)
        raise DatabaseError(
            f"The database failed during the batch: {reason}. Cases finished so far are "
            "recorded; run the command again to do the rest."
        ) from exc
    finally:
        db.dispose()
    if summary.unused_clinical_rows:
        print(
            f"neoadj screen: {summary.unused_clinical_rows} row(s) of '{args.clinical}' "
            "matched no case folder",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(summary.to_json()))
    else:
        _print_summary(summary)
    return 1 if summary.failed else 0


def _site_secret(path: Path | None) -> SiteSecret:
    """The site's secret; created (and said so) on the site's first workstation."""
    target = path if path is not None else default_secret_path()
    existed = target.exists()
    secret = load_site_secret(target, create=True)
    if not existed:
        print(
            f"neoadj screen: created a new site secret in '{target}'; copy it to the site's "
            "other workstations",
            file=sys.stderr,
        )
    return secret


def describe(outcome: CaseOutcome) -> str:
    """One line about a case: its state, proposal and probability, or why it failed."""
    if outcome.state is CaseState.FAILED:
        return f"FAILED: {outcome.message}"
    what = f"{outcome.state} (proposed {outcome.status}"
    if outcome.probability is not None:
        what += f", p={outcome.probability:.3f}"
    return what + f") in {outcome.seconds:.1f} s"


class _BatchProgress:
    """A rich progress bar on a terminal's stderr; one plain line per case otherwise."""

    def __init__(self, cases: int) -> None:
        self.cases = cases
        self.done = 0
        self.console = Console(stderr=True)
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _BatchProgress:
        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("screening"),
                BarColumn(),
                TextColumn("{task.fields[cases]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.bar.start()
            self.task = self.bar.add_task(
                "screen", total=STEPS_PER_CASE * self.cases, cases=f"0/{self.cases} cases"
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def progress(self, done: int, _total: int) -> None:
        """Move the bar (steps of `screen_batch`)."""
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done)

    def case_done(self, outcome: CaseOutcome) -> None:
        """Report one finished case."""
        self.done += 1
        line = f"[{self.done}/{self.cases}] {outcome.case}: {describe(outcome)}"
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, cases=f"{self.done}/{self.cases} cases")
            self.bar.console.print(Text(line))
        else:
            print(line, file=sys.stderr, flush=True)


def _print_summary(summary: BatchSummary) -> None:
    console = Console()
    table = Table(title="Screening summary", show_header=False)
    table.add_column("what")
    table.add_column("cases", justify="right")
    table.add_row("screened", str(summary.count(CaseState.SCREENED)))
    table.add_row("skipped (recorded before)", str(summary.count(CaseState.SKIPPED)))
    table.add_row("failed", str(len(summary.failed)))
    proposed = summary.eligibility_counts
    table.add_row("proposed eligible", str(proposed["eligible"]))
    table.add_row("proposed ineligible (a criterion fails)", str(proposed["ineligible"]))
    table.add_row("incomplete (data or review needed)", str(proposed["incomplete"]))
    table.add_row("cases per minute", f"{summary.cases_per_minute:.1f}")
    console.print(table)
    if summary.failed:
        failures = Table(title="Failed cases", show_header=True)
        failures.add_column("case")
        failures.add_column("message")
        for outcome in summary.failed:
            failures.add_row(Text(outcome.case), Text(outcome.message or ""))
        console.print(failures)
    console.print(
        "Screened cases are recorded as deferred: a reviewer decides each one.", highlight=False
    )
