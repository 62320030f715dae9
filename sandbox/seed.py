"""The sandbox's standing data: one Zoom account with its apps and users, one
Brevo account with the lists and attributes a new Brevo account starts with.
Every function here is idempotent."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction

from . import ids
from .models import (
    Attribute,
    BrevoAccount,
    ContactList,
    Folder,
    ZoomAccount,
    ZoomApp,
    ZoomUser,
)

ACCOUNT_ID = "SbxAcct0000000000000001"
S2S_CLIENT_ID = "SbxS2SClient000000001"
BREVO_ACCOUNT_NAME = "Sandbox Brevo"

# Used when the settings name no user-level OAuth app (portal/settings.py sets
# the same values when SANDBOX is on).
DEV_OAUTH_CLIENT_ID = "SbxUserOAuthClient0001"
DEV_OAUTH_CLIENT_SECRET = "sandbox-user-oauth-client-secret-dev-only"
DEV_OAUTH_WEBHOOK_SECRET = "sandbox-user-oauth-webhook-secret-dev-only"

# Granular scopes the endpoints need (S2S tokens carry the ":admin" variants).
SCOPES = [
    "user:read:user",
    "user:read:list_users",
    "meeting:read:meeting",
    "meeting:read:list_meetings",
    "meeting:read:past_meeting",
    "meeting:read:list_past_instances",
    "meeting:read:list_past_participants",
    "report:read:list_meeting_participants",
    "webinar:read:webinar",
    "webinar:read:list_webinars",
    "webinar:read:past_webinar",
    "webinar:read:list_past_instances",
    "webinar:read:list_past_participants",
    "webinar:read:list_registrants",
    "report:read:list_webinar_participants",
    "cloud_recording:read:list_recording_files",
]

HOSTS = [
    ("Olivia", "Martin", "olivia.martin@sandbox-zoom.example"),
    ("Bastien", "Leroy", "bastien.leroy@sandbox-zoom.example"),
    ("Mei", "Chen", "mei.chen@sandbox-zoom.example"),
]

DEFAULT_LISTS = {
    15: "Zoom meeting participants",
    16: "Zoom webinar attendees",
    17: "Zoom webinar registrants",
    18: "Zoom webinar no-shows",
}
DEFAULT_ATTRIBUTES = [("FIRSTNAME", "text"), ("LASTNAME", "text"), ("SMS", "text")]


@transaction.atomic
def ensure_zoom_account() -> ZoomAccount:
    account, _ = ZoomAccount.objects.get_or_create(
        account_id=ACCOUNT_ID, defaults={"name": "Sandbox Zoom (Pro)"}
    )
    for n, (first, last, email) in enumerate(HOSTS):
        if not ZoomUser.objects.filter(account=account, email=email).exists():
            ZoomUser.objects.create(
                account=account,
                user_id=ids.zoom_id(),
                email=email,
                first_name=first,
                last_name=last,
                pmi=5_550_100_000 + n,
                role_id="0" if n == 0 else "2",
            )
    return account


@transaction.atomic
def ensure_s2s_app() -> ZoomApp:
    account = ensure_zoom_account()
    app, _ = ZoomApp.objects.get_or_create(
        client_id=S2S_CLIENT_ID,
        defaults={
            "account": account,
            "name": "Brevo connector (Server-to-Server)",
            "kind": ZoomApp.Kind.SERVER_TO_SERVER,
            "client_secret": secrets.token_urlsafe(24),
            "webhook_secret_token": secrets.token_urlsafe(16),
            "verification_token": secrets.token_urlsafe(16),
            "scopes": " ".join(f"{s}:admin" for s in SCOPES),
        },
    )
    return app


def user_oauth_credentials() -> tuple[str, str, str]:
    """The user-level OAuth app the portal's "Connect Zoom" button uses."""
    return (
        settings.ZOOM_OAUTH_CLIENT_ID or DEV_OAUTH_CLIENT_ID,
        settings.ZOOM_OAUTH_CLIENT_SECRET or DEV_OAUTH_CLIENT_SECRET,
        getattr(settings, "ZOOM_OAUTH_WEBHOOK_SECRET", "") or DEV_OAUTH_WEBHOOK_SECRET,
    )


@transaction.atomic
def ensure_user_oauth_app() -> ZoomApp:
    """The sandbox's copy of the settings' OAuth app, kept in step with them."""
    client_id, client_secret, webhook_secret = user_oauth_credentials()
    account = ensure_zoom_account()
    base = settings.PORTAL_BASE_URL
    redirects = "\n".join([f"{base}/", "http://127.0.0.1:", "http://localhost:"])
    app, created = ZoomApp.objects.get_or_create(
        client_id=client_id,
        defaults={
            "account": account,
            "name": "Brevo connector (user OAuth)",
            "kind": ZoomApp.Kind.USER_OAUTH,
            "client_secret": client_secret,
            "webhook_secret_token": webhook_secret,
            "redirect_uris": redirects,
            "scopes": " ".join(SCOPES),
        },
    )
    if not created and (
        app.client_secret != client_secret or app.webhook_secret_token != webhook_secret
    ):
        app.client_secret = client_secret
        app.webhook_secret_token = webhook_secret
        app.save(update_fields=["client_secret", "webhook_secret_token"])
    return app


@transaction.atomic
def ensure_brevo_account() -> BrevoAccount:
    account, _ = BrevoAccount.objects.get_or_create(
        name=BREVO_ACCOUNT_NAME,
        defaults={
            "email": "marketing@sandbox-brevo.example",
            "company": "Sandbox Events Ltd",
            "api_key": ids.brevo_api_key(),
        },
    )
    folder = Folder.objects.filter(account=account).first()
    if folder is None:
        folder = Folder.objects.create(account=account, name="Zoom")
    for list_id, name in DEFAULT_LISTS.items():
        ContactList.objects.get_or_create(
            account=account,
            list_id=list_id,
            defaults={"name": name, "folder_id": folder.pk},
        )
    for name, type_ in DEFAULT_ATTRIBUTES:
        Attribute.objects.get_or_create(
            account=account, name=name, defaults={"type": type_}
        )
    return account
