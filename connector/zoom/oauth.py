"""Zoom OAuth: tokens for Server-to-Server apps and for users who "Connect Zoom".

Server-to-Server: ``grant_type=account_credentials`` with the app's client id and
secret (HTTP Basic). No refresh token; a new access token is simply requested.

User OAuth ("Connect Zoom", see ``connect.py`` for the authorization flow): Authlib
with the portal's app in ``settings.ZOOM_OAUTH_CLIENT_ID/SECRET``. Zoom rotates
refresh tokens: each refresh returns a new one and the previous one
stops working, so a refresh must happen once, under a lock (``renewal_lock``),
and the new pair must be stored before the access token is used.

Both kinds cache the access token on the connection (encrypted), shared by every
worker through the database, and renew it ``RENEW_AHEAD`` before it expires.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from ..http import USER_AGENT, ApiClient, ApiError, ApiServerError, ApiUnavailable
from ..models import ConnectionEvent, ZoomConnection
from .errors import ZoomAuthError, ZoomCredentialsError, ZoomReauthRequired

logger = logging.getLogger(__name__)

RENEW_AHEAD = timedelta(minutes=5)
# Token calls are small; a short timeout keeps the row lock short.
TOKEN_TIMEOUT = 15.0
# A worker waits this long for another one's renewal before giving up.
LOCK_WAIT_SECONDS = 120.0
# Zoom wants the client id and secret as HTTP Basic on token and revoke calls.
BASIC_AUTH = "client_secret_basic"

Status = ZoomConnection.Status
Kind = ConnectionEvent.Kind

INVALID_CLIENT_REASON = "Zoom refused the client id or secret (invalid_client)"
INVALID_ACCOUNT_REASON = "Zoom refused the account id (invalid_request)"
INVALID_GRANT_REASON = "Zoom no longer accepts this connection's grant: reconnect Zoom"


def oauth_url(path: str) -> str:
    return f"{settings.ZOOM_OAUTH_BASE_URL.rstrip('/')}/oauth/{path}"


# Access tokens ---------------------------------------------------------------


def get_access_token(connection: ZoomConnection, *, force: bool = False) -> str:
    """A valid access token for ``connection``, renewed when needed.

    ``force`` renews even a token that looks valid (Zoom just refused it), unless
    another worker renewed it meanwhile. The renewal is serialised on the
    connection's row: the first worker asks Zoom, the others wait for the lock,
    re-read the row and use the token it stored.
    """
    if not force and _fresh(connection):
        return connection.access_token
    if connection.pk is None:
        raise ZoomAuthError("This Zoom connection has no stored token to renew")
    return _renew(connection, rejected=connection.access_token if force else "")


def _fresh(connection: ZoomConnection) -> bool:
    expires_at = connection.access_token_expires_at
    return bool(
        connection.access_token
        and expires_at
        and expires_at - RENEW_AHEAD > timezone.now()
    )


@dataclass
class Grant:
    access_token: str
    expires_at: datetime
    scopes: str
    refresh_token: str = ""

    @classmethod
    def from_response(cls, token: dict) -> Grant:
        expires_in = int(token.get("expires_in") or 3600)
        return cls(
            access_token=str(token["access_token"]),
            expires_at=timezone.now() + timedelta(seconds=expires_in),
            scopes=str(token.get("scope") or ""),
            refresh_token=str(token.get("refresh_token") or ""),
        )


TOKEN_FIELDS = [
    "access_token",
    "access_token_expires_at",
    "granted_scopes",
    "refresh_token",
    "status",
    "status_reason",
    "updated_at",
]


@contextmanager
def renewal_lock(connection_id: int) -> Iterator[None]:
    """Hold the right to renew one connection's token, across every worker.

    PostgreSQL (and any database with row locks): ``SELECT ... FOR UPDATE`` on
    the connection's row, held in a transaction around the token call, so only
    that row waits. SQLite has no row locks; its only lock is the database-wide
    write lock, and holding that through an HTTP call would stall every other
    writer (webhook intake, and the sandbox's own token endpoint when it is
    served from the same database, which then deadlocks). SQLite is the
    one-machine setup, so there an exclusive ``flock`` on a file under
    ``VAR_DIR`` serialises renewals between threads and processes instead.
    """
    if db_connection.vendor != "sqlite":
        with transaction.atomic():
            ZoomConnection.objects.select_for_update().filter(pk=connection_id).first()
            yield
        return
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    with open(folder / f"zoom-token-{connection_id}.lock", "a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ApiUnavailable(
                        "Another worker is still renewing this Zoom token"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _renew(connection: ZoomConnection, rejected: str) -> str:
    failure: ZoomAuthError | None = None
    with renewal_lock(connection.pk):
        # Re-read after taking the lock: another worker may have renewed.
        locked = ZoomConnection.objects.get(pk=connection.pk)
        if _fresh(locked) and locked.access_token != rejected:
            _copy_tokens(locked, connection)
            return locked.access_token
        if locked.is_user_oauth and locked.status in (
            Status.NEEDS_REAUTH,
            Status.REVOKED,
        ):
            _copy_tokens(locked, connection)
            raise ZoomReauthRequired(locked.status_reason or INVALID_GRANT_REASON)
        try:
            if locked.is_user_oauth:
                grant = _refresh_user_token(locked)
            else:
                grant = _request_account_token(locked)
        except ZoomAuthError as err:
            _mark_failed(locked, err)
            failure = err
        else:
            # Stored before anyone uses it: the old refresh token is dead now.
            _store(locked, grant)
    _copy_tokens(locked, connection)
    if failure is not None:
        raise failure
    return locked.access_token


def _store(connection: ZoomConnection, grant: Grant) -> None:
    was_failing = connection.status == Status.ERROR
    connection.access_token = grant.access_token
    connection.access_token_expires_at = grant.expires_at
    connection.granted_scopes = grant.scopes
    if grant.refresh_token:
        connection.refresh_token = grant.refresh_token
    if was_failing:
        connection.status = Status.ACTIVE
        connection.status_reason = ""
    connection.save(update_fields=TOKEN_FIELDS)
    logger.info(
        "zoom.token.refreshed",
        extra={
            "connection_id": connection.pk,
            "auth_type": connection.auth_type,
            "has_refresh_token": bool(connection.refresh_token),
        },
    )
    if was_failing:
        ConnectionEvent.record(
            connection, Kind.TOKEN_REFRESHED, "Zoom accepts it again"
        )


def _mark_failed(connection: ZoomConnection, err: ZoomAuthError) -> None:
    """Record a refused credential or grant on the connection, once."""
    if isinstance(err, ZoomReauthRequired):
        status, kind = Status.NEEDS_REAUTH, Kind.NEEDS_REAUTH
    else:
        status, kind = Status.ERROR, Kind.ERROR
    reason = err.message
    changed = connection.status != status or connection.status_reason != reason
    connection.status = status
    connection.status_reason = reason
    connection.access_token = ""
    connection.access_token_expires_at = None
    if status == Status.NEEDS_REAUTH:
        connection.refresh_token = ""
    connection.save(update_fields=TOKEN_FIELDS)
    logger.error(
        "zoom.token.refused",
        extra={"connection_id": connection.pk, "status": status, "code": err.code},
    )
    if changed:
        ConnectionEvent.record(connection, kind, reason)


def _copy_tokens(source: ZoomConnection, target: ZoomConnection) -> None:
    if source is target:
        return
    for field in TOKEN_FIELDS:
        setattr(target, field, getattr(source, field))


# Server-to-Server ------------------------------------------------------------


class ZoomOAuthClient(ApiClient):
    """Zoom's token endpoint for Server-to-Server apps (retries from the base)."""

    name = "zoom_oauth"

    @property
    def base_url(self) -> str:
        return self._base_url or settings.ZOOM_OAUTH_BASE_URL.rstrip("/")

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value

    def error_for(self, response: requests.Response) -> ApiError:
        # Token errors are OAuth-shaped: {"reason": "...", "error": "invalid_client"}.
        error, _ = _oauth_error_body(response)
        kwargs = {"status": response.status_code, "code": error, "url": response.url}
        if error == "invalid_client" or response.status_code == 401:
            return ZoomCredentialsError(INVALID_CLIENT_REASON, **kwargs)
        if error == "invalid_request":
            return ZoomCredentialsError(INVALID_ACCOUNT_REASON, **kwargs)
        return super().error_for(response)


