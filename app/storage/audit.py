"""The append-only, hash-chained audit trail.

Every change to a screening record is one `AuditEvent`: who, when, what entity and field,
old -> new (canonical JSON text) and why. Event ``n`` stores the hash of event ``n - 1``
(``prev_hash``; the first stores 64 zeros) and its own ``hash``: sha256 over the canonical
JSON of all its other columns. Appenders lock the single `AuditHead` row, so the chain never
forks, and the database refuses UPDATE and DELETE on the table (migration triggers).

`verify_chain` recomputes the chain: an edited, deleted, inserted or reordered event, a head
that no longer matches, a case, decision or allocation without its creation event, or a
missing append-only trigger is reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import NamedTuple

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.orm import Session

from app.storage.bulk import insert_rows
from app.storage.models import (
    APPEND_ONLY_TABLES,
    Allocation,
    AuditEvent,
    AuditHead,
    Base,
    Decision,
    ScreeningCase,
)
from app.storage.types import utc_now

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event."""

ENTITY_TABLES: dict[str, type[ScreeningCase] | type[Decision] | type[Allocation]] = {
    "case": ScreeningCase,
    "decision": Decision,
    "allocation": Allocation,
}
"""Entities whose every row must have a "create" event."""

SQLITE_GUARDS = (
    "audit_event_extends_chain",
    "audit_event_moves_head",
    *(f"{table}_append_only_{op}" for table in APPEND_ONLY_TABLES for op in ("update", "delete")),
)
POSTGRES_GUARDS = (
    "audit_event_extends_chain",
    *(
        f"{table}_append_only{suffix}"
        for table in APPEND_ONLY_TABLES
        for suffix in ("", "_truncate")
    ),
)
"""The triggers that keep the audit trail append-only and its head in step (see migrations)."""

# Built once: the two statements of every append.
_LOCK_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
_INSERT_EVENT = insert(AuditEvent)
_EVENT_TABLE = Base.metadata.tables[AuditEvent.__tablename__]


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=_json_default,
)
"""Built once: `json.dumps` with these options builds an encoder on every call."""
_quote = json.encoder.encode_basestring  # what _ENCODER does to a string (no ASCII escaping)


def canonical_json(value: object) -> str:
    """Compact JSON with sorted keys and no ASCII escaping: one text for one value."""
    return _ENCODER.encode(value)


def _optional(text: str | None) -> str:
    return "null" if text is None else _quote(text)


def _content_text(
    *,
    seq: int,
    occurred_at: str,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    case_id: int | None,
    field: str | None,
    old_value: str | None,
    new_value: str | None,
    reason: str | None,
    prev_hash: str,
) -> str:
    """The canonical JSON of an event's content (what `event_hash` hashes), composed from the
    fields in sorted key order: old and new are JSON text already, so each event's values
    are encoded once and the envelope needs only string quoting."""
    return (
        f'{{"action":{_quote(action)},"actor":{_quote(actor)},'
        f'"case_id":{"null" if case_id is None else int(case_id)},'
        f'"entity":{_quote(entity)},"entity_id":{_quote(entity_id)},'
        f'"field":{_optional(field)},"new_value":{_optional(new_value)},'
        f'"occurred_at":{_quote(occurred_at)},"old_value":{_optional(old_value)},'
        f'"prev_hash":{_quote(prev_hash)},"reason":{_optional(reason)},"seq":{int(seq)}}}'
    )


def event_hash(content: Mapping[str, object]) -> str:
    """sha256 (hex) of the canonical JSON of an event's content, ``prev_hash`` included."""
    return hashlib.sha256(canonical_json(dict(content)).encode("utf-8")).hexdigest()


class EncodedEvent(NamedTuple):
    """One event for `append_encoded_events`: `EventDraft` with old and new as canonical JSON
    text (`canonical_json`) and the entity id as text."""

    actor: str
    action: str
    entity: str
    entity_id: str
    case_id: int | None
    field: str | None
    old_value: str | None
    new_value: str | None
    reason: str | None


