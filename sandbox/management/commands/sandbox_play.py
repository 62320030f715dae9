"""Play a meeting or webinar: create it in the sandbox's Zoom with realistic
people and send its signed webhooks to the portal (or --target)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.playback import Options, play


class Command(BaseCommand):
    help = "Create a meeting or webinar in the sandbox and send its webhooks."

    def add_arguments(self, parser) -> None:
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument(
            "--webinar", dest="kind", action="store_const", const="webinar"
        )
        kind.add_argument(
            "--meeting", dest="kind", action="store_const", const="meeting"
        )
        parser.add_argument("--attendees", type=int, default=200)
        parser.add_argument("--guest-rate", type=float, default=0.05)
        parser.add_argument("--no-show-rate", type=float, default=0.25)
        parser.add_argument("--rejoin-rate", type=float, default=0.15)
        parser.add_argument("--duration", type=int, default=60, help="Minutes.")
        parser.add_argument(
            "--uuid-style",
            default="mixed",
            choices=["mixed", "slash", "double", "plain"],
        )
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--no-recording", action="store_true")
        parser.add_argument(
            "--no-webhooks", action="store_true", help="Only create the data."
        )
        parser.add_argument("--slug", default="sandbox", help="Portal connection slug.")
        parser.add_argument("--target", default="", help="Post webhooks to this URL.")
        parser.add_argument("--app", default="", help="Sign as this sandbox app.")
        parser.add_argument(
            "--retry-scale",
            type=float,
            default=0.01,
            help="Multiply Zoom's retry delays (5, 20, 60 min) by this.",
        )
        parser.add_argument("--timeout", type=float, default=None)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument(
            "--validate",
            action="store_true",
            help="Validate the endpoint first (endpoint.url_validation), as Zoom does.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON line.")

    def handle(self, *args, **o) -> None:
        if not settings.SANDBOX:
            raise CommandError("SANDBOX is off: the sandbox is not served.")
        if o["attendees"] < 1:
            raise CommandError("--attendees must be at least 1.")
        for name in ("guest_rate", "no_show_rate", "rejoin_rate"):
            if not 0 <= o[name] <= 1:
                raise CommandError(
                    f"--{name.replace('_', '-')} must be between 0 and 1."
                )
        options = Options(
            kind=o["kind"] or "webinar",
            attendees=o["attendees"],
            guest_rate=o["guest_rate"],
            no_show_rate=o["no_show_rate"],
            rejoin_rate=o["rejoin_rate"],
            duration_minutes=o["duration"],
            uuid_style=o["uuid_style"],
            seed=o["seed"],
            recording=not o["no_recording"],
            webhooks=not o["no_webhooks"],
            target=o["target"],
            slug=o["slug"],
            app_client_id=o["app"],
            retry_scale=o["retry_scale"],
            timeout=o["timeout"],
            concurrency=o["concurrency"],
            validate=o["validate"],
        )

        def built(result) -> None:
            if not o["json"]:
                self.stdout.write(
                    f"{result.kind} id: {result.meeting_id}\n"
                    f"uuid: {result.uuid}\n"
                    f"registrants: {result.registrants}  "
                    f"attendees: {result.attendees}  "
                    f"join sessions: {result.sessions}  guests: {result.guests}  "
                    f"no-shows: {result.no_shows}"
                )

        try:
            result = play(options, on_built=built)
        except Exception as err:
            raise CommandError(f"Playback failed: {err}") from err
        if o["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
            return
        if result.validated is False:
            raise CommandError(
                f"{result.target} failed endpoint validation: nothing was sent."
            )
        if options.webhooks:
            self.stdout.write(
                f"webhooks: {result.webhooks} sent to {result.target}, "
                f"{result.delivered} delivered, {result.failed} gave up, "
                f"{result.attempts} attempts"
            )
        self.stdout.write(self.style.SUCCESS(f"done in {result.seconds}s"))
