"""Alembic migrations of the screening record (applied by `app.storage.database`)."""
