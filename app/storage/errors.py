"""Errors of the screening record, each a `ScreeningError` the user can act on."""

from __future__ import annotations

from app.errors import ScreeningError


class DatabaseError(ScreeningError):
    """The database cannot be opened, migrated or reached."""


class CaseNotFoundError(ScreeningError):
    """No case with the given id or pseudonym is in the database."""


class ConflictError(ScreeningError):
    """Another reviewer changed the case since it was loaded; reload and redo the edit."""


class RecordError(ScreeningError, ValueError):
    """A value given to the screening record is missing or invalid (names the field)."""


class DecisionError(RecordError):
    """A decision is incomplete or inconsistent (e.g. an override without a rationale)."""
