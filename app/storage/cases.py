"""Finding, locking and touching cases; registering sites.

Every edit of a case's record goes through `lock_case` (row lock, version check) and `touch`
(who and when; the flush bumps the case's ``version_id_col``), so two reviewers can never
silently overwrite each other: the second one gets a `ConflictError` naming the first and the
time of the change. (`record_decision`, the hot path, does the same in two Core statements.)
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.pseudonym import SiteSecret, SiteSecretError
from app.storage.audit import record_event
from app.storage.errors import CaseNotFoundError, ConflictError, RecordError
from app.storage.models import ScreeningCase, Site
from app.storage.types import utc_now

MIN_PSEUDONYM_PREFIX = 8
_HEX = re.compile(r"[0-9a-f]+")
_SITE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_LOCK_CASE = (
    select(ScreeningCase)
    .where(ScreeningCase.id == bindparam("case_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def find_case(session: Session, content_sha256: str) -> ScreeningCase | None:
    """The case recorded for these inputs (`app.case.Case.content_hash`), if any."""
    return session.scalars(
        select(ScreeningCase).where(ScreeningCase.content_sha256 == content_sha256)
    ).one_or_none()


def get_case(session: Session, case_id: int) -> ScreeningCase:
    """The case with this id.

    Raises:
        CaseNotFoundError: if there is none.
    """
    case = session.get(ScreeningCase, case_id)
    if case is None:
        raise CaseNotFoundError(f"No case {case_id} in the database.")
    return case


def resolve_case(session: Session, reference: str) -> ScreeningCase:
    """A case by id ("12") or by the start of its pseudonym (at least 8 hex characters).

    Raises:
        CaseNotFoundError: if nothing, or more than one case, matches.
    """
    ref = reference.strip().lower()
    if ref.isdigit():
        return get_case(session, int(ref))
    if len(ref) < MIN_PSEUDONYM_PREFIX or not _HEX.fullmatch(ref):
        raise CaseNotFoundError(
            f"'{reference}' is neither a case number nor the start of a pseudonym "
            f"(at least {MIN_PSEUDONYM_PREFIX} hex characters)."
        )
    matches = list(
        session.scalars(
            select(ScreeningCase).where(ScreeningCase.pseudonym.startswith(ref)).limit(2)
        )
    )
    if not matches:
        raise CaseNotFoundError(f"No case with a pseudonym starting '{ref}'.")
    if len(matches) > 1:
        raise CaseNotFoundError(f"More than one case has a pseudonym starting '{ref}'.")
    return matches[0]


def conflict_message(case_id: int, updated_by: str, updated_at: datetime) -> str:
    """ "Case X was changed by Y at T; reload it." """
    return (
        f"Case {case_id} was changed by {updated_by} at "
        f"{updated_at:%Y-%m-%d %H:%M:%S} UTC; reload it and redo your change."
    )


def lock_case(session: Session, case_id: int, *, expected_version: int | None) -> ScreeningCase:
    """Load a case for an edit, locking its row, and check it is the version the editor saw.

    Args:
        session: A write session (`Database.transaction`).
        case_id: The case.
        expected_version: ``ScreeningCase.version`` as the reviewer loaded it; None for
            automatic steps that do not depend on what a person saw.

    Raises:
        CaseNotFoundError: if there is no such case.
        ConflictError: if the case's version is not ``expected_version``.
    """
    case = session.scalars(_LOCK_CASE, {"case_id": case_id}).one_or_none()
    if case is None:
        raise CaseNotFoundError(f"No case {case_id} in the database.")
    if expected_version is not None and case.version != expected_version:
        raise ConflictError(conflict_message(case.id, case.updated_by, case.updated_at))
    return case


def touch(case: ScreeningCase, actor: str) -> None:
    """Record who changed the case and when; the flush then bumps ``case.version``."""
    case.updated_at = utc_now()
    case.updated_by = actor


def ensure_site(session: Session, code: str, secret: SiteSecret, *, actor: str) -> Site:
    """Register a site with its secret's fingerprint, or check the fingerprint matches.

    Raises:
        RecordError: for a malformed site code.
        SiteSecretError: if the site is registered with another secret (the workstation's
            secret file is not the site's: its pseudonyms and allocations would not match).
    """
    check_site_code(code)
    site = session.get(Site, code)
    if site is None:
        site = Site(code=code, secret_fingerprint=secret.fingerprint)
        session.add(site)
        session.flush()
        record_event(
            session,
            actor=actor,
            action="create",
            entity="site",
            entity_id=code,
            new={"code": code, "secret_fingerprint": secret.fingerprint},
        )
    elif site.secret_fingerprint != secret.fingerprint:
        raise site_secret_mismatch(code)
    return site


def check_site_code(code: str) -> str:
    """``code`` if it is 1-32 letters, digits, '.', '_' or '-', else `RecordError`."""
    if not _SITE_CODE.fullmatch(code):
        raise RecordError(
            f"Site code '{code}' must be 1-32 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return code


def site_secret_mismatch(code: str) -> SiteSecretError:
    """The error for a site registered here with another secret than the workstation's."""
    return SiteSecretError(
        f"This workstation's site secret does not match the one registered for site "
        f"'{code}' in this database; install the site's secret file."
    )
