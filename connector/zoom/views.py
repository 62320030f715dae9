"""The "Connect Zoom" pages: start the OAuth flow, take the callback, disconnect.

The views stay thin: ``connector.zoom.oauth`` talks to Zoom and writes the
connection. Users see fixed, plain messages; what Zoom said goes to the log.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from ..http import ApiError
from ..models import ZoomConnection
from . import connect as flow
from . import oauth

logger = logging.getLogger(__name__)

SESSION_KEY = "zoom_oauth_pending"
# An authorization left unfinished this long is forgotten (Zoom's codes live 5 min).
PENDING_TTL_SECONDS = 600
# At most this many authorizations in flight per browser session (several tabs).
PENDING_MAX = 5

CANCELLED = "Zoom was not connected: the authorization was cancelled."
FAILED = "Zoom could not be connected. Please try again, or ask an administrator."
BAD_STATE = (
    "That Zoom sign-in expired or was not started from this browser. Please try again."
)
NOT_CONFIGURED = (
    "Connecting Zoom is not available yet: the portal's Zoom app is not set up."
)


def _redirect_uri() -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("connector:connect_callback")


@never_cache
@login_required
@require_GET
def connect(request: HttpRequest) -> HttpResponse:
    """The signed-in user's Zoom connections, with Connect/Reconnect/Disconnect."""
    connections = ZoomConnection.objects.filter(
        owner=request.user, auth_type=ZoomConnection.AuthType.USER_OAUTH
    ).order_by("name")
    # A disconnected (revoked) connection was the user's choice: no warning.
    trouble = (ZoomConnection.Status.NEEDS_REAUTH, ZoomConnection.Status.ERROR)
    needs_reconnect = any(c.status in trouble for c in connections)
    return render(
        request,
        "connector/connect.html",
        {
            "connections": connections,
            "configured": flow.user_oauth_configured(),
            "needs_reconnect": needs_reconnect,
            "Status": ZoomConnection.Status,
        },
    )


@login_required
@require_POST
def connect_start(request: HttpRequest) -> HttpResponse:
    """Send the browser to Zoom's authorize page with a fresh state and PKCE."""
    if not flow.user_oauth_configured():
        messages.error(request, NOT_CONFIGURED)
        logger.warning("zoom.oauth.not_configured", extra={"user_id": request.user.pk})
        return redirect("connector:connect")
    redirect_uri = _redirect_uri()
    auth = flow.start_authorization(redirect_uri)
    now = time.time()
    pending = [
        p
        for p in request.session.get(SESSION_KEY, [])
        if now - p.get("at", 0) < PENDING_TTL_SECONDS
    ][-(PENDING_MAX - 1) :]
    pending.append(
        {
            "state": auth.state,
            "verifier": auth.code_verifier,
            "redirect_uri": redirect_uri,
            "at": now,
        }
    )
    request.session[SESSION_KEY] = pending
    logger.info("zoom.oauth.started", extra={"user_id": request.user.pk})
    return HttpResponseRedirect(auth.url)


def _pop_pending(request: HttpRequest, state: str) -> dict | None:
    """The pending authorization whose state matches, removed (single use)."""
    pending = request.session.get(SESSION_KEY, [])
    now = time.time()
    match = None
    keep = []
    for item in pending:
        fresh = now - item.get("at", 0) < PENDING_TTL_SECONDS
        if state and constant_time_compare(item.get("state", ""), state):
            match = item if fresh else None
        elif fresh:
            keep.append(item)
    request.session[SESSION_KEY] = keep
    return match


@never_cache
@login_required
@require_GET
def connect_callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    pending = _pop_pending(request, state)
    error = request.GET.get("error", "")
    user_id = request.user.pk
    if error:
        # Zoom (like any OAuth server) reports a refusal as error=access_denied.
        cancelled = error == "access_denied"
        logger.info(
            "zoom.oauth.cancelled" if cancelled else "zoom.oauth.denied",
            extra={
                "user_id": user_id,
                "error": error[:100],
                "known_state": pending is not None,
            },
        )
        if cancelled:
            messages.info(request, CANCELLED)
        else:
            messages.error(request, FAILED)
        return redirect("connector:connect")
    if pending is None:
        logger.warning(
            "zoom.oauth.invalid_state",
            extra={"user_id": user_id, "has_state": bool(state)},
        )
        messages.error(request, BAD_STATE)
        return redirect("connector:connect")
    code = request.GET.get("code", "")
    if not code:
        logger.warning("zoom.oauth.missing_code", extra={"user_id": user_id})
        messages.error(request, FAILED)
        return redirect("connector:connect")
    try:
        connection, created = flow.complete_authorization(
            request.user, code, pending["redirect_uri"], pending["verifier"]
        )
    except ApiError as err:
        logger.warning(
            "zoom.oauth.failed",
            extra={
                "user_id": user_id,
                "error_type": type(err).__name__,
                "status_code": err.status,
                "code": err.code,
            },
        )
        messages.error(request, FAILED)
        return redirect("connector:connect")
    verb = "connected" if created else "reconnected"
    messages.success(
        request, f"Zoom {verb}: {connection.zoom_user_email or connection.zoom_user_id}"
    )
    return redirect("connector:connect")


@login_required
@require_POST
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(
        ZoomConnection,
        pk=pk,
        owner=request.user,
        auth_type=ZoomConnection.AuthType.USER_OAUTH,
    )
    oauth.revoke(connection, actor=request.user)
    messages.success(request, f"Zoom disconnected: {connection.zoom_user_email}")
    return redirect("connector:connect")
