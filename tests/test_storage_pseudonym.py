"""Pseudonymised identity: keyed hashes of patient identifiers, which are never stored."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from app.pseudonym import (
    SITE_SECRET_ENV,
    SiteSecret,
    SiteSecretError,
    create_site_secret,
    load_site_secret,
    pseudonymise,
    pseudonymiser,
    short_pseudonym,
)
from app.storage import Database, record_import
from app.storage.models import Base
from tests.storage_fixtures import make_case

KEY = bytes(range(100, 132))


def _expected(identifier: bytes, key: bytes = KEY) -> str:
    """The documented scheme, written out: HMAC(HMAC(secret, label), identifier)."""
    derived = hmac.new(key, b"neoadj pseudonym v1", hashlib.sha256).digest()
    return hmac.new(derived, identifier, hashlib.sha256).hexdigest()


def test_pseudonym_is_the_keyed_hash_of_the_normalised_identifier() -> None:
    secret = SiteSecret(KEY)
    assert pseudonymise("  mrn   00123 ", secret) == _expected(b"MRN 00123")
    assert pseudonymise("MRN 00123", secret) == pseudonymise("mrn 00123", secret)
    assert short_pseudonym(pseudonymise("MRN 00123", secret)) == _expected(b"MRN 00123")[:12]


def test_a_batch_pseudonymiser_gives_the_same_keyed_hashes() -> None:
    pseudonym_of = pseudonymiser(SiteSecret(KEY))
    assert pseudonym_of("  mrn   00123 ") == _expected(b"MRN 00123")
    assert pseudonym_of("Müller-7") == _expected("MÜLLER-7".encode())
    assert pseudonymiser(SiteSecret(bytes(32)))("MRN 00123") == _expected(b"MRN 00123", bytes(32))
    with pytest.raises(ValueError, match="blank"):
        pseudonym_of("   ")


def test_pseudonyms_differ_by_patient_and_by_site_secret() -> None:
    secret, other = SiteSecret(KEY), SiteSecret(bytes(32))
    assert pseudonymise("MRN-1", secret) != pseudonymise("MRN-2", secret)
    assert pseudonymise("MRN-1", secret) != pseudonymise("MRN-1", other)
    assert pseudonymise("MRN-1", other) == _expected(b"MRN-1", bytes(32))


def test_blank_identifier_is_refused() -> None:
    with pytest.raises(ValueError, match="blank"):
        pseudonymise("   ", SiteSecret(KEY))


def test_secret_is_never_shown_and_must_be_long_enough() -> None:
    secret = SiteSecret(KEY)
    assert KEY.hex() not in repr(secret)
    assert secret.fingerprint not in KEY.hex()
    assert len(secret.fingerprint) == 16
    with pytest.raises(SiteSecretError, match="at least 16 bytes"):
        SiteSecret(b"short")


def test_created_secret_file_is_private_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "config" / "site_secret.key"
    created = create_site_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(created.key) == 32
    assert SiteSecret.from_file(path) == created
    with pytest.raises(SiteSecretError, match="exists already"):
        create_site_secret(path)


def test_default_secret_file_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "board.key"
    monkeypatch.setenv(SITE_SECRET_ENV, str(path))
    with pytest.raises(SiteSecretError, match=r"board\.key"):
        load_site_secret()
    created = load_site_secret(create=True)
    assert load_site_secret() == created


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not hex at all", "does not hold hex text"),
        ("abcd", "holds 2 bytes"),
    ],
)
def test_bad_secret_files_are_named_in_the_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "secret.key"
    path.write_text(content)
    with pytest.raises(SiteSecretError, match=message) as info:
        SiteSecret.from_file(path)
    assert "secret.key" in info.value.user_message


def test_missing_secret_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SiteSecretError, match=r"does not exist.*NEOADJ_SITE_SECRET_FILE"):
        SiteSecret.from_file(tmp_path / "nowhere.key")


def test_identifiers_and_secret_never_reach_the_database(
    storage_db: Database, site_secret: SiteSecret, tmp_path: Path
) -> None:
    case = make_case(tmp_path / "case", patient_id="HOSP-7781234")
    with storage_db.transaction() as session:
        record = record_import(session, case, secret=site_secret, actor="Dr Chen")
    assert record.pseudonym == pseudonymise("HOSP-7781234", site_secret)
    stored = _all_text(storage_db)
    assert record.pseudonym in stored
    for forbidden in ("HOSP-7781234", "7781234", site_secret.key.hex()):
        assert forbidden not in stored


def _all_text(db: Database) -> str:
    """Every value of every table, as one text."""
    with db.session() as session:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        )
