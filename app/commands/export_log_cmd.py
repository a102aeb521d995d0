"""``neoadj export-log --out FILE.csv [--db URL]``: the screening log and CONSORT counts.

Writes one CSV row per recorded case (pseudonym, model output, decision, arm...), the counts
as JSON beside it (``FILE.json``), and prints the counts. No patient identifier is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.errors import ScreeningError
from app.rules.criteria import CRITERION_LABELS
from app.storage import DatabaseError, database_reason, open_database
from app.storage.screening_log import (
    ConsortCounts,
    consort_counts,
    screening_log,
    write_counts_json,
    write_log_csv,
)

NAME = "export-log"
HELP = "Write the screening log (CSV) and the CONSORT-style counts (JSON beside it)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.csv", help="CSV to write")
    parser.add_argument("--db", metavar="URL", help="database URL (default: $NEOADJ_DB_URL)")


def run(args: argparse.Namespace) -> int:
    """Export the log and print the counts."""
    out: Path = args.out
    if not out.parent.is_dir():
        raise ScreeningError(f"Folder '{out.parent}' does not exist; cannot write '{out.name}'.")
    db = open_database(args.db, create=False)
    try:
        with db.session() as session:
            rows = screening_log(session)
            counts = consort_counts(session, rows)
    except SQLAlchemyError as exc:
        reason = database_reason(exc)
        raise DatabaseError(f"The database cannot be read: {reason}") from exc
    finally:
        db.dispose()
    json_path = out.with_suffix(".json")
    try:
        write_log_csv(rows, out)
        write_counts_json(counts, json_path)
    except OSError as exc:
        raise ScreeningError(f"Cannot write the screening log to '{out}': {exc.strerror}.") from exc
    print(f"Screening log: {out} ({len(rows)} cases); counts: {json_path}")
    _print_counts(counts)
    return 0


def _print_counts(counts: ConsortCounts) -> None:
    print(f"  screened                 {counts.screened:>5}")
    print(f"  not processed            {counts.not_processed:>5}")
    print(f"  screen failures          {counts.screen_failures:>5}")
    for cid, n in counts.screen_failures_by_reason.items():
        print(f"    {cid:<4} {CRITERION_LABELS.get(cid, cid)[:44]:<44} {n:>5}")
    print(f"  eligible                 {counts.eligible:>5}")
    print(f"  deferred                 {counts.deferred:>5}")
    print(f"  awaiting decision        {counts.awaiting_decision:>5}")
    for arm, n in counts.randomised.items():
        print(f"  randomised: {arm:<14}{n:>5}")
    print(f"  audit chain head         {counts.audit_head_hash}")
