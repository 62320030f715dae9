"""Zoom's OAuth endpoints: authorize page, token (account_credentials,
authorization_code with PKCE, refresh_token with rotation) and revoke.

Errors on the token endpoint use Zoom's OAuth shape ``{"reason", "error"}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from datetime import timedelta
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import ids
from .models import AuthCode, IssuedToken, SandboxConfig, ZoomApp, ZoomUser
from .runtime import json_response, log_call
from .seed import ensure_user_oauth_app


def _oauth_error(error: str, reason: str, status: int = 400) -> HttpResponse:
    return json_response({"reason": reason, "error": error}, status=status)


def _with_query(uri: str, **params: str) -> str:
    sep = "&" if "?" in uri else "?"
    return uri + sep + urlencode(params)


def _basic_auth(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def _param(request: HttpRequest, name: str) -> str:
    return request.POST.get(name) or request.GET.get(name) or ""


def _client(request: HttpRequest) -> ZoomApp | HttpResponse:
    ensure_user_oauth_app()
    creds = _basic_auth(request)
    if creds is None:
        return _oauth_error("invalid_client", "Missing client credentials", 401)
    client_id, secret = creds
    app = ZoomApp.objects.filter(client_id=client_id).first()
    if app is None or not hmac.compare_digest(app.client_secret, secret):
        return _oauth_error("invalid_client", "Invalid client_id or client_secret", 401)
    if not app.enabled:
        return _oauth_error("invalid_client", "The app has been disabled", 401)
    return app


def _issue(
    app: ZoomApp, user: ZoomUser | None, grant: str, *, refresh: bool
) -> dict[str, object]:
    config = SandboxConfig.load()
    now = timezone.now()
    access = ids.token()
    IssuedToken.objects.create(
        kind=IssuedToken.Kind.ACCESS,
        token_sha256=ids.sha256(access),
        hint=access[28:36],
        app=app,
        account=app.account if user is None else user.account,
        user=user,
        scope=app.scopes,
        grant=grant,
        expires_at=now + timedelta(seconds=config.token_ttl_seconds),
    )
    answer: dict[str, object] = {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": config.token_ttl_seconds,
        "scope": app.scopes,
    }
    if refresh:
        refresh_token = ids.token()
        IssuedToken.objects.create(
            kind=IssuedToken.Kind.REFRESH,
            token_sha256=ids.sha256(refresh_token),
            hint=refresh_token[28:36],
            app=app,
            account=user.account if user else app.account,
            user=user,
            scope=app.scopes,
            grant=grant,
            # Zoom documents 15 years for refresh tokens.
            expires_at=now + timedelta(days=365 * 15),
        )
        answer["refresh_token"] = refresh_token
    return answer


@csrf_exempt
@require_http_methods(["POST"])
def token(request: HttpRequest) -> HttpResponse:
    started = time.monotonic()
    response = _token(request)
    log_call(
        request,
        api="zoom_oauth",
        endpoint="oauth_token",
        status=response.status_code,
        started=started,
        account=_param(request, "account_id"),
    )
    return response


def _token(request: HttpRequest) -> HttpResponse:
    app = _client(request)
    if isinstance(app, HttpResponse):
        return app
    grant_type = _param(request, "grant_type")
    api_url = request.build_absolute_uri("/sandbox/zoom").rstrip("/")
    if grant_type == "account_credentials":
        if app.kind != ZoomApp.Kind.SERVER_TO_SERVER:
            return _oauth_error("unsupported_grant_type", "Unsupported grant type")
        if _param(request, "account_id") != app.account.account_id:
            return _oauth_error("invalid_request", "Bad request")
        answer = _issue(app, None, secrets.token_hex(8), refresh=False)
    elif grant_type == "authorization_code":
        answer = _exchange_code(request, app)
        if isinstance(answer, HttpResponse):
            return answer
    elif grant_type == "refresh_token":
        answer = _refresh(request, app)
        if isinstance(answer, HttpResponse):
            return answer
    elif not grant_type:
        return _oauth_error("invalid_request", "Missing grant type")
    else:
        return _oauth_error("unsupported_grant_type", "Unsupported grant type")
    answer["api_url"] = api_url
    return json_response(answer, headers={"Cache-Control": "no-store"})


def _pkce_ok(code: AuthCode, verifier: str) -> bool:
    if not code.code_challenge:
        return True
    if not verifier:
        return False
    if code.code_challenge_method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    else:
        expected = verifier
    return hmac.compare_digest(expected, code.code_challenge)


@transaction.atomic
def _exchange_code(request: HttpRequest, app: ZoomApp) -> dict | HttpResponse:
    value = _param(request, "code")
    code = (
        AuthCode.objects.select_for_update().filter(code=value, app=app).first()
        if value
        else None
    )
    if code is None or code.used_at is not None:
        return _oauth_error("invalid_grant", "Invalid authorization code")
    # Single use, even when the exchange fails below.
    code.used_at = timezone.now()
    code.save(update_fields=["used_at"])
    if code.expires_at <= timezone.now():
        return _oauth_error("invalid_grant", "Authorization code is expired")
    if _param(request, "redirect_uri") != code.redirect_uri:
        return _oauth_error("invalid_grant", "Redirect URI mismatch")
    if not _pkce_ok(code, _param(request, "code_verifier")):
        return _oauth_error("invalid_grant", "Invalid code verifier")
    # Authorizing again invalidates what the same user granted this app before.
    IssuedToken.objects.filter(app=app, user=code.user, revoked_at=None).update(
        revoked_at=timezone.now(), revoked_reason="reauthorized"
    )
    return _issue(app, code.user, secrets.token_hex(8), refresh=True)


@transaction.atomic
def _refresh(request: HttpRequest, app: ZoomApp) -> dict | HttpResponse:
    value = _param(request, "refresh_token")
    old = (
        IssuedToken.objects.select_for_update()
        .filter(token_sha256=ids.sha256(value), kind=IssuedToken.Kind.REFRESH)
        .first()
        if value
        else None
    )
    if (
        old is None
        or old.app_id != app.pk
        or old.revoked_at is not None
        or old.expires_at <= timezone.now()
    ):
        return _oauth_error("invalid_grant", "Invalid Token!")
    # Rotation: the refresh token just used stops working.
    old.revoked_at = timezone.now()
    old.revoked_reason = "rotated"
    old.save(update_fields=["revoked_at", "revoked_reason"])
    return _issue(app, old.user, old.grant, refresh=True)


@csrf_exempt
@require_http_methods(["POST"])
def revoke(request: HttpRequest) -> HttpResponse:
    started = time.monotonic()
    app = _client(request)
    if isinstance(app, HttpResponse):
        response = app
    else:
        value = _param(request, "token")
        found = IssuedToken.objects.filter(
            token_sha256=ids.sha256(value), app=app
        ).first()
        if found is None:
            response = _oauth_error("invalid_request", "Invalid Token!")
        else:
            IssuedToken.objects.filter(grant=found.grant, revoked_at=None).update(
                revoked_at=timezone.now(), revoked_reason="revoked"
            )
            response = json_response({"status": "success"})
    log_call(
        request,
        api="zoom_oauth",
        endpoint="oauth_revoke",
        status=response.status_code,
        started=started,
    )
    return response


@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """The consent page: a person picks a sandbox user and clicks Allow or Deny."""
    ensure_user_oauth_app()
    data = request.POST if request.method == "POST" else request.GET
    client_id = data.get("client_id", "")
    redirect_uri = data.get("redirect_uri", "")
    state = data.get("state", "")
    app = ZoomApp.objects.filter(
        client_id=client_id, kind=ZoomApp.Kind.USER_OAUTH
    ).first()
    # Bad client or redirect: show an error page, never redirect to an unknown URI.
    if app is None or not app.enabled:
        return render(
            request,
            "sandbox/oauth_error.html",
            {"code": 4702, "message": "Invalid client_id."},
            status=400,
        )
    if data.get("response_type", "code") != "code":
        return render(
            request,
            "sandbox/oauth_error.html",
            {"code": 4705, "message": "Unsupported response type."},
            status=400,
        )
    if not redirect_uri or not app.allows_redirect(redirect_uri):
        return render(
            request,
            "sandbox/oauth_error.html",
            {"code": 4709, "message": "Invalid redirect: the URL is not allowed."},
            status=400,
        )
    method = data.get("code_challenge_method", "")
    challenge = data.get("code_challenge", "")
    if challenge and method.upper() not in ("S256", "PLAIN", ""):
        return HttpResponseRedirect(
            _with_query(redirect_uri, error="invalid_request", state=state)
        )
    users = list(ZoomUser.objects.select_related("account").order_by("id"))
    if request.method == "GET":
        return render(
            request,
            "sandbox/authorize.html",
            {
                "app": app,
                "users": users,
                "fields": {
                    "client_id": client_id,
                    "redirect_uri": redirect_uri,
                    "state": state,
                    "response_type": "code",
                    "code_challenge": challenge,
                    "code_challenge_method": method,
                },
            },
        )
    if data.get("decision") != "allow":
        return HttpResponseRedirect(
            _with_query(redirect_uri, error="access_denied", state=state)
        )
    user = next((u for u in users if u.user_id == data.get("user")), None) or (
        users[0] if users else None
    )
    if user is None:
        return render(
            request,
            "sandbox/oauth_error.html",
            {"code": 4737, "message": "No sandbox user: run manage.py sandbox_seed."},
            status=400,
        )
    config = SandboxConfig.load()
    code = AuthCode.objects.create(
        code=secrets.token_urlsafe(24),
        app=app,
        user=user,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        code_challenge_method=method or ("plain" if challenge else ""),
        expires_at=timezone.now() + timedelta(seconds=config.auth_code_ttl_seconds),
    )
    return HttpResponseRedirect(_with_query(redirect_uri, code=code.code, state=state))
