"""Database helpers for generating and applying large amounts of sandbox data."""

from __future__ import annotations

from django.db import connection, transaction


def fast_insert(model, fields: list[str], rows: list[tuple]) -> None:
    """Insert many rows with one executemany: ``bulk_create`` spends most of a
    10,000-attendee playback preparing values one by one."""
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 (names from _meta)
        qn(meta.db_table),
        ", ".join(qn(f.column) for f in columns),
        ", ".join(["%s"] * len(columns)),
    )
    dates = [
        i for i, f in enumerate(columns) if f.get_internal_type() == "DateTimeField"
    ]
    adapted: dict = {}  # rows often share their timestamps: adapt each once

    def adapt(value):
        found = adapted.get(value)
        if found is None and value not in adapted:
            found = adapted[value] = connection.ops.adapt_datetimefield_value(value)
        return found

    prepared = []
    for row in rows:
        if dates:
            row = list(row)
            for i in dates:
                row[i] = adapt(row[i])
        prepared.append(row)
    with connection.cursor() as cursor:
        for start in range(0, len(prepared), 2000):
            # A transaction per chunk: other writers get their turn between.
            with transaction.atomic():
                cursor.executemany(sql, prepared[start : start + 2000])


def fast_update(model, fields: list[str], objects: list) -> None:
    """Write ``fields`` of many loaded objects with one executemany: bulk_update
    builds a CASE expression per row and takes seconds on big imports."""
    if not objects:
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608 (names from _meta)
        qn(meta.db_table),
        ", ".join(f"{qn(f.column)} = %s" for f in columns),
        qn(meta.pk.column),
    )
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns]
        + [obj.pk]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 2000):
            with transaction.atomic():
                cursor.executemany(sql, rows[start : start + 2000])
