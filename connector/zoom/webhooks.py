"""Zoom webhook verification and parsing.

Zoom signs each delivery: ``x-zm-signature: v0=hex(HMAC_SHA256(secret,
"v0:{x-zm-request-timestamp}:{raw body}"))``, the timestamp in Unix seconds. The
functions here work on the raw request bytes, before any JSON parsing, and
``ZoomSignatureAuthentication`` wraps them as a DRF gate that fails closed: it
either returns a ``VerifiedDelivery`` or raises ``WebhookRejected`` with the
verdict to record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models.signals import post_delete, post_save
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from .. import crypto
from ..models import WebhookDelivery, ZoomConnection

logger = logging.getLogger(__name__)

Verdict = WebhookDelivery.Verdict

SIGNATURE_HEADER = "HTTP_X_ZM_SIGNATURE"
TIMESTAMP_HEADER = "HTTP_X_ZM_REQUEST_TIMESTAMP"
LEGACY_TOKEN_HEADER = "HTTP_AUTHORIZATION"  # noqa: S105 (a header name)

# Headers worth keeping with a delivery. Not the signature, not the legacy
# verification token in ``authorization``.
SAFE_HEADERS = {
    "HTTP_X_ZM_REQUEST_ID": "x-zm-request-id",
    "HTTP_X_ZM_TRACKINGID": "x-zm-trackingid",
    "HTTP_X_ZM_REQUEST_TIMESTAMP": "x-zm-request-timestamp",
    "HTTP_USER_AGENT": "user-agent",
    "CONTENT_TYPE": "content-type",
    "CONTENT_LENGTH": "content-length",
    "HTTP_CLIENTID": "clientid",
    "HTTP_TRACEPARENT": "traceparent",
}

# Payload keys whose values are credentials: recording passcodes, the
# recording download token (top level of recording.completed) and the
# signature Zoom puts in app_deauthorized. They are encrypted in the stored
# payload and never shown or logged.
SECRET_PAYLOAD_KEYS = frozenset(
    {
        "password",
        "recording_play_passcode",
        "encrypted_password",
        "download_token",
        "download_access_token",
        "signature",
    }
)
REDACTED = "[redacted]"

URL_VALIDATION_EVENT = "endpoint.url_validation"


class MalformedPayload(ValueError):
    """The body is not a JSON object with an ``event`` string."""


class WebhookRejected(exceptions.AuthenticationFailed):
    """A delivery failed verification; the view records it with this verdict."""

    def __init__(
        self,
        verdict: str,
        *,
        connection: ZoomConnection | None = None,
        status_code: int = 401,
    ) -> None:
        super().__init__(detail=f"Webhook verification failed: {verdict}.")
        self.verdict = verdict
        self.connection = connection
        self.status_code = status_code


@dataclass(frozen=True)
class VerifiedDelivery:
    """What the authentication gate hands the view for a delivery it accepted.

    ``connection`` is None for a delivery signed with the user-level OAuth app's
    secret at ``/webhooks/zoom/``: the view routes it by the payload.
    """

    connection: ZoomConnection | None
    verdict: str
    secret: str

    def __repr__(self) -> str:  # never show the secret
        conn = self.connection.pk if self.connection else None
        return f"VerifiedDelivery(connection={conn}, verdict={self.verdict})"


# Pure functions ---------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``x-zm-signature`` value Zoom sends for this body and timestamp."""
    message = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def encrypt_plain_token(secret: str, plain_token: str) -> str:
    """``encryptedToken`` for ``endpoint.url_validation``: lowercase hex HMAC."""
    return hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()


def url_validation_response(secret: str, payload: Mapping[str, Any]) -> dict:
    plain = (payload.get("payload") or {}).get("plainToken")
    if not isinstance(plain, str) or not plain:
        raise MalformedPayload("endpoint.url_validation without payload.plainToken")
    return {"plainToken": plain, "encryptedToken": encrypt_plain_token(secret, plain)}


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check_signature(
    secrets: list[str],
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int | None = None,
) -> tuple[str, str]:
    """Verdict for one signed delivery, and the secret that verified it.

    Every secret is tried (current first, then the previous one during a
    rotation window). The timestamp is checked after the signature, so STALE
    means "authentic but too old or too far ahead": a replay or a clock problem.
    """
    if not secrets:
        return Verdict.NO_SECRET, ""
    if not signature or not timestamp:
        return Verdict.MISSING, ""
    # ASCII only: str.isdigit() also takes "²" and "١٢", which int() refuses
    # or reads as another number.
    if not (timestamp.isascii() and timestamp.isdigit()):
        return Verdict.INVALID, ""
    matched = ""
    for index, secret in enumerate(secrets):
        expected = sign(secret, timestamp, body)
        if hmac.compare_digest(expected.encode(), signature.encode()):
            matched = secret
            verdict = Verdict.VALID if index == 0 else Verdict.VALID_PREVIOUS
            break
    if not matched:
        return Verdict.INVALID, ""
    tolerance = settings.WEBHOOK_TIMESTAMP_TOLERANCE if tolerance is None else tolerance
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return Verdict.STALE, ""
    return verdict, matched


