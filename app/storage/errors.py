"""Errors of the screening record, each a `ScreeningError` the user can act on."""

from __future__ import annotations

from app.errors import ScreeningError


class DatabaseError(ScreeningError):
    """The database cannot be opened, migrated or reached."""


def database_reason(exc: BaseException) -> str:
    """The first line of what the database driver said (a SQLAlchemy error's ``orig``), else
    of ``exc`` itself: the reason a `DatabaseError` message gives."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


class CaseNotFoundError(ScreeningError):
    """No case with the given id or pseudonym is in the database."""


class ConflictError(ScreeningError):
    """Another reviewer changed the case since it was loaded; reload and redo the edit."""


class RecordError(ScreeningError, ValueError):
    """A value given to the screening record is missing or invalid (names the field)."""


class DecisionError(RecordError):
    """A decision is incomplete or inconsistent (e.g. an override without a rationale)."""
