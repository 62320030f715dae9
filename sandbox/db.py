"""Database helpers for generating and applying large amounts of sandbox data."""

from __future__ import annotations

from django.db import connection

from connector.bulk import insert_rows, update_rows


def fast_insert(model, fields: list[str], rows: list[tuple]) -> None:
    """Insert many plain rows (``connector.bulk``): ``bulk_create`` spends most
    of a 10,000-attendee playback preparing values one by one."""
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
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
    names = [f.column for f in columns]
    for start in range(0, len(prepared), 2000):
        # A transaction per chunk: other writers get their turn between.
        insert_rows(meta.db_table, names, prepared[start : start + 2000])


def fast_update(model, fields: list[str], objects: list) -> None:
    """Write ``fields`` of many loaded objects (``connector.bulk``):
    bulk_update builds a CASE expression per row and takes seconds on big
    imports."""
    if not objects:
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns]
        + [obj.pk]
        for obj in objects
    ]
    names = [f.column for f in columns]
    for start in range(0, len(rows), 2000):
        update_rows(meta.db_table, meta.pk.column, names, rows[start : start + 2000])