def check_legacy_token(expected: str, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def parse_body(body: bytes) -> dict:
    """The delivery as a dict, or MalformedPayload saying why not."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedPayload(f"body is not JSON: {_reason(err)}") from err
    except RecursionError as err:
        raise MalformedPayload("body is nested too deeply") from err
    if not isinstance(data, dict):
        raise MalformedPayload("body is not a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedPayload("body has no event name")
    payload = data.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise MalformedPayload("payload is not a JSON object")
    return data


def _refuse_constant(name: str) -> None:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def _reason(err: ValueError) -> str:
    return err.msg if isinstance(err, json.JSONDecodeError) else "not UTF-8"


# A BIGINT column holds event_ts; anything outside it is not a Zoom timestamp.
_MAX_EVENT_TS = 2**63 - 1


def event_ts(data: Mapping[str, Any]) -> int | None:
    """``event_ts`` in epoch milliseconds (app_deauthorized may nest it)."""
    value = data.get("event_ts")
    if value is None:
        value = (data.get("payload") or {}).get("event_ts")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number <= _MAX_EVENT_TS else None


def safe_headers(meta: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: str(meta[key])[:500] for key, name in SAFE_HEADERS.items() if key in meta
    }


def seal_secrets(data: Any) -> Any:
    """A copy of a payload ready to store: credential values (SECRET_PAYLOAD_KEYS)
    encrypted, and NUL characters dropped (PostgreSQL's jsonb refuses them)."""
    if isinstance(data, dict):
        return {
            _no_nul(key): (
                crypto.encrypt(_no_nul(value))
                if key in SECRET_PAYLOAD_KEYS and isinstance(value, str)
                else seal_secrets(value)
            )
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [seal_secrets(item) for item in data]
    if isinstance(data, str):
        return _no_nul(data)
    return data


def _no_nul(text: str) -> str:
    return text.replace("\x00", "") if "\x00" in text else text


def unseal(value: Any) -> str:
    """The plain value of a field sealed by ``seal_secrets``."""
    if not isinstance(value, str):
        return ""
    if value.startswith(crypto.PREFIX):
        return crypto.decrypt(value)
    return value


def redacted(data: Any) -> Any:
    """A copy safe to show or log: credential values replaced."""
    if isinstance(data, dict):
        return {
            key: (
                REDACTED
                if key in SECRET_PAYLOAD_KEYS and value not in ("", None)
                else redacted(value)
            )
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redacted(item) for item in data]
    return data


def secrets_for(connection: ZoomConnection) -> list[str]:
    """Secrets that verify deliveries for a connection, current first.

    A user OAuth connection is served by the portal's OAuth app, whose one
    secret token signs the deliveries of every connected user.
    """
    found = connection.webhook_secrets()
    if connection.is_user_oauth and settings.ZOOM_OAUTH_WEBHOOK_SECRET:
        found = [settings.ZOOM_OAUTH_WEBHOOK_SECRET, *found]
    return found


def is_webinar_type(value: Any) -> bool:
    """Zoom object ``type`` 5, 6 and 9 are webinars; the rest are meetings."""
    try:
        return int(value) in (5, 6, 9)
    except (TypeError, ValueError):
        return False


# DRF gate ---------------------------------------------------------------------


# What verification and intake read of a connection; the rest stays unloaded
# (and its secrets undecrypted) on this hot path.
VERIFY_FIELDS = (
    "id",
    "slug",
    "auth_type",
    "webhook_secret_token",
    "previous_webhook_secret_token",
    "previous_secret_valid_until",
    "verification_token",
    "allow_verification_token",
    "log_webhooks",
)


# Connections read for verification are kept this many seconds in each web
# process: a delivery then costs no query to find its secrets. A change saved in
# this process clears the cache at once; one saved elsewhere is seen within this
# window, and a delivery that fails verification against a cached connection is
# checked again against the database before it is refused.
CONNECTION_CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, ZoomConnection | None]] = {}


def forget_connections(**_: Any) -> None:
    _cache.clear()


post_save.connect(forget_connections, sender=ZoomConnection, dispatch_uid="zw-cache")
post_delete.connect(forget_connections, sender=ZoomConnection, dispatch_uid="zw-cache")


def resolve_connection(
    slug: str | None, *, fresh: bool = False
) -> tuple[ZoomConnection | None, bool]:
    """The connection a URL names, and whether it came from the cache.

    ``/webhooks/zoom/<slug>/`` names one connection. ``/webhooks/zoom/`` is the
    single connection when exactly one exists; otherwise it is the user-level
    OAuth app's endpoint (connection None, routed later by the payload).
    """
    key = slug if slug is not None else ""
    now = time.monotonic()
    hit = None if fresh else _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1], True
    connection = _load_connection(slug)
    _cache[key] = (now + CONNECTION_CACHE_SECONDS, connection)
    return connection, False