def _oauth_error_body(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("reason") or "")


def _basic(client_id: str, client_secret: str) -> str:
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _request_account_token(connection: ZoomConnection) -> Grant:
    if not (
        connection.account_id and connection.client_id and connection.client_secret
    ):
        raise ZoomCredentialsError(
            "The connection needs an account id, client id and client secret"
        )
    client = ZoomOAuthClient("", timeout=TOKEN_TIMEOUT)
    # Zoom documents the grant in the query string (a form body works too).
    response = client.request(
        "POST",
        "oauth/token",
        params={
            "grant_type": "account_credentials",
            "account_id": connection.account_id,
        },
        headers={
            "Authorization": _basic(connection.client_id, connection.client_secret)
        },
    )
    try:
        return Grant.from_response(response.json())
    except (ValueError, KeyError, TypeError) as err:
        raise ApiServerError(
            "Zoom's token endpoint answered without a token", url=response.url
        ) from err


# User OAuth (authorization code + PKCE, rotating refresh tokens) -------------


def oauth_session(
    client_id: str = "", client_secret: str = "", **kwargs: Any
) -> OAuth2Session:
    """An Authlib session for the portal's user-level Zoom app (settings read now).

    ``client_id``/``client_secret`` override the app, e.g. a Server-to-Server
    connection's own credentials when revoking its token.
    """
    session = OAuth2Session(
        client_id=client_id or settings.ZOOM_OAUTH_CLIENT_ID,
        client_secret=client_secret or settings.ZOOM_OAUTH_CLIENT_SECRET,
        token_endpoint_auth_method=BASIC_AUTH,
        revocation_endpoint_auth_method=BASIC_AUTH,
        code_challenge_method="S256",
        default_timeout=TOKEN_TIMEOUT,
        **kwargs,
    )
    session.headers["User-Agent"] = USER_AGENT
    return session


