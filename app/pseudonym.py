"""Pseudonymised identity: patient identifiers keyed-hashed with the site's secret.

A site (hospital) keeps one secret, 32 random bytes in a file readable only by its
workstations. Patient identifiers are never stored: only ``HMAC-SHA256(key, identifier)``,
where the key is derived from the secret, so the same patient gets the same pseudonym on every
workstation of the site and nobody without the secret can link a pseudonym back to a patient.
The same secret seeds the site's randomisation sequence (`app.randomisation`); it is never
written to the database, which holds only its fingerprint (a keyed hash that reveals nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import platformdirs

from app.errors import ScreeningError

SITE_SECRET_ENV = "NEOADJ_SITE_SECRET_FILE"
"""Environment variable naming the site-secret file (overrides the default location)."""
SECRET_FILENAME = "site_secret.key"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 16
SHORT_PSEUDONYM_CHARS = 12

_PSEUDONYM_LABEL = b"neoadj pseudonym v1"
_FINGERPRINT_LABEL = b"neoadj site-secret fingerprint v1"


class SiteSecretError(ScreeningError):
    """The site-secret file is missing, unreadable or too short."""


@dataclass(frozen=True)
class SiteSecret:
    """A site's secret key (at least 16 bytes); its repr never shows the key."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) < MIN_SECRET_BYTES:
            raise SiteSecretError(
                f"The site secret must hold at least {MIN_SECRET_BYTES} bytes, got {len(self.key)}."
            )

    @property
    def fingerprint(self) -> str:
        """16 hex characters identifying the secret without revealing it."""
        return hmac.new(self.key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: Path) -> SiteSecret:
        """Read a secret written by `create_site_secret` (hex text, one line).

        Raises:
            SiteSecretError: if the file is missing, not hex, or shorter than 16 bytes.
        """
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError as exc:
            raise SiteSecretError(
                f"Site secret file '{path}' does not exist; copy your site's secret there "
                f"or set {SITE_SECRET_ENV}."
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SiteSecretError(f"Site secret file '{path}' cannot be read: {exc}.") from exc
        try:
            key = bytes.fromhex(text)
        except ValueError as exc:
            raise SiteSecretError(f"Site secret file '{path}' does not hold hex text.") from exc
        if len(key) < MIN_SECRET_BYTES:
            raise SiteSecretError(
                f"Site secret file '{path}' holds {len(key)} bytes; at least "
                f"{MIN_SECRET_BYTES} are needed."
            )
        return cls(key)


def default_secret_path() -> Path:
    """``$NEOADJ_SITE_SECRET_FILE``, else ``site_secret.key`` in the user config directory."""
    env = os.environ.get(SITE_SECRET_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("neoadj")) / SECRET_FILENAME


def create_site_secret(path: Path) -> SiteSecret:
    """Write a new random 32-byte secret to ``path`` (mode 0600); refuse to overwrite one.

    Raises:
        SiteSecretError: if ``path`` exists already or cannot be written.
    """
    secret = SiteSecret(secrets.token_bytes(SECRET_BYTES))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise SiteSecretError(f"Site secret file '{path}' exists already; not replaced.") from exc
    except OSError as exc:
        raise SiteSecretError(f"Site secret file '{path}' cannot be created: {exc}.") from exc
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret.key.hex() + "\n")
    return secret


def load_site_secret(path: Path | None = None, *, create: bool = False) -> SiteSecret:
    """The site secret from ``path`` (default `default_secret_path`).

    Args:
        path: The secret file; None for the default location.
        create: Create a new secret when the file does not exist (first start of the
            site's first workstation). Other workstations of the site must get a copy.
    """
    path = path if path is not None else default_secret_path()
    if create and not path.exists():
        return create_site_secret(path)
    return SiteSecret.from_file(path)


def normalise_identifier(patient_id: str) -> str:
    """The identifier as hashed: surrounding blanks removed, inner blanks collapsed, upper case."""
    return " ".join(patient_id.split()).upper()


def pseudonymise(patient_id: str, secret: SiteSecret) -> str:
    """The patient's pseudonym: 64 hex characters of HMAC-SHA256 over the normalised identifier.

    Raises:
        ValueError: if the identifier is blank.
    """
    return _keyed_hash(_pseudonym_key(secret), patient_id)


def pseudonymiser(secret: SiteSecret) -> Callable[[str], str]:
    """`pseudonymise` with the site's pseudonym key derived once, for a batch of identifiers.

    The returned function maps a patient identifier to its pseudonym (ValueError if blank).
    """
    key = _pseudonym_key(secret)
    return partial(_keyed_hash, key)


def _pseudonym_key(secret: SiteSecret) -> bytes:
    """The 32-byte HMAC key of pseudonyms, derived from the site secret."""
    return hmac.digest(secret.key, _PSEUDONYM_LABEL, "sha256")


def _keyed_hash(key: bytes, patient_id: str) -> str:
    normalised = normalise_identifier(patient_id)
    if not normalised:
        raise ValueError("A patient identifier must not be blank.")
    return hmac.digest(key, normalised.encode("utf-8"), "sha256").hex()


def short_pseudonym(pseudonym: str) -> str:
    """The first 12 hex characters, for display."""
    return pseudonym[:SHORT_PSEUDONYM_CHARS]
