"""Opening the screening database: SQLite by default, PostgreSQL by URL, migrated on start.

The URL comes from ``--db``, else ``$NEOADJ_DB_URL``, else SQLite at
``platformdirs.user_data_dir("neoadj")/neoadj.db``. SQLite connections run with WAL,
``synchronous=NORMAL``, foreign keys on and a busy timeout; its write transactions start with
``BEGIN IMMEDIATE`` so that writers queue rather than fail on a stale snapshot. PostgreSQL runs
at READ COMMITTED; rows that must not be taken twice are locked (``SELECT ... FOR UPDATE``);
a pooled connection idle for 30 s is pinged before use.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from app.storage.errors import ConflictError, DatabaseError, database_reason

log = logging.getLogger(__name__)

DB_URL_ENV = "NEOADJ_DB_URL"
"""Environment variable holding the database URL."""
DB_FILENAME = "neoadj.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0
SERVER_CONNECT_TIMEOUT_S = 5  # an unreachable server is an error after 5 s, not a hang
PING_AFTER_IDLE_S = 30.0
"""A server connection idle this long is pinged before use."""
_BEGIN_OPTION = "neoadj_sqlite_begin"
_MIGRATION_LOCK_KEY = 0x6E656F61646A  # "neoadj": serialises migrations of concurrent starts
_READ_ONLY = "neoadj_read_only"


def default_database_url() -> str:
    """``$NEOADJ_DB_URL``, else SQLite in the user data directory."""
    env = os.environ.get(DB_URL_ENV)
    if env:
        return env
    return f"sqlite:///{Path(platformdirs.user_data_dir('neoadj')) / DB_FILENAME}"


class Database:
    """An engine with the two kinds of session the workstation uses.

    ``session()`` is for reading (a flush raises); ``transaction()`` is the one way to write:
    everything done in its block commits together or not at all.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self._read = sessionmaker(engine, expire_on_commit=False, info={_READ_ONLY: True})
        writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self._write = sessionmaker(writer, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def session(self) -> Session:
        """A read-only session (objects stay usable after it closes)."""
        return self._read()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session whose block commits as one transaction, or rolls back on error.

        Raises:
            ConflictError: if a row changed under an optimistic lock (another reviewer).
            DatabaseError: if the database stayed busy or the connection was lost; nothing
                of the block was saved.
        """
        with self._write() as session:
            try:
                yield session
                session.commit()
            except StaleDataError as exc:
                session.rollback()
                raise ConflictError(
                    "The case was changed by another reviewer meanwhile; reload it."
                ) from exc
            except OperationalError as exc:
                session.rollback()
                reason = database_reason(exc)
                raise DatabaseError(
                    f"Database '{self.url}' could not save the change ({reason}); nothing was "
                    "saved, try again."
                ) from exc
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database(url: str | None = None, *, migrate: bool = True, create: bool = True) -> Database:
    """Connect, bring the schema to the newest migration, and return the `Database`.

    Args:
        url: SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://user@host/db``);
            None for `default_database_url`.
        migrate: Apply pending Alembic migrations (always, except in migration tests).
        create: Create a missing SQLite file; False for commands that only read a record.

    Raises:
        DatabaseError: if the URL is invalid, the server unreachable or the migration fails;
            the message hides any password.
    """
    raw = url or default_database_url()
    try:
        parsed = make_url(raw)
    except ArgumentError as exc:
        raise DatabaseError(f"'{raw}' is not a database URL: {exc}.") from exc
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(f"Database '{shown}': only SQLite and PostgreSQL are supported.")
    if not create and parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").expanduser()
        if not path.is_file():
            raise DatabaseError(f"Database file '{path}' does not exist.")
    try:
        engine = _create_engine(parsed.render_as_string(hide_password=False))
        if migrate:
            _migrate(engine)
        else:
            with engine.connect():
                pass
    except (SQLAlchemyError, OSError) as exc:
        reason = database_reason(exc)
        raise DatabaseError(f"Cannot open database '{shown}': {reason}") from exc
    log.debug("opened database %s", shown)
    return Database(engine)


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = (
            {"connect_timeout": SERVER_CONNECT_TIMEOUT_S}
            if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query
            else {}
        )
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _ping_if_idle)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(
    dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Ping a pooled server connection that sat idle (the server or a firewall may have
    dropped it); a busy workstation saves without the extra round trip."""
    idle_s = time.monotonic() - record.info.get("checked_in_at", time.monotonic())
    if idle_s < PING_AFTER_IDLE_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:  # any failure: let the pool open a fresh connection
        raise DisconnectionError(str(exc)) from exc


def _sqlite_on_connect(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy, not the driver, emit BEGIN (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


@event.listens_for(Session, "before_flush")
def _refuse_read_only_flush(session: Session, _context: object, _instances: object) -> None:
    if session.info.get(_READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("Database.session() is read-only; write in Database.transaction().")


def alembic_config(connection: Connection) -> Config:
    """An Alembic configuration that runs the package's migrations on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _migrate(engine: Engine) -> None:
    writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    with writer.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        command.upgrade(alembic_config(connection), "head")
