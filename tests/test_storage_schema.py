"""Opening the database: migrations match the models, connection settings, clear errors."""

from __future__ import annotations

import time
from pathlib import Path

import platformdirs
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from app.storage import (
    DB_URL_ENV,
    Database,
    DatabaseError,
    database_reason,
    default_database_url,
    open_database,
)
from app.storage.database import SERVER_CONNECT_TIMEOUT_S, alembic_config
from app.storage.models import AuditHead, Base, InputFileRecord, Site
from tests.storage_fixtures import POSTGRES_ONLY


def test_migrated_schema_matches_the_models(storage_db: Database) -> None:
    with storage_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_the_newest_revision_and_reopening_changes_nothing(
    storage_url: str,
) -> None:
    first = open_database(storage_url)
    with first.engine.connect() as conn:
        head = ScriptDirectory.from_config(alembic_config(conn)).get_current_head()
        assert MigrationContext.configure(conn).get_current_revision() == head
    with first.transaction() as session:
        session.add(Site(code="site-1", secret_fingerprint="0" * 16))
    first.dispose()
    again = open_database(storage_url)
    with again.session() as session:
        assert session.scalar(select(func.count()).select_from(Site)) == 1
        assert session.get(AuditHead, 1) is not None
    again.dispose()


def test_migration_downgrades_to_nothing_and_back(storage_db: Database) -> None:
    tables = set(Base.metadata.tables)
    with storage_db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
        assert tables.isdisjoint(inspect(conn).get_table_names())
        command.upgrade(alembic_config(conn), "head")
        assert tables <= set(inspect(conn).get_table_names())


def test_sqlite_runs_with_wal_normal_sync_and_foreign_keys(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'record.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    db.dispose()


def test_foreign_keys_are_enforced(storage_db: Database) -> None:
    with pytest.raises(IntegrityError), storage_db.transaction() as session:
        session.add(
            InputFileRecord(case_id=999, path="a.dcm", kind="mri", sha256="0" * 64, size_bytes=1)
        )
        session.flush()


def test_a_failed_transaction_leaves_nothing(storage_db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), storage_db.transaction() as session:
        session.add(Site(code="site-9", secret_fingerprint="0" * 16))
        session.flush()
        raise RuntimeError("boom")
    with storage_db.session() as session:
        assert session.scalar(select(func.count()).select_from(Site)) == 0


def test_read_sessions_refuse_to_write(storage_db: Database) -> None:
    with storage_db.session() as session:
        session.add(Site(code="site-2", secret_fingerprint="0" * 16))
        with pytest.raises(RuntimeError, match="read-only"):
            session.flush()


def test_default_database_is_sqlite_in_the_user_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(DB_URL_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    expected = Path(platformdirs.user_data_dir("neoadj")) / "neoadj.db"
    assert expected.is_relative_to(tmp_path)
    assert default_database_url() == f"sqlite:///{expected}"
    db = open_database()
    db.dispose()
    assert expected.is_file()


def test_environment_variable_names_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DB_URL_ENV, "postgresql+psycopg://board@db.example/neoadj")
    assert default_database_url() == "postgresql+psycopg://board@db.example/neoadj"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://user@host/db", "only SQLite and PostgreSQL"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(DatabaseError, match=message):
        open_database(url)


def test_unreachable_server_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(DatabaseError) as info:
        open_database("postgresql+psycopg://board:s3cret@127.0.0.1:1/neoadj")
    assert "Cannot open database" in info.value.user_message
    assert "127.0.0.1:1" in info.value.user_message
    assert "s3cret" not in info.value.user_message


def test_a_database_error_gives_the_drivers_first_line_as_its_reason() -> None:
    driver = RuntimeError("database is locked\nDETAIL: a second line")
    wrapped = OperationalError("INSERT INTO screening_case ...", {}, driver)
    assert database_reason(wrapped) == "database is locked"
    assert database_reason(OSError("  disk full \n")) == "disk full"


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are not the tables you are looking for" * 100)
    with pytest.raises(DatabaseError, match=r"notes\.db"):
        open_database(f"sqlite:///{junk}")


def test_reading_commands_do_not_create_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.db"
    with pytest.raises(DatabaseError, match="does not exist"):
        open_database(f"sqlite:///{missing}", create=False)
    assert not missing.exists()


@pytest.mark.parametrize("storage_url", [POSTGRES_ONLY], indirect=True)
def test_postgresql_runs_at_read_committed(storage_db: Database) -> None:
    with storage_db.engine.connect() as conn:
        assert conn.execute(text("SHOW transaction_isolation")).scalar() == "read committed"


def test_a_busy_sqlite_database_is_a_clear_error_and_saves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import app.storage.database as database

    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "busy.db"
    db = open_database(f"sqlite:///{path}")
    other_workstation = sqlite3.connect(path, isolation_level=None)
    other_workstation.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(DatabaseError, match=r"could not save the change.*locked"),
            db.transaction() as session,
        ):
            session.add(Site(code="site-3", secret_fingerprint="0" * 16))
    finally:
        other_workstation.execute("ROLLBACK")
        other_workstation.close()
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Site)) == 0
    db.dispose()


@pytest.mark.parametrize("storage_url", [POSTGRES_ONLY], indirect=True)
def test_a_dropped_idle_server_connection_is_replaced_before_use(
    storage_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.storage.database as database

    with storage_db.transaction() as session:
        backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = open_database(storage_db.engine.url.render_as_string(hide_password=False))
    with admin.engine.begin() as conn:  # the server (or a firewall) drops the idle connection
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar()
    admin.dispose()
    monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.0)
    with storage_db.transaction() as session:
        session.add(Site(code="site-4", secret_fingerprint="0" * 16))
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    with storage_db.session() as session:
        assert session.get(Site, "site-4") is not None


def test_an_unreachable_server_is_a_message_not_a_hang() -> None:
    """A PostgreSQL URL whose server never answers (a blackhole address) fails within the
    connect timeout instead of freezing the window that opened it."""
    t0 = time.monotonic()
    with pytest.raises(DatabaseError, match=r"10\.255\.255\.1"):
        open_database("postgresql+psycopg://neoadj@10.255.255.1:5432/neoadj")
    assert time.monotonic() - t0 < SERVER_CONNECT_TIMEOUT_S + 5
