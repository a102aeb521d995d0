"""Recording a whole cohort's imports at once: one bulk insert per table (`bulk.insert_rows`)
in the caller's transaction.

`record_imports` writes what `record_import` writes for each case (the site on first use, the
case with its pseudonym, its inputs, and the same audit events in the same order), but with
one statement per table (`app.storage.bulk.insert_rows`) instead of an ORM flush and two
audit statements per row. It locks the audit chain head first, so no other writer can add or
change a case until it commits, hashes the chain in Python (`append_encoded_events`; each
case's event value is composed as canonical JSON text directly), and leaves the database's
triggers to check every link. Cases already recorded (same content hash) are skipped, so
re-importing a cohort changes nothing; cases recorded as failed are completed by
`record_import` afterwards.

``neoadj screen`` registers its whole batch with it before screening case by case (each
case's prediction, criteria and decision commit on their own). The site's pseudonym key is
derived once for the cohort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring as _quote  # canonical_json's string encoding
from typing import NamedTuple

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from app.pseudonym import SiteSecret, pseudonymiser
from app.storage.audit import EncodedEvent, append_encoded_events, canonical_json, lock_chain_head
from app.storage.bulk import insert_rows
from app.storage.cases import check_site_code, site_secret_mismatch
from app.storage.errors import RecordError
from app.storage.inputs import CaseLike, check_actor, check_sha256
from app.storage.models import Base, CaseStatus, InputFileRecord, ScreeningCase, Site
from app.storage.screening import case_folder, record_import, relative_input_path
from app.storage.types import utc_now

LOOKUP_CHUNK = 500
"""Content hashes or site codes per ``IN (...)`` look-up (well under SQLite's bind limit)."""

_CASES = Base.metadata.tables[ScreeningCase.__tablename__]
_INPUTS = Base.metadata.tables[InputFileRecord.__tablename__]
_SITES = Base.metadata.tables[Site.__tablename__]
_LAST_CASE_ID = select(func.coalesce(func.max(ScreeningCase.id), 0))
_NEXT_CASE_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('screening_case', 'id')) FROM generate_series(1, :count)"
)


@dataclass(frozen=True)
class CohortImport:
    """What `record_imports` did.

    Attributes:
        case_ids: The record id of every given case, in the given order.
        created: Cases recorded now.
        completed: Cases recorded as failed before, now completed.
        unchanged: Cases recorded already (nothing written for them).
    """

    case_ids: tuple[int, ...]
    created: int
    completed: int
    unchanged: int


_InputRow = tuple[str, str, str, int]
"""One ``input_file`` row of a case without the case id, in `_INPUT_COLUMNS` order. Plain
tuples of plain values, like the bulk-inserted rows, are soon untracked by Python's cyclic
garbage collector: a large cohort does not bring on a full collection (about 0.1 s)."""
_INPUT_COLUMNS = ("path", "kind", "sha256", "size_bytes")


class _NewCase(NamedTuple):
    position: int
    site: str
    pseudonym: str
    content_sha256: str
    synthetic: bool
    folder: str | None
    inputs: tuple[_InputRow, ...]


def record_imports(
    session: Session,
    cases: Sequence[CaseLike],
    *,
    secret: SiteSecret,
    actor: str,
    site: str | None = None,
) -> CohortImport:
    """Record many imported cases in the session's transaction, as `record_import` would.

    Every case is checked before anything is written, so bad input leaves the database as
    it was (the caller's transaction rolls back on the error).

    Args:
        session: A write session (`Database.transaction`); the cohort commits with it.
        cases: The imported cases (`app.case.load_case`), each at most once.
        secret: The site's secret (pseudonyms and the site's fingerprint).
        actor: Who imports (reviewer name, or the command).
        site: Site code for every case; None to take each ``clinical.json``'s ``site``.

    Returns:
        The case ids in the given order and how many were created, completed or unchanged.

    Raises:
        RecordError: naming the case's position in ``cases`` (never a patient identifier)
            for a case without a site or inputs, a malformed site code or sha256, an input
            path given twice, or two cases with the same inputs.
        SiteSecretError: if a site is registered with another secret.
    """
    actor = check_actor(actor)
    hashes = [case.content_hash for case in cases]  # `app.case.Case` hashes on every read
    checked = [
        _check_case(n, case, digest, site)
        for n, (case, digest) in enumerate(zip(cases, hashes, strict=True), start=1)
    ]
    _refuse_duplicates(hashes)
    lock_chain_head(session)  # from here on no other writer adds or changes a case
    known = _recorded_cases(session, hashes)
    new_sites = _new_sites(session, {code for code, _ in checked}, secret)
    pseudonym_of = pseudonymiser(secret)  # the site's key derived once for the cohort
    new: list[_NewCase] = []
    failed: list[int] = []
    for position, (case, digest, (code, inputs)) in enumerate(
        zip(cases, hashes, checked, strict=True)
    ):
        state = known.get(digest)
        if state is not None:
            if state[1] is CaseStatus.FAILED:
                failed.append(position)
            continue
        identifier = (case.clinical.patient_id if case.clinical else None) or case.case_id
        pseudonym = pseudonym_of(identifier)
        new.append(
            _NewCase(
                position,
                code,
                pseudonym,
                digest,
                bool(case.synthetic),
                case_folder(case.root),
                inputs,
            )
        )
    ids = _insert(session, new, new_sites, secret, actor)
    case_ids = {n: known[digest][0] for n, digest in enumerate(hashes) if digest in known}
    case_ids.update((row.position, case_id) for row, case_id in zip(new, ids, strict=True))
    for position in failed:
        record = record_import(session, cases[position], secret=secret, actor=actor, site=site)
        case_ids[position] = record.id
    return CohortImport(
        tuple(case_ids[n] for n in range(len(cases))),
        created=len(new),
        completed=len(failed),
        unchanged=len(cases) - len(new) - len(failed),
    )


def _check_case(
    number: int, case: CaseLike, content_hash: str, site: str | None
) -> tuple[str, tuple[_InputRow, ...]]:
    """(site code, input rows without case id) of the ``number``-th case, or `RecordError`."""
    code = site or (case.clinical.site if case.clinical else None)
    if not code:
        raise RecordError(
            f"Case #{number} of the cohort has no site: set 'site' in its clinical.json or "
            "give the site."
        )
    check_site_code(code)
    if not case.inputs:
        raise RecordError(f"Case #{number} of the cohort has no inputs to record.")
    check_sha256(content_hash, f"case #{number} of the cohort")
    inputs = []
    root = case.root
    for f in case.inputs:
        path = relative_input_path(f.path, root)
        check_sha256(f.sha256, f"input '{path}' of case #{number} of the cohort")
        inputs.append((path, f.kind, f.sha256, f.size_bytes))
    if len({row[0] for row in inputs}) != len(inputs):
        raise RecordError(f"Case #{number} of the cohort lists an input path twice.")
    return code, tuple(inputs)


def _refuse_duplicates(hashes: list[str]) -> None:
    first: dict[str, int] = {}
    for number, digest in enumerate(hashes, start=1):
        if digest in first:
            raise RecordError(
                f"Cases #{first[digest]} and #{number} of the cohort have the same inputs "
                f"(content sha256 {digest[:12]}...); give each case once."
            )
        first[digest] = number


def _recorded_cases(session: Session, hashes: list[str]) -> dict[str, tuple[int, CaseStatus]]:
    """Content hash -> (id, status) of the cases among ``hashes`` recorded already."""
    found: dict[str, tuple[int, CaseStatus]] = {}
    query = select(ScreeningCase.content_sha256, ScreeningCase.id, ScreeningCase.status)
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        chunk = hashes[start : start + LOOKUP_CHUNK]
        for digest, case_id, status in session.execute(
            query.where(ScreeningCase.content_sha256.in_(chunk))
        ):
            found[digest] = (case_id, status)
    return found


