"""Shared fixtures: where the real test data lives, and a temporary work folder."""

from __future__ import annotations

from pathlib import Path

import pytest

# Batch-screening fixtures (session-scoped synthetic cases and checkpoint, shared by modules).
from tests.screen_fixtures import secret_file, synthetic_cases, tiny_checkpoint  # noqa: F401

# Database fixtures (every storage/audit/rules test on SQLite and PostgreSQL).
from tests.storage_fixtures import site_secret, storage_db, storage_url  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real test files (``../shared/data`` from the repository root)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA
