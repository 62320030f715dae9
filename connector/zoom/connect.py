"""The "Connect Zoom" authorization flow: authorize URL, code exchange, upsert.

The authorization-code flow with PKCE (S256) through Authlib. The views hold the
state and the verifier in the session; this module talks to Zoom and writes the
connection, keyed on (portal user, Zoom user id) so that connecting again
updates the same connection.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from authlib.common.security import generate_token
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from ..http import ApiServerError
from ..models import BrevoAccount, ConnectionEvent, ZoomConnection
from .oauth import Grant, oauth_session, oauth_url, token_call

logger = logging.getLogger(__name__)


def user_oauth_configured() -> bool:
    return bool(settings.ZOOM_OAUTH_CLIENT_ID and settings.ZOOM_OAUTH_CLIENT_SECRET)


@dataclass
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str


def start_authorization(redirect_uri: str) -> AuthorizationRequest:
    """The Zoom authorize URL with a fresh random state and PKCE verifier."""
    state = secrets.token_urlsafe(32)
    verifier = generate_token(64)  # RFC 7636: 43-128 characters
    scope = " ".join(settings.ZOOM_OAUTH_SCOPES) or None
    session = oauth_session(redirect_uri=redirect_uri, scope=scope)
    url, _ = session.create_authorization_url(
        oauth_url("authorize"), state=state, code_verifier=verifier
    )
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier)


def exchange_code(code: str, redirect_uri: str, code_verifier: str) -> Grant:
    """Trade the authorization code (and the PKCE verifier) for tokens."""
    session = oauth_session(redirect_uri=redirect_uri)
    token = token_call(
        session.fetch_token,
        oauth_url("token"),
        grant_type="authorization_code",
        code=code,
        code_verifier=code_verifier,
    )
    if "access_token" not in token:
        raise ApiServerError("Zoom's token endpoint answered without a token")
    return Grant.from_response(token)


def complete_authorization(
    owner: AbstractBaseUser, code: str, redirect_uri: str, code_verifier: str
) -> tuple[ZoomConnection, bool]:
    """The callback's work: exchange the code, read ``/users/me``, store it all."""
    from .client import ZoomClient

    grant = exchange_code(code, redirect_uri, code_verifier)
    # An unsaved connection carries the new token for this one profile call.
    probe = ZoomConnection(
        auth_type=ZoomConnection.AuthType.USER_OAUTH,
        access_token=grant.access_token,
        access_token_expires_at=grant.expires_at,
    )
    profile = ZoomClient(probe, max_retries=1).get_user("me")
    if not profile.get("id"):
        raise ApiServerError("Zoom's /users/me answered without a user id")
    return connect_user(owner, grant, profile)


def connect_user(
    owner: AbstractBaseUser, grant: Grant, profile: dict
) -> tuple[ZoomConnection, bool]:
    """Create or update ``owner``'s connection to the Zoom user in ``profile``.

    Keyed on (owner, Zoom user id), so running the flow again updates the same
    connection. Returns the connection and whether it is new.
    """
    zoom_user_id = str(profile["id"])
    with transaction.atomic():
        existing = (
            ZoomConnection.objects.select_for_update()
            .filter(
                auth_type=ZoomConnection.AuthType.USER_OAUTH,
                owner=owner,
                zoom_user_id=zoom_user_id,
            )
            .first()
        )
        connection = existing or ZoomConnection(
            auth_type=ZoomConnection.AuthType.USER_OAUTH,
            owner=owner,
            zoom_user_id=zoom_user_id,
            slug=_free_slug(zoom_user_id, owner),
            brevo_account=_only_brevo_account(),
        )
        email = str(profile.get("email") or "")
        connection.name = f"Zoom: {email or zoom_user_id}"[:100]
        connection.zoom_user_email = email
        connection.account_id = str(profile.get("account_id") or connection.account_id)
        connection.access_token = grant.access_token
        connection.access_token_expires_at = grant.expires_at
        connection.granted_scopes = grant.scopes
        connection.refresh_token = grant.refresh_token
        connection.status = ZoomConnection.Status.ACTIVE
        connection.status_reason = ""
        connection.enabled = True
        connection.save()
        kind = (
            ConnectionEvent.Kind.RECONNECTED
            if existing
            else ConnectionEvent.Kind.CONNECTED
        )
        ConnectionEvent.record(
            connection, kind, f"Zoom user {email or zoom_user_id}", actor=owner
        )
    logger.info(
        "zoom.oauth.connected",
        extra={
            "connection_id": connection.pk,
            "user_id": getattr(owner, "pk", None),
            "is_new": existing is None,
        },
    )
    return connection, existing is None


def _free_slug(zoom_user_id: str, owner: AbstractBaseUser) -> str:
    base = f"zoom-user-{zoom_user_id.lower()}"[:50]
    if not ZoomConnection.objects.filter(slug=base).exists():
        return base
    # Another portal user connected the same Zoom user.
    return f"{base}-{owner.pk}"


def _only_brevo_account() -> BrevoAccount | None:
    """A new connection feeds the Brevo account when there is exactly one."""
    accounts = list(BrevoAccount.objects.all()[:2])
    return accounts[0] if len(accounts) == 1 else None
