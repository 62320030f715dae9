"""Re-encrypt every stored secret with the newest key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from connector import crypto
from connector.fields import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt stored secrets with the first FIELD_ENCRYPTION_KEYS key. Put the "
        "new key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options) -> None:
        total = 0
        quote = connection.ops.quote_name
        for model in apps.get_models():
            fields = [
                f
                for f in model._meta.concrete_fields
                if isinstance(f, EncryptedTextField)
            ]
            if not fields:
                continue
            table = quote(model._meta.db_table)
            pk = quote(model._meta.pk.column)
            with transaction.atomic(), connection.cursor() as cursor:
                for field in fields:
                    col = quote(field.column)
                    cursor.execute(
                        f"SELECT {pk}, {col} FROM {table} WHERE {col} <> ''"  # noqa: S608  (names come from model metadata)
                    )
                    rows = cursor.fetchall()
                    for row_id, stored in rows:
                        cursor.execute(
                            f"UPDATE {table} SET {col} = %s WHERE {pk} = %s",  # noqa: S608
                            [crypto.rotate(stored), row_id],
                        )
                    total += len(rows)
        self.stdout.write(f"Re-encrypted {total} secret value(s) with the newest key.")
