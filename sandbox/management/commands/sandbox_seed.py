"""Create the sandbox's Zoom and Brevo accounts and the portal records that
point at them: ZoomConnection "sandbox" (Server-to-Server) and a BrevoAccount.
Safe to run again: nothing is duplicated and secrets stay as they are."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connector.models import Audience, ZoomConnection
from connector.models import BrevoAccount as PortalBrevoAccount
from sandbox import seed

SLUG = "sandbox"


class Command(BaseCommand):
    help = "Seed the sandbox Zoom/Brevo accounts and the portal's sandbox connection."

    def handle(self, *args, **options) -> None:
        if not settings.SANDBOX:
            raise CommandError("SANDBOX is off: the sandbox is not served.")
        with transaction.atomic():
            app = seed.ensure_s2s_app()
            seed.ensure_user_oauth_app()
            brevo = seed.ensure_brevo_account()
            portal_brevo = PortalBrevoAccount.objects.filter(
                name="Sandbox Brevo"
            ).first()
            if portal_brevo is None:
                portal_brevo = PortalBrevoAccount.objects.create(
                    name="Sandbox Brevo",
                    api_key=brevo.api_key,
                    sender_email="events@sandbox-brevo.example",
                    sender_name="Sandbox events",
                )
                self.stdout.write("Created the portal's Brevo account: Sandbox Brevo")
            elif portal_brevo.api_key != brevo.api_key:
                portal_brevo.api_key = brevo.api_key
                portal_brevo.save(update_fields=["api_key", "updated_at"])
            connection = ZoomConnection.objects.filter(slug=SLUG).first()
            values = {
                "auth_type": ZoomConnection.AuthType.SERVER_TO_SERVER,
                "account_id": app.account.account_id,
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "webhook_secret_token": app.webhook_secret_token,
                "verification_token": app.verification_token,
                "brevo_account": portal_brevo,
            }
            if connection is None:
                # The sandbox's participant data is complete as soon as a meeting
                # ends, so a short delay lets a newcomer see contacts in seconds.
                connection = ZoomConnection.objects.create(
                    name="Sandbox Zoom", slug=SLUG, sync_delay_seconds=10, **values
                )
                connection.list_assignments.get_or_create(
                    audience=Audience.WEBINAR_NO_SHOWS, list_id=18
                )
                self.stdout.write("Created the portal's Zoom connection: sandbox")
            else:
                changed = [k for k, v in values.items() if getattr(connection, k) != v]
                for key in changed:
                    setattr(connection, key, values[key])
                if changed:
                    connection.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Sandbox ready: Zoom account {app.account.account_id}, "
                f"webhooks to {settings.PORTAL_BASE_URL}/webhooks/zoom/{SLUG}/, "
                f"pages at {settings.PORTAL_BASE_URL}/sandbox/"
            )
        )
