"""Zoom's failures as typed errors.

Zoom answers a failed REST call with ``{"code": <int>, "message": "..."}`` and a
failed OAuth token call with ``{"error": "...", "reason": "..."}``. The classes
below give callers one branch per thing they can do about it: renew the token
(124), stop and tell an operator which scope to add (4700/4711), skip a deleted
object (3001, 404), skip an unlicensed host (3161), or wait (429, see
``connector.http``).
"""

from __future__ import annotations

import re
from typing import Any

import requests

from ..http import (
    ApiAuthError,
    ApiClientError,
    ApiDailyLimit,
    ApiError,
    ApiForbidden,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiUnavailable,
)

__all__ = [
    "ApiDailyLimit",
    "ApiRateLimited",
    "ApiServerError",
    "ApiUnavailable",
    "ZoomAuthError",
    "ZoomCredentialsError",
    "ZoomForbidden",
    "ZoomNotFound",
    "ZoomNotLicensed",
    "ZoomPageExpired",
    "ZoomReauthRequired",
    "ZoomScopeError",
    "error_from_response",
]

# Zoom error codes we act on (reference: Zoom's error pages, see DESIGN.md).
INVALID_TOKEN = 124
SCOPE_CODES = frozenset({4700, 4711})
NOT_FOUND_CODES = frozenset({1001, 3001, 3301})
NOT_LICENSED = 3161
NO_PERMISSION = 200
PAGE_EXPIRED_TEXT = "next page token"

_SCOPES_IN_MESSAGE = re.compile(r"scopes?\s*:?\s*\[([^\]]*)\]", re.IGNORECASE)


class ZoomAuthError(ApiAuthError):
    """Zoom refused the access token (401, code 124) or the credentials."""


class ZoomCredentialsError(ZoomAuthError):
    """The token endpoint refused the app's client id or secret (invalid_client)."""


class ZoomReauthRequired(ZoomAuthError):
    """The user's grant is gone (invalid_grant, revoked): they must reconnect."""


class ZoomScopeError(ApiClientError):
    """The token lacks a scope the call needs: a configuration error.

    ``scopes`` lists the missing scope names as Zoom gave them, so the message
    can say which scope to add to the app.
    """

    def __init__(self, message: str, *, scopes: list[str], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.scopes = scopes

    def __str__(self) -> str:
        # Zoom lists the scopes any one of which would do, granular name first.
        if not self.scopes:
            return f"The Zoom app lacks a scope this call needs ({self.message})"
        first, *others = self.scopes
        text = f"Add the scope {first} to the Zoom app"
        if others:
            text += f" (or {' or '.join(others)})"
        return text


class ZoomNotFound(ApiNotFound):
    """The meeting, webinar, user or recording does not exist (any more)."""


class ZoomNotLicensed(ApiClientError):
    """The host or account lacks the plan or licence the endpoint needs."""


class ZoomForbidden(ApiForbidden):
    """Zoom says the app may not read this object (403 or code 200 "No permission")."""


class ZoomPageExpired(ApiClientError):
    """A ``next_page_token`` outlived its 15 minutes (code 300): list again."""


def scopes_from_message(message: str) -> list[str]:
    """The scope names in "Invalid access token, does not contain scopes:[a, b]."."""
    found = _SCOPES_IN_MESSAGE.search(message or "")
    if not found:
        return []
    return [s.strip(" '\"") for s in found.group(1).split(",") if s.strip(" '\"")]


def error_from_response(
    response: requests.Response, code: Any, message: str
) -> ApiError:
    """The typed error for a failed Zoom REST response (parsed code and message)."""
    status = response.status_code
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "url": response.url,
        "body": response.text,
    }
    message = message or response.reason or "Zoom request failed"
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = None
    if code in SCOPE_CODES or (status in (400, 401, 403) and "scope" in message):
        return ZoomScopeError(message, scopes=scopes_from_message(message), **kwargs)
    if status == 401:
        return ZoomAuthError(message, **kwargs)
    if code in NOT_FOUND_CODES or status == 404:
        return ZoomNotFound(message, **kwargs)
    if code == NOT_LICENSED or (code == NO_PERMISSION and "paid" in message.lower()):
        # "Only available for Paid or ZMP account" arrives as code 200 on free plans.
        return ZoomNotLicensed(message, **kwargs)
    if status == 403 or code == NO_PERMISSION:
        return ZoomForbidden(message, **kwargs)
    if status == 429:
        return ApiRateLimited(message, **kwargs)
    if status >= 500:
        return ApiServerError(message, **kwargs)
    if code == 300 and PAGE_EXPIRED_TEXT in message.lower():
        return ZoomPageExpired(message, **kwargs)
    return ApiClientError(message, **kwargs)
