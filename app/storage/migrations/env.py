"""Alembic environment: runs on the connection that `app.storage.database` passes in.

Migrations are applied programmatically on start (`open_database`), never from an ini file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app.storage.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run the migrations through app.storage.database.open_database()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
