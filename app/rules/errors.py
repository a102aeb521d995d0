"""The error raised when an input to the protocol rules cannot be used as given."""

from __future__ import annotations

from app.errors import ScreeningError


class RuleInputError(ScreeningError, ValueError):
    """An input is impossible or implausible (wrong unit, negative, unknown category...).

    The message names the item and the accepted range or values, never the patient.
    """