def _new_sites(session: Session, codes: set[str], secret: SiteSecret) -> set[str]:
    """The codes among ``codes`` not registered yet; `SiteSecretError` on a foreign secret."""
    query = select(Site.code, Site.secret_fingerprint).where(Site.code.in_(sorted(codes)))
    registered = {code: fingerprint for code, fingerprint in session.execute(query)}
    for code, fingerprint in registered.items():
        if fingerprint != secret.fingerprint:
            raise site_secret_mismatch(code)
    return codes - registered.keys()


def _insert(
    session: Session,
    new: list[_NewCase],
    new_sites: set[str],
    secret: SiteSecret,
    actor: str,
) -> list[int]:
    """Insert sites, cases, inputs and their audit events (in `record_import`'s order)."""
    if not new:
        return []
    connection = session.connection()
    now = utc_now()
    fingerprint = secret.fingerprint
    site_order = list(dict.fromkeys(row.site for row in new if row.site in new_sites))
    insert_rows(
        connection,
        _SITES,
        ("code",),
        [(code,) for code in site_order],
        {"secret_fingerprint": fingerprint, "registered_at": now},
    )
    ids = _reserve_case_ids(connection, len(new))
    insert_rows(
        connection,
        _CASES,
        ("id", "content_sha256", "pseudonym", "site_code", "synthetic", "folder"),
        [
            (case_id, row.content_sha256, row.pseudonym, row.site, row.synthetic, row.folder)
            for row, case_id in zip(new, ids, strict=True)
        ],
        {
            "status": CaseStatus.PENDING,
            "failure_message": None,
            "bclc_stage": None,
            "created_at": now,
            "updated_at": now,
            "updated_by": actor,
            "version": 1,
        },
    )
    insert_rows(
        connection,
        _INPUTS,
        ("case_id", *_INPUT_COLUMNS),
        [(case_id, *f) for row, case_id in zip(new, ids, strict=True) for f in row.inputs],
    )
    events: list[EncodedEvent] = []
    pending = set(site_order)
    for row, case_id in zip(new, ids, strict=True):
        if row.site in pending:
            pending.discard(row.site)
            new_site = canonical_json({"code": row.site, "secret_fingerprint": fingerprint})
            events.append(
                EncodedEvent(actor, "create", "site", row.site, None, None, None, new_site, None)
            )
        events.append(
            EncodedEvent(
                actor, "create", "case", str(case_id), case_id, None, None, _case_json(row), None
            )
        )
    append_encoded_events(session, events)
    return ids


def _case_json(case: _NewCase) -> str:
    """`canonical_json` of the case's "create" event value (what `record_import` logs), composed
    in sorted key order: three times faster than encoding the dictionary."""
    inputs = ",".join(
        f'{{"kind":{_quote(kind)},"path":{_quote(path)},"sha256":"{sha256}","size":{int(size)}}}'
        for path, kind, sha256, size in case.inputs
    )
    return (
        f'{{"content_sha256":"{case.content_sha256}","inputs":[{inputs}],'
        f'"pseudonym":"{case.pseudonym}","site":{_quote(case.site)},'
        f'"status":{_quote(CaseStatus.PENDING.value)},'
        f'"synthetic":{"true" if case.synthetic else "false"}}}'
    )


def _reserve_case_ids(connection: Connection, count: int) -> list[int]:
    """``count`` new case ids, so that cases, inputs and events go in plain bulk inserts.

    PostgreSQL: taken from the id sequence in one statement. SQLite: the ids after the
    largest, which SQLite itself would assign (the write transaction holds the database).
    """
    if connection.dialect.name == "postgresql":
        return list(connection.scalars(_NEXT_CASE_IDS, {"count": count}))
    last = int(connection.scalar(_LAST_CASE_ID) or 0)
    return list(range(last + 1, last + 1 + count))