def token_call(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict:
    """Run an Authlib token call and turn its failures into our typed errors."""
    try:
        return dict(call(*args, **kwargs))
    except OAuthError as err:
        if err.error == "invalid_client":
            raise ZoomCredentialsError(INVALID_CLIENT_REASON, code=err.error) from err
        if err.error in ("invalid_grant", "invalid_token"):
            raise ZoomReauthRequired(INVALID_GRANT_REASON, code=err.error) from err
        raise ZoomAuthError(
            "Zoom refused the authorization", code=err.error or None
        ) from err
    except (requests.Timeout, requests.ConnectionError) as err:
        raise ApiUnavailable(
            f"Zoom's token endpoint did not answer: {type(err).__name__}"
        ) from err
    except requests.HTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status in (400, 401):
            raise ZoomAuthError(
                "Zoom refused the authorization", status=status
            ) from err
        raise ApiServerError("Zoom's token endpoint failed", status=status) from err
    except ValueError as err:
        raise ApiServerError("Zoom's token endpoint answered without JSON") from err


def _refresh_user_token(connection: ZoomConnection) -> Grant:
    """One refresh with the stored (latest) refresh token. Caller holds the lock.

    If the request reaches Zoom but the answer is lost (timeout), Zoom may have
    rotated the token already; the next attempt then gets invalid_grant and the
    connection asks for a reconnect. Nothing on our side can recover that grant.
    """
    if not connection.refresh_token:
        raise ZoomReauthRequired(INVALID_GRANT_REASON)
    session = oauth_session()
    token = token_call(
        session.refresh_token,
        oauth_url("token"),
        refresh_token=connection.refresh_token,
    )
    grant = Grant.from_response(token)
    if not grant.refresh_token:
        # Zoom always rotates; keep the old one if an answer ever lacks it.
        grant.refresh_token = connection.refresh_token
    return grant


# Revocation ------------------------------------------------------------------


def revoke(connection: ZoomConnection, actor: AbstractBaseUser | None = None) -> bool:
    """Revoke the grant at Zoom, wipe the tokens and mark the connection revoked.

    Returns whether Zoom confirmed the revocation. The tokens are wiped either
    way: a user who disconnects must not stay connected because Zoom was down.
    """
    confirmed = False
    token = connection.access_token or connection.refresh_token
    if token:
        confirmed = _revoke_at_zoom(connection, token)
    with transaction.atomic():
        locked = ZoomConnection.objects.select_for_update().get(pk=connection.pk)
        locked.access_token = ""
        locked.refresh_token = ""
        locked.access_token_expires_at = None
        locked.granted_scopes = ""
        locked.status = Status.REVOKED
        locked.status_reason = "Disconnected" + (
            f" by {actor.get_username()}" if actor is not None else ""
        )
        locked.save(update_fields=TOKEN_FIELDS)
        if confirmed:
            detail = "Zoom confirmed the revocation"
        else:
            detail = "Tokens wiped; Zoom did not confirm the revocation"
        ConnectionEvent.record(locked, Kind.REVOKED, detail, actor=actor)
    _copy_tokens(locked, connection)
    logger.info(
        "zoom.oauth.revoked",
        extra={"connection_id": connection.pk, "confirmed": confirmed},
    )
    return confirmed


def _revoke_at_zoom(connection: ZoomConnection, token: str) -> bool:
    if connection.is_user_oauth:
        session = oauth_session()
    else:
        session = oauth_session(connection.client_id, connection.client_secret)
    try:
        response = session.revoke_token(oauth_url("revoke"), token=token)
    except requests.RequestException:
        logger.warning(
            "zoom.oauth.revoke_failed",
            extra={"connection_id": connection.pk, "status_code": None},
            exc_info=True,
        )
        return False
    if response.status_code >= 400:
        logger.warning(
            "zoom.oauth.revoke_failed",
            extra={"connection_id": connection.pk, "status_code": response.status_code},
        )
        return False
    return True
