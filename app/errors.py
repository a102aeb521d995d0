"""User-facing error types shared by the Qt-free core.

Messages name the file and what is wrong, and never hold patient identifiers.
"""

from __future__ import annotations


class ScreeningError(Exception):
    """An error the user can act on; `user_message` is shown in the GUI or CLI."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class CaseImportError(ScreeningError):
    """A file or case folder cannot be imported as given."""


class CheckpointError(ScreeningError):
    """A model checkpoint is missing, corrupt or incompatible."""


class InputValidationError(ScreeningError):
    """Model input is unusable (NaN, constant, missing a required phase...)."""


class Cancelled(Exception):
    """The user cancelled a long job."""
