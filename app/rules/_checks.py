"""Validation helpers shared by the rule modules; each raises `RuleInputError`."""

from __future__ import annotations

import math
from collections.abc import Collection

from app.rules.errors import RuleInputError


def check_range(name: str, value: float, low: float, high: float, unit: str = "") -> float:
    """Return ``value`` if it is finite and within ``[low, high]``; raise otherwise."""
    suffix = f" {unit}" if unit else ""
    if not math.isfinite(value) or not low <= value <= high:
        raise RuleInputError(
            f"Clinical data: {name} {value:g}{suffix} is outside the plausible range "
            f"{low:g}-{high:g}{suffix}; check the value and its unit."
        )
    return value


def check_choice(name: str, value: str, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``; raise otherwise."""
    if value not in choices:
        raise RuleInputError(
            f"Clinical data: {name} '{value}' is not one of: {', '.join(sorted(choices))}."
        )
    return value


def check_int_range(name: str, value: int, low: int, high: int) -> int:
    """Return ``value`` if it is an integer within ``[low, high]``; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RuleInputError(
            f"Clinical data: {name} must be a whole number from {low} to {high}, got {value!r}."
        )
    return value