_EVENT_COLUMNS = (*EncodedEvent._fields, "seq", "prev_hash", "hash")
"""The columns of a row that `append_encoded_events` inserts (and ``occurred_at``, shared)."""


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | str,
    case_id: int | None = None,
    field: str | None = None,
    old: object = None,
    new: object = None,
    reason: str | None = None,
) -> int:
    """Append one event to the chain in the session's transaction; returns its ``seq``.

    Locks the chain head (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite write transactions
    are exclusive already), so concurrent appenders queue instead of forking the chain, then
    inserts the event; a database trigger refuses it unless it extends the head, and moves the
    head. Two Core statements on the session's connection, no ORM flush: the hot path of
    every change.

    Args:
        session: A write session (`Database.transaction`); rows that the event refers to
            must be flushed already.
        actor: Who made the change (reviewer name, or the command for automatic steps).
        action: What was done: "create", "update"...
        entity: "site", "case", "prediction", "saliency_artefacts", "criteria", "criterion",
            "decision", "allocation".
        entity_id: The changed row's id (the case id for a set of rows of one case).
        case_id: The case the change belongs to.
        field: The changed field, for a single-field update.
        old: The previous value (JSON-able); None when there was none.
        new: The new value (JSON-able); None when removed.
        reason: Why (the reviewer's rationale), if given.
    """
    connection = session.connection()
    head_seq, head_hash = connection.execute(_LOCK_HEAD).one()
    now = utc_now()
    event = _encoded(EventDraft(actor, action, entity, entity_id, case_id, field, old, new, reason))
    row = _event_row(head_seq + 1, now, now.isoformat(), head_hash, event)
    connection.execute(_INSERT_EVENT, row)  # a trigger checks the link and moves the head
    return head_seq + 1


def _event_row(
    seq: int, occurred_at: datetime, occurred_iso: str, prev_hash: str, event: EncodedEvent
) -> dict[str, object]:
    """The ``audit_event`` row of one event, with its ``hash`` over its content."""
    return {
        **event._asdict(),
        "seq": seq,
        "occurred_at": occurred_at,
        "prev_hash": prev_hash,
        "hash": _event_hash(seq, occurred_iso, prev_hash, event),
    }


def _event_hash(seq: int, occurred_iso: str, prev_hash: str, event: EncodedEvent) -> str:
    """sha256 (hex) of the event's content text (`_content_text`), ``prev_hash`` included."""
    return hashlib.sha256(
        _content_text(
            seq=seq,
            occurred_at=occurred_iso,
            actor=event.actor,
            action=event.action,
            entity=event.entity,
            entity_id=event.entity_id,
            case_id=event.case_id,
            field=event.field,
            old_value=event.old_value,
            new_value=event.new_value,
            reason=event.reason,
            prev_hash=prev_hash,
        ).encode("utf-8")
    ).hexdigest()


@dataclass(frozen=True)
class EventDraft:
    """One event for `append_events`: the arguments of `record_event`, old and new as JSON-able
    values."""

    actor: str
    action: str
    entity: str
    entity_id: int | str
    case_id: int | None = None
    field: str | None = None
    old: object = None
    new: object = None
    reason: str | None = None


def lock_chain_head(session: Session) -> tuple[int, str]:
    """Lock the chain head for the rest of the transaction; (last seq, last hash).

    Every writer that appends an event takes this lock first, so a bulk writer that takes it
    before reading what exists sees no concurrent change until it commits.
    """
    head_seq, head_hash = session.connection().execute(_LOCK_HEAD).one()
    return int(head_seq), str(head_hash)


def append_events(session: Session, drafts: Sequence[EventDraft]) -> int:
    """Append many events in order, hash-chained in Python, in one bulk insert.

    The same chain `record_event` builds one event at a time (all events share one
    ``occurred_at``); the database trigger checks each link and moves the head, as for a
    single event. Returns the ``seq`` of the last event (the head's when ``drafts`` is empty).

    Args:
        session: A write session; rows the events refer to must be inserted already.
        drafts: The events, oldest first.
    """
    return append_encoded_events(session, [_encoded(d) for d in drafts])


def _encoded(draft: EventDraft) -> EncodedEvent:
    """The draft with old and new as canonical JSON text and the entity id as text."""
    return EncodedEvent(
        draft.actor,
        draft.action,
        draft.entity,
        str(draft.entity_id),
        draft.case_id,
        draft.field,
        None if draft.old is None else canonical_json(draft.old),
        None if draft.new is None else canonical_json(draft.new),
        draft.reason,
    )


