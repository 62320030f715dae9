"""Load a connector configuration file (the product brief's YAML shape)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from connector import config


class Command(BaseCommand):
    help = (
        "Create or update a Server-to-Server connection, its Brevo account, field "
        "mapping and lists from a YAML file. ${VAR} values come from the "
        "environment. Running it twice changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change only."
        )

    def handle(self, *args, file: Path, dry_run: bool, **options) -> None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as err:
            raise CommandError(f"cannot read {file}: {err.strerror}") from err
        try:
            plan = config.load(text, dry_run=dry_run)
        except config.ConfigError as err:
            raise CommandError(f"{file}: {err}") from err
        if not plan.changes:
            self.stdout.write("No changes.")
            return
        heading = "Would change:" if dry_run else "Changed:"
        self.stdout.write(heading)
        for change in plan.changes:
            self.stdout.write(f"  {change}")
