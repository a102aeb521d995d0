"""Contrast phase of a liver MRI series from its DICOM headers.

Two sources, in this order:

1. Keywords in the series description, lowercase and in several languages ("art", "arterial",
   "arteriell", "PV", "portal", "venös", "delayed", "spät", "HBP", "20 min", "nativ", "pre"...).
   When several phases are named, the most specific wins: hepatobiliary, arterial (so "late
   arterial" is arterial), portal venous, delayed, pre-contrast.
2. The acquisition time relative to the contrast bolus start (ContrastBolusStartTime):
   before the bolus -> pre-contrast; 10-45 s -> arterial; 45-100 s -> portal venous;
   100-420 s -> delayed/transitional; >= 600 s after a gadoxetate bolus (Primovist/Eovist)
   -> hepatobiliary; after any other known agent, >= 100 s -> delayed. Other times stay unknown.

Anything else stays `Phase.UNKNOWN`: the user sets it later (`app.imaging.dicom_import.set_phase`).
"""

from __future__ import annotations

import re
from datetime import time

from pydicom.valuerep import DT, TM

from app.imaging.series import Phase

ARTERIAL_S = (10.0, 45.0)
"""Seconds after the bolus start of the arterial phase, [start, end)."""
PORTAL_VENOUS_S = (45.0, 100.0)
"""Seconds after the bolus start of the portal venous phase, [start, end)."""
DELAYED_S = (100.0, 420.0)
"""Seconds after the bolus start of the transitional/delayed phase, [start, end)."""
HEPATOBILIARY_MIN_S = 600.0
"""Earliest hepatobiliary phase after a gadoxetate bolus, in seconds."""

_GADOXETATE = ("gadoxet", "eob", "primovist", "eovist")
_DAY_S = 86400.0

_TOKENS: tuple[tuple[Phase, frozenset[str], tuple[str, ...]], ...] = (
    # (phase, whole tokens, token prefixes), most specific phase first
    (
        Phase.HEPATOBILIARY,
        frozenset({"hbp", "hb", "hepatocyte", "hepatocytic", "leberspezifisch"}),
        ("hepatobil", "hepatospec"),
    ),
    (
        Phase.ARTERIAL,
        frozenset({"art", "ap", "lap", "eap", "hap"}),
        ("arter", "artér"),
    ),
    (
        Phase.PORTAL_VENOUS,
        frozenset({"pv", "pvp", "vp", "ven", "venous", "venös", "venoes", "venos", "venosa"}),
        ("portal", "portov", "portve", "veine", "venoso"),
    ),
    (
        Phase.DELAYED,
        frozenset({"late", "delay", "eq", "spät", "spaet", "retard"}),
        ("delayed", "transition", "equilib", "tardi", "ritardat", "spätph"),
    ),
    (
        Phase.PRE_CONTRAST,
        frozenset({"pre", "prä", "prae", "pré", "nat", "nativ", "native", "nativo", "plain"}),
        ("precontrast", "unenhanced", "noncontrast"),
    ),
)
_MINUTES = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:min|minutes?|minuten|mn|')(?![a-z])")
_SECONDS = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:s|sec|secs|seconds?|sek|sekunden)(?![a-z])")


def is_gadoxetate(contrast_agent: str) -> bool:
    """Whether a ContrastBolusAgent text names gadoxetate (Gd-EOB-DTPA, Primovist, Eovist)."""
    agent = contrast_agent.lower()
    return any(name in agent for name in _GADOXETATE)


