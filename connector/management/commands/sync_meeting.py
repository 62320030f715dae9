"""Sync one meeting occurrence's participants to Brevo, in the foreground."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from connector.models import ZoomMeeting
from connector.sync.foreground import exit_code, pick_connection, run_in_foreground


class Command(BaseCommand):
    help = (
        "Sync a meeting's participants to Brevo now. ID_OR_UUID is a meeting id "
        "(its latest occurrence) or an occurrence uuid."
    )
    kind = ZoomMeeting.Kind.MEETING

    def add_arguments(self, parser) -> None:
        parser.add_argument("zoom_ref", metavar="ID_OR_UUID")
        parser.add_argument("--connection", metavar="SLUG", help="Zoom connection.")

    def handle(self, *args, **options) -> None:
        connection = pick_connection(options["connection"])
        run = run_in_foreground(
            connection, self.kind, options["zoom_ref"].strip(), self.stdout, self.stderr
        )
        code = exit_code(run)
        if code:
            raise CommandError(f"Sync run #{run.pk} {run.status}.", returncode=code)
