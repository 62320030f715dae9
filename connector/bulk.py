"""Write many plain rows with few round trips, on SQLite and PostgreSQL alike.

The sync engine stores a row per person (12,000 and more for a big webinar)
and the sandbox writes as many contacts per import. ``bulk_create`` and
``bulk_update`` prepare every field of every row in Python; these helpers take
rows of values already prepared for the database and pick the fastest path
each database offers:

* SQLite runs ``executemany`` in C over one prepared statement.
* PostgreSQL with psycopg 3 pays a round trip and a statement per row of an
  ``executemany`` (12,000 attendance rows: about 1.9 s here). ``COPY`` streams
  the rows into a temporary table and one ``INSERT ... SELECT`` (or
  ``UPDATE ... FROM``) applies them: 0.5 s for the same rows.

Only names from model metadata go into statement text; every value travels as
a parameter or through ``COPY``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import connection as default_connection
from django.db import transaction


def _copies(connection, cursor) -> bool:
    """Whether rows can be streamed with psycopg 3's ``COPY`` support."""
    return connection.vendor == "postgresql" and hasattr(
        getattr(cursor, "cursor", None), "copy"
    )


def _staged(connection, cursor, table: str, columns: Sequence[str], rows) -> str:
    """Copy ``rows`` into a new temporary table shaped like ``table``'s
    ``columns``; return its quoted name. The caller drops it."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    staging = quote(f"bulk_{uuid.uuid4().hex[:16]}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "  # noqa: S608
        f"SELECT {names} FROM {quote(table)} WITH NO DATA"
    )
    with cursor.cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return staging


def insert_rows(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
    connection=None,
) -> None:
    """``INSERT`` ``rows`` into ``table``'s ``columns`` (database column names).

    With ``conflict`` (the columns of a unique constraint), a row that meets
    an existing one sets that row's ``update`` columns instead; the other
    columns keep what they had.
    """
    if not rows:
        return
    connection = connection or default_connection
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    clause = ""
    if conflict:
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
        action = f"DO UPDATE SET {sets}" if update else "DO NOTHING"
        clause = f" ON CONFLICT ({', '.join(quote(c) for c in conflict)}) {action}"
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if not _copies(connection, cursor):
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {quote(table)} ({names}) VALUES ({marks}){clause}",  # noqa: S608
                rows,
            )
            return
        if not conflict:
            with cursor.cursor.copy(
                f"COPY {quote(table)} ({names}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        staging = _staged(connection, cursor, table, columns, rows)
        cursor.execute(
            f"INSERT INTO {quote(table)} ({names}) "  # noqa: S608
            f"SELECT {names} FROM {staging}{clause}"
        )
        cursor.execute(f"DROP TABLE {staging}")


def update_rows(
    table: str,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    connection=None,
) -> None:
    """Set ``columns`` of the rows of ``table`` whose ``key`` column matches.

    Each row is ``(*values_of_columns, key_value)``.
    """
    if not rows:
        return
    connection = connection or default_connection
    quote = connection.ops.quote_name
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if not _copies(connection, cursor):
            sets = ", ".join(f"{quote(c)} = %s" for c in columns)
            cursor.executemany(
                f"UPDATE {quote(table)} SET {sets} WHERE {quote(key)} = %s",  # noqa: S608
                rows,
            )
            return
        staging = _staged(connection, cursor, table, [*columns, key], rows)
        sets = ", ".join(f"{quote(c)} = new.{quote(c)}" for c in columns)
        cursor.execute(
            f"UPDATE {quote(table)} SET {sets} FROM {staging} AS new "  # noqa: S608
            f"WHERE {quote(table)}.{quote(key)} = new.{quote(key)}"
        )
        cursor.execute(f"DROP TABLE {staging}")