def append_encoded_events(session: Session, events: Sequence[EncodedEvent]) -> int:
    """`append_events` for events whose values are encoded already (bulk writers encode
    them faster, knowing their shape); returns the ``seq`` of the last event."""
    head_seq, prev_hash = lock_chain_head(session)
    now = utc_now()
    iso = now.isoformat()
    rows = []
    for seq, event in enumerate(events, start=head_seq + 1):
        digest = _event_hash(seq, iso, prev_hash, event)
        rows.append((*event, seq, prev_hash, digest))
        prev_hash = digest
    insert_rows(
        session.connection(), _EVENT_TABLE, _EVENT_COLUMNS, rows, {"occurred_at": now}
    )  # the trigger checks each row's link and moves the head
    return head_seq + len(rows)


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found.

    Attributes:
        events_checked: Events read and re-hashed.
        head_hash: The hash of the last stored event (GENESIS_HASH when empty): write it down
            (the export and the report print it) to anchor the chain outside the database.
        first_bad_seq: The first event found edited, missing or out of place, if any.
        problems: Plain sentences, the chain's first break first; empty when intact.
    """

    events_checked: int
    head_hash: str
    first_bad_seq: int | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify_chain(session: Session) -> ChainReport:
    """Re-hash every event in order and check the links, the head, the coverage and the guards.

    Reads events in sequence order in batches of 2,000 (about 10,000 events per second on
    the 2-core development machine).
    """
    problems: list[str] = []
    first_bad: int | None = None
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    rows = session.execute(
        select(
            AuditEvent.seq,
            AuditEvent.occurred_at,
            AuditEvent.actor,
            AuditEvent.action,
            AuditEvent.entity,
            AuditEvent.entity_id,
            AuditEvent.case_id,
            AuditEvent.field,
            AuditEvent.old_value,
            AuditEvent.new_value,
            AuditEvent.reason,
            AuditEvent.prev_hash,
            AuditEvent.hash,
        )
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=2000)
    )
    for row in rows:
        checked += 1
        problem = _check_event(row._asdict(), expected_seq, prev_hash)
        if problem is not None:
            first_bad = min(row.seq, expected_seq)
            problems.append(problem)
            break
        prev_hash, expected_seq = row.hash, row.seq + 1
    rows.close()
    last_seq = expected_seq - 1
    if first_bad is None:
        head = session.get(AuditHead, 1)
        if head is None or head.seq != last_seq or head.hash != prev_hash:
            first_bad = last_seq + 1
            problems.append(
                f"The chain ends at event #{last_seq} but its head names event "
                f"#{head.seq if head else '?'}: the newest events were deleted or the head "
                "was edited."
            )
    problems.extend(_missing_creation_events(session))
    problems.extend(
        f"The database no longer forbids changes to the audit trail: trigger '{name}' is "
        "missing or disabled."
        for name in missing_guards(session.connection())
    )
    return ChainReport(checked, prev_hash, first_bad, tuple(problems))


def _check_event(row: dict[str, object], expected_seq: int, prev_hash: str) -> str | None:
    seq = row["seq"]
    if seq != expected_seq:
        return (
            f"Event #{expected_seq} is missing (the next stored event is #{seq}): events were "
            "deleted or renumbered."
        )
    if row["prev_hash"] != prev_hash:
        return (
            f"Event #{seq} does not follow event #{expected_seq - 1}: an earlier event was "
            "edited, removed or replaced."
        )
    stored = row.pop("hash")
    occurred_at = row["occurred_at"]
    if isinstance(occurred_at, datetime):
        row["occurred_at"] = occurred_at.isoformat()
    if event_hash(row) != stored:
        return f"Event #{seq} was altered: its content does not match its hash."
    return None


def _missing_creation_events(session: Session) -> list[str]:
    problems = []
    for entity, model in ENTITY_TABLES.items():
        ids = set(session.scalars(select(model.id)))
        logged = set(
            session.scalars(
                select(AuditEvent.entity_id).where(
                    AuditEvent.entity == entity, AuditEvent.action == "create"
                )
            )
        )
        missing = sorted(i for i in ids if str(i) not in logged)
        if missing:
            problems.append(
                f"{entity.capitalize()} {missing[0]} has no creation event in the audit trail "
                f"({len(missing)} {entity} row(s) without one): events were deleted."
            )
    return problems


def missing_guards(connection: Connection) -> list[str]:
    """Names of the append-only triggers that are absent or disabled in this database."""
    if connection.dialect.name == "sqlite":
        present = set(
            connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        )
        expected: tuple[str, ...] = SQLITE_GUARDS
    else:
        present = set(
            connection.scalars(
                text(
                    "SELECT t.tgname FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE NOT t.tgisinternal AND t.tgenabled = 'A' "
                    "AND n.nspname = current_schema()"
                )
            )
        )
        expected = POSTGRES_GUARDS
    return [name for name in expected if name not in present]


def case_history(session: Session, case_id: int) -> list[AuditEvent]:
    """Every event of one case, oldest first."""
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)
        )
    )
