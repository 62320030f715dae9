"""First-run set-up for `make run`: an admin user and, with the sandbox on, a
sandbox connection so the whole loop works without Zoom or Brevo accounts."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from connector.models import ZoomConnection


class Command(BaseCommand):
    help = "Create the admin user and seed the sandbox connection when needed."

    def handle(self, *args, **options) -> None:
        self._admin()
        if settings.SANDBOX and not ZoomConnection.objects.exists():
            call_command("sandbox_seed", stdout=self.stdout)

    def _admin(self) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        email = os.environ.get("ADMIN_EMAIL", "admin@example.com")
        password = os.environ.get("ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        username = email.split("@", 1)[0] or "admin"
        User.objects.create_superuser(username, email, password)
        self.stdout.write(self.style.SUCCESS(f"Admin user created: {username}"))
        if generated:
            # Shown once, on the terminal of the person who ran `make run`.
            self.stdout.write(f"  password: {password}  (set ADMIN_PASSWORD to choose)")
