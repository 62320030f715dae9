"""Write a connection's configuration as YAML, with ${VAR} placeholders for
credentials and secrets (never their values)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from connector import config
from connector.models import ZoomConnection


class Command(BaseCommand):
    help = "Export a connection's configuration; secrets become ${VAR} placeholders."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--connection", default="", help="Slug (default: the only one)."
        )
        parser.add_argument("-o", "--output", type=Path, help="File to write.")

    def handle(self, *args, connection: str, output: Path | None, **options) -> None:
        qs = ZoomConnection.objects.filter(
            auth_type=ZoomConnection.AuthType.SERVER_TO_SERVER
        )
        if connection:
            qs = qs.filter(slug=connection)
        conns = list(qs[:2])
        if not conns:
            raise CommandError("no such server-to-server connection")
        if len(conns) > 1:
            raise CommandError("several connections exist: pass --connection SLUG")
        text = config.dump(conns[0])
        if output:
            output.write_text(text, encoding="utf-8")
            self.stdout.write(f"Wrote {output}")
        else:
            self.stdout.write(text, ending="")