def _load_connection(slug: str | None) -> ZoomConnection | None:
    if slug is not None:
        try:
            return ZoomConnection.objects.only(*VERIFY_FIELDS).get(slug=slug)
        except ZoomConnection.DoesNotExist:
            raise WebhookRejected(Verdict.UNKNOWN_CONNECTION, status_code=404) from None
    only = list(ZoomConnection.objects.only(*VERIFY_FIELDS)[:2])
    if len(only) == 1:
        return only[0]
    if settings.ZOOM_OAUTH_WEBHOOK_SECRET:
        return None
    raise WebhookRejected(Verdict.UNKNOWN_CONNECTION, status_code=404)


ACCEPTED = (Verdict.VALID, Verdict.VALID_PREVIOUS, Verdict.LEGACY_TOKEN)


def verify_request(
    connection: ZoomConnection | None, meta: Mapping[str, Any], body: bytes
) -> tuple[str, str]:
    """Verdict and verifying secret for one request against one connection (or,
    with None, the user-level OAuth app)."""
    secrets = (
        secrets_for(connection)
        if connection is not None
        else [settings.ZOOM_OAUTH_WEBHOOK_SECRET]
    )
    verdict, secret = check_signature(
        secrets, meta.get(SIGNATURE_HEADER), meta.get(TIMESTAMP_HEADER), body
    )
    if (
        verdict in (Verdict.MISSING, Verdict.NO_SECRET)
        and not meta.get(SIGNATURE_HEADER)
        and connection is not None
        and connection.allow_verification_token
        and check_legacy_token(
            connection.verification_token, meta.get(LEGACY_TOKEN_HEADER)
        )
    ):
        verdict, secret = Verdict.LEGACY_TOKEN, (secrets[0] if secrets else "")
    return verdict, secret


class ZoomSignatureAuthentication(BaseAuthentication):
    """Accept a delivery only when its signature verifies; never pass open.

    ``authenticate`` never returns None: a request either carries a verified
    Zoom signature (or, when the connection allows it, the legacy verification
    token) or is refused with the verdict.
    """

    def authenticate(self, request) -> tuple[AnonymousUser, VerifiedDelivery]:
        slug = request.parser_context["kwargs"].get("slug")
        meta = request.META
        body: bytes = request.body
        connection, cached = resolve_connection(slug)
        verdict, secret = verify_request(connection, meta, body)
        if verdict not in ACCEPTED and cached:
            # The secret may have changed in another process since it was cached.
            connection, _ = resolve_connection(slug, fresh=True)
            verdict, secret = verify_request(connection, meta, body)
        extra = {
            "connection_id": connection.pk if connection else None,
            "verdict": verdict,
            "has_signature": bool(meta.get(SIGNATURE_HEADER)),
        }
        if verdict not in ACCEPTED:
            key = (
                "zoom.webhook.signature_missing"
                if verdict in (Verdict.MISSING, Verdict.NO_SECRET)
                else "zoom.webhook.signature_invalid"
            )
            logger.warning(key, extra=extra)
            raise WebhookRejected(verdict, connection=connection)
        if verdict != Verdict.VALID:
            logger.info("zoom.webhook.verified_fallback", extra=extra)
        return AnonymousUser(), VerifiedDelivery(connection, verdict, secret)

    def authenticate_header(self, request) -> str:
        # A 401 needs a challenge; DRF would turn it into 403 without one.
        return 'Zoom-Signature realm="webhooks"'


def route_app_delivery(data: Mapping[str, Any]) -> ZoomConnection | None:
    """The user OAuth connection a delivery of the portal's OAuth app belongs to.

    Zoom sends every connected user's events to the app's one endpoint; the
    payload's ``account_id`` and the host's (or, for app_deauthorized, the
    user's) Zoom user id pick the connection.
    """
    payload = data.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    obj = payload.get("object")
    obj = obj if isinstance(obj, dict) else {}
    user_id = obj.get("host_id") or payload.get("user_id") or ""
    account_id = payload.get("account_id") or obj.get("account_id") or ""
    if not isinstance(user_id, str) or not user_id:
        return None
    candidates = ZoomConnection.objects.filter(
        auth_type=ZoomConnection.AuthType.USER_OAUTH, zoom_user_id=user_id
    ).order_by("-enabled", "id")
    for candidate in candidates:
        if not candidate.account_id or candidate.account_id == account_id:
            return candidate
    return None
