"""Sync every past meeting and webinar of a date range, host by host."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from connector.http import ApiError
from connector.models import SyncRun, ZoomConnection
from connector.sync.backfill import discover
from connector.sync.foreground import EXIT_FAILED, pick_connection, run_in_foreground
from connector.zoom.client import ZoomClient


def parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = (
        "Find the past meetings and webinars of every host between --since and "
        "--until (default today) and sync each occurrence to Brevo."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True, metavar="DATE")
        parser.add_argument("--until", metavar="DATE")
        parser.add_argument(
            "--connection",
            metavar="SLUG",
            help="One connection (default: every enabled connection).",
        )

    def handle(self, *args, **options) -> None:
        since = parse_date(options["since"])
        until = (
            parse_date(options["until"]) if options["until"] else timezone.now().date()
        )
        if until < since:
            raise CommandError("--until is before --since.")
        if options["connection"]:
            connections = [pick_connection(options["connection"])]
        else:
            connections = list(ZoomConnection.objects.filter(enabled=True))
            if not connections:
                raise CommandError("No enabled Zoom connection: create one first.")

        statuses: list[str] = []
        for connection in connections:
            self.stdout.write(f"{connection.slug}: looking for {since} to {until}")
            try:
                found = list(discover(connection, ZoomClient(connection), since, until))
            except ApiError as err:
                self.stderr.write(f"{connection.slug}: could not list meetings: {err}")
                statuses.append(SyncRun.Status.FAILED)
                continue
            self.stdout.write(f"{connection.slug}: {len(found)} occurrences")
            for n, item in enumerate(found, 1):
                when = item.start.strftime("%Y-%m-%d %H:%M") if item.start else "?"
                label = f"[{n}/{len(found)}]"
                self.stdout.write(f"{label} {item.kind} {item.topic!r} {when}")
                run = run_in_foreground(
                    connection, item.kind, item.uuid, self.stdout, self.stderr, label
                )
                statuses.append(run.status)

        counts = {s: statuses.count(s) for s in sorted(set(statuses))}
        self.stdout.write(
            "Backfill done: "
            + (", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing to sync")
        )
        if SyncRun.Status.FAILED in statuses:
            raise CommandError("Some runs failed.", returncode=EXIT_FAILED)
