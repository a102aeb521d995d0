"""Age in completed years on a given date."""

from __future__ import annotations

from datetime import date

from app.rules.errors import RuleInputError


def age_on(date_of_birth: date, on: date) -> int:
    """Completed years of age on ``on`` (the screening date).

    A year is completed on the birthday itself. Someone born on 29 February completes a
    year on 1 March in common years (the birthday has not been reached on 28 February).

    Raises:
        RuleInputError: if the date of birth is after ``on``.
    """
    if date_of_birth > on:
        raise RuleInputError(
            "Clinical data: the date of birth is after the screening date; check both dates."
        )
    before_birthday = (on.month, on.day) < (date_of_birth.month, date_of_birth.day)
    return on.year - date_of_birth.year - int(before_birthday)
