"""Deployment checks of the portal's own settings."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def sandbox_in_production(app_configs, **kwargs):
    if settings.SANDBOX and not settings.DEBUG:
        return [
            Warning(
                "SANDBOX is on with DEBUG off: the fake Zoom and Brevo are served and "
                "the portal may talk to them instead of the real APIs.",
                hint="Unset SANDBOX in production.",
                id="connector.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def sandbox_urls_in_production(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    found = [
        name
        for name in ("ZOOM_API_BASE_URL", "ZOOM_OAUTH_BASE_URL", "BREVO_API_BASE_URL")
        if "/sandbox/" in getattr(settings, name)
    ]
    if found:
        return [
            Warning(
                f"{', '.join(found)} point at the sandbox with DEBUG off.",
                id="connector.W002",
            )
        ]
    return []