def phase_from_description(description: str, *, gadoxetate: bool | None = None) -> Phase | None:
    """Phase named by a series description, or None when it names none.

    Args:
        description: SeriesDescription (any case, any language).
        gadoxetate: Whether the agent is gadoxetate; None when unknown. Only used for
            "N min" descriptions: >= 10 min is hepatobiliary unless the agent is known not
            to be gadoxetate (then delayed).
    """
    text = description.lower()
    tokens = re.findall(r"[^\W_]+", text)
    for phase, words, prefixes in _TOKENS:
        if any(t in words or t.startswith(prefixes) for t in tokens):
            return phase
    minutes = _MINUTES.search(text)
    if minutes is not None:
        value = float(minutes.group(1).replace(",", "."))
        if value >= 10.0:
            return Phase.DELAYED if gadoxetate is False else Phase.HEPATOBILIARY
        if value >= 2.0:
            return Phase.DELAYED
    seconds = _SECONDS.search(text)
    if seconds is not None:
        return phase_from_timing(float(seconds.group(1).replace(",", ".")), gadoxetate=gadoxetate)
    return None


def phase_from_timing(seconds_after_bolus: float, *, gadoxetate: bool | None) -> Phase | None:
    """Phase from the acquisition time relative to the bolus start (see the module doc).

    Args:
        seconds_after_bolus: Acquisition time minus bolus start time, in seconds (negative
            before the bolus).
        gadoxetate: Whether the agent is gadoxetate; None when no agent is named.

    Returns:
        The phase, or None when the time falls outside every window.
    """
    t = seconds_after_bolus
    if t < 0.0:
        return Phase.PRE_CONTRAST
    for phase, (start, end) in (
        (Phase.ARTERIAL, ARTERIAL_S),
        (Phase.PORTAL_VENOUS, PORTAL_VENOUS_S),
        (Phase.DELAYED, DELAYED_S),
    ):
        if start <= t < end:
            return phase
    if gadoxetate and t >= HEPATOBILIARY_MIN_S:
        return Phase.HEPATOBILIARY
    if gadoxetate is False and t >= DELAYED_S[0]:
        return Phase.DELAYED
    return None


def infer_phase(
    description: str,
    *,
    contrast_agent: str = "",
    bolus_start_s: float | None = None,
    acquisition_s: float | None = None,
) -> tuple[Phase, str]:
    """Contrast phase of a series and the reason, from its headers.

    Args:
        description: SeriesDescription, "" when absent.
        contrast_agent: ContrastBolusAgent, "" when absent.
        bolus_start_s: ContrastBolusStartTime as seconds after midnight, or None.
        acquisition_s: Acquisition time of the series as seconds after midnight, or None.

    Returns:
        (phase, reason); (Phase.UNKNOWN, "") when the headers do not tell.
    """
    gadoxetate = is_gadoxetate(contrast_agent) if contrast_agent.strip() else None
    named = phase_from_description(description, gadoxetate=gadoxetate)
    if named is not None:
        return named, f"series description {description.strip()!r}"
    if bolus_start_s is not None and acquisition_s is not None:
        delta = acquisition_s - bolus_start_s
        if delta < -_DAY_S / 2:  # acquired after midnight, bolus before
            delta += _DAY_S
        elif delta > _DAY_S / 2:
            delta -= _DAY_S
        timed = phase_from_timing(delta, gadoxetate=gadoxetate)
        if timed is not None:
            return timed, f"acquired {delta:.0f} s after the contrast bolus start"
    return Phase.UNKNOWN, ""


def seconds_of_day(value: object) -> float | None:
    """Seconds after midnight of a DICOM TM value ("HHMMSS.FFFFFF" or "HH:MM:SS").

    Returns None for empty or malformed values.
    """
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        parsed: time = TM(text.replace(":", ""))  # ACR-NEMA wrote "HH:MM:SS"
    except (ValueError, TypeError, OverflowError):
        return None
    return _seconds(parsed)


def seconds_of_day_dt(value: object) -> float | None:
    """Seconds after midnight of a DICOM DT value ("YYYYMMDDHHMMSS.FFFFFF"), None if malformed."""
    text = "" if value is None else str(value).strip()
    if len(text) < 10:  # a date without a time
        return None
    try:
        parsed = DT(text)
    except (ValueError, TypeError, OverflowError):
        return None
    return _seconds(parsed.timetz())


def _seconds(t: time) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond / 1e6
