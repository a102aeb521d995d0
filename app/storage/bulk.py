"""Bulk inserts compiled and typed by SQLAlchemy: one DBAPI ``executemany`` of value tuples,
or on PostgreSQL (psycopg) one ``COPY ... FROM STDIN``.

Core's ``connection.execute(insert(table), rows)`` builds a parameter dictionary for every
row and runs every column's bind processor on it: about 7 µs a row of the import tables on
the 2-core development machine, as long as SQLite takes to store the row.
`insert_rows` compiles the INSERT once for the dialect (cached), runs each column's own
bind processor (the same SQLAlchemy type code, e.g. `UtcDateTime` then SQLite's DATETIME
text) once per column value, and values shared by every row only once, then hands the
DBAPI cursor the rows. What is stored is what Core would store.

On PostgreSQL an ``executemany`` is one INSERT per row on the server; Core batches rows into
multi-row INSERTs instead ("insertmanyvalues"), and ``COPY`` beats both: the rows stream to
the server in one command (triggers fire for each row as for an INSERT). A COPY error is
raised as the `sqlalchemy.exc.DBAPIError` an INSERT would raise (e.g. `IntegrityError`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


def insert_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    shared: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``rows`` into ``table`` in order, in the connection's transaction.

    Args:
        connection: The connection of the caller's write transaction.
        table: The table; its triggers fire for every row as for any INSERT.
        columns: Column names, in the order of each row's values.
        rows: One sequence of Python values per row (as Core takes them: enums, datetimes).
        shared: Values of further columns, the same in every row (bound once per row
            but type-processed once); None for none.

    Raises:
        ValueError: if a row's length differs from ``columns``', or a column with a default
            (e.g. ``registered_at``) is given neither in ``columns`` nor in ``shared``.
    """
    if not rows:
        return
    shared = dict(shared or {})
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"every row of an insert into {table.name} needs {len(columns)} values")
    dialect = connection.dialect
    names = (*columns, *shared)
    sql, positions = _compiled(table, names, dialect)  # also refuses incomplete columns
    values: dict[str, Sequence[Any]] = {}
    for name, column in zip(columns, zip(*rows, strict=True), strict=True):
        process = _bind_processor(table, name, dialect)
        values[name] = column if process is None else [process(v) for v in column]
    for name, value in shared.items():
        process = _bind_processor(table, name, dialect)
        values[name] = [value if process is None else process(value)] * len(rows)
    if dialect.driver == "psycopg":
        _copy(connection, table, names, zip(*(values[n] for n in names), strict=True))
        return
    if positions is not None:  # qmark, format and numeric paramstyles
        params: list[Any] = list(zip(*(values[n] for n in positions), strict=True))
    else:  # named and pyformat paramstyles
        params = [
            dict(zip(names, row, strict=True))
            for row in zip(*(values[n] for n in names), strict=True)
        ]
    connection.exec_driver_sql(sql, params)


def _copy(
    connection: Connection, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Stream ``rows`` (bind-processed values in ``names`` order) into ``table`` with COPY,
    on the connection's psycopg connection, in its transaction."""
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.format_column(table.c[n]) for n in names)
    sql = f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN"
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.cursor()
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=connection.dialect) from exc
    finally:
        cursor.close()


@lru_cache(maxsize=64)
def _compiled(
    table: Table, names: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[str, ...] | None]:
    """The INSERT of ``names`` into ``table`` for ``dialect``: SQL text and, for positional
    paramstyles, the column of each parameter in order (None for named paramstyles)."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
    missing = set(compiled.binds) - set(names)
    if missing:  # a column with a default that Core would have computed per row
        raise ValueError(f"give the values of {sorted(missing)} for an insert into {table.name}")
    positions = compiled.positiontup
    return compiled.string, None if positions is None else tuple(positions)


def _bind_processor(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's value conversion for ``dialect`` (what Core runs on each value)."""
    return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
