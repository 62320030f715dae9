"""Sign-in throttling: after repeated failures, an address or a username is
locked out for a while. Counters live in the cache (Redis when configured, so
every web process shares them)."""

from __future__ import annotations

import hashlib
import logging
from functools import cache as memoize

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def _client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return "unknown"
    return request.META.get("REMOTE_ADDR", "unknown")


def _keys(request: HttpRequest | None, username: str) -> list[str]:
    user_hash = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:ip:{_client_ip(request)}", f"login-fail:user:{user_hash}"]


def is_locked(request: HttpRequest, username: str) -> bool:
    limit = settings.LOGIN_FAILURE_LIMIT
    return any((cache.get(key) or 0) >= limit for key in _keys(request, username))


@receiver(user_login_failed, dispatch_uid="count_login_failures")
def count_failure(sender, credentials, request=None, **kwargs) -> None:
    username = str(credentials.get("username", ""))
    for key in _keys(request, username):
        cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    logger.warning("auth.login_failed", extra={"ip": _client_ip(request)})


@receiver(user_logged_in, dispatch_uid="clear_login_failures")
def clear_failures(sender, request, user, **kwargs) -> None:
    cache.delete(_keys(request, user.get_username())[1])


class LoginThrottleMiddleware:
    """Answer 429 to sign-in attempts from a locked-out address or username."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path in _login_paths():
            username = request.POST.get("username", "")
            if is_locked(request, username):
                logger.warning("auth.login_locked", extra={"ip": _client_ip(request)})
                minutes = max(settings.LOGIN_LOCKOUT_SECONDS // 60, 1)
                body = render_to_string(
                    "connector/login_locked.html", {"minutes": minutes}, request
                )
                response = HttpResponse(body, status=429)
                response["Retry-After"] = str(settings.LOGIN_LOCKOUT_SECONDS)
                return response
        return self.get_response(request)


@memoize
def _login_paths() -> frozenset[str]:
    from django.urls import reverse

    return frozenset({reverse("admin:login"), reverse("login")})
