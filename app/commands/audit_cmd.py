"""``neoadj audit verify [--db URL] [--site-secret FILE]`` and ``neoadj audit show CASE``.

``verify`` re-hashes the whole audit chain: exit 0 when intact, 1 naming the first bad event
(and any other problem: missing creation events, disabled append-only triggers, allocations
that do not match the site's sequence when a secret is given). ``show`` prints one case's
history, oldest first. Only pseudonyms are printed, never a patient identifier.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from app.pseudonym import default_secret_path, load_site_secret, short_pseudonym
from app.storage import (
    DatabaseError,
    case_history,
    database_reason,
    open_database,
    resolve_case,
    verify_allocations,
    verify_chain,
)

NAME = "audit"
HELP = "Verify the audit trail's hash chain, or show a case's history."
VALUE_CHARS = 160


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``verify`` and ``show`` sub-commands."""
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="check the hash chain (exit 1 if broken)")
    verify.add_argument("--db", metavar="URL", help="database URL (default: $NEOADJ_DB_URL)")
    verify.add_argument(
        "--site-secret",
        type=Path,
        metavar="FILE",
        help="also verify the allocations against the site's sequence "
        "(default: the workstation's secret file, when present)",
    )
    show = sub.add_parser("show", help="print one case's audit history")
    show.add_argument("case", metavar="CASE", help="case number or pseudonym prefix")
    show.add_argument("--db", metavar="URL", help="database URL (default: $NEOADJ_DB_URL)")
    show.add_argument("--full", action="store_true", help="do not shorten long values")


def run(args: argparse.Namespace) -> int:
    """Run ``verify`` or ``show``."""
    try:
        if args.audit_command == "verify":
            return _verify(args.db, args.site_secret)
        return _show(args.db, args.case, full=args.full)
    except SQLAlchemyError as exc:
        reason = database_reason(exc)
        raise DatabaseError(f"The database cannot be read: {reason}") from exc


def _verify(url: str | None, secret_file: Path | None) -> int:
    db = open_database(url, create=False)
    try:
        with db.session() as session:
            report = verify_chain(session)
            problems = list(report.problems)
            if secret_file is None and default_secret_path().exists():
                secret_file = default_secret_path()
            allocations_note = "allocations not checked (no site secret; give --site-secret)"
            if secret_file is not None:
                allocation_problems = verify_allocations(session, load_site_secret(secret_file))
                problems += allocation_problems
                allocations_note = "allocations match the site's sequence"
    finally:
        db.dispose()
    if problems:
        where = f" at event #{report.first_bad_seq}" if report.first_bad_seq else ""
        print(f"Audit trail of {db.url} is NOT intact{where}:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"Audit trail intact: {report.events_checked} events; head {report.head_hash}")
    print(f"{allocations_note.capitalize()}.")
    return 0


def _show(url: str | None, reference: str, *, full: bool) -> int:
    db = open_database(url, create=False)
    try:
        with db.session() as session:
            case = resolve_case(session, reference)
            events = case_history(session, case.id)
    finally:
        db.dispose()
    out = sys.stdout
    pseudonym = short_pseudonym(case.pseudonym) if case.pseudonym else "none"
    out.write(
        f"Case {case.id}  pseudonym {pseudonym}  site {case.site_code or '-'}  "
        f"status {case.status}  version {case.version}\n"
    )
    for e in events:
        what = f"{e.action} {e.entity}" + (f".{e.field}" if e.field else "")
        change = f"{_short(e.old_value, full)} -> {_short(e.new_value, full)}"
        out.write(f"#{e.seq:<5} {e.occurred_at:%Y-%m-%d %H:%M:%S}Z  {e.actor}  {what}: {change}\n")
        if e.reason:
            out.write(f"       why: {e.reason}\n")
    return 0


def _short(value: str | None, full: bool) -> str:
    if value is None:
        return "-"
    if full or len(value) <= VALUE_CHARS:
        return value
    return value[: VALUE_CHARS - 1] + "…"
