"""The one way the portal talks HTTP to Zoom and Brevo.

``ApiClient`` owns the session, the timeout, the User-Agent, client-side rate
limiting, retries (429, 5xx, timeouts and connection errors, with exponential
backoff and jitter, bounded) and the translation of failures into the typed
errors below. Provider clients subclass it and add one method per endpoint.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import requests
from django.conf import settings

from . import ratelimit

logger = logging.getLogger(__name__)

USER_AGENT = "zoom-brevo-portal/0.1 (+https://github.com/)"


class ApiError(Exception):
    """A call to Zoom or Brevo failed. Carries what an operator needs, no secret."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        url: str = "",
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.url = url
        self.body = body[:2000]

    def __str__(self) -> str:
        bits = [self.message]
        if self.status:
            bits.append(f"HTTP {self.status}")
        if self.code not in (None, ""):
            bits.append(f"code {self.code}")
        return " · ".join(bits)


class ApiAuthError(ApiError):
    """401: the credentials or token were refused."""


class ApiForbidden(ApiError):
    """403: the credentials lack a permission."""


class ApiNotFound(ApiError):
    """404: the object does not exist (or no longer does)."""


class ApiClientError(ApiError):
    """Any other 4xx: our request was wrong; retrying will not help."""


class ApiRateLimited(ApiError):
    """429 that outlasted our retries. ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float = 0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ApiDailyLimit(ApiRateLimited):
    """429 on a daily budget: nothing to do until ``reset_at``."""

    def __init__(self, message: str, *, reset_at: datetime, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reset_at = reset_at


class ApiServerError(ApiError):
    """5xx that outlasted our retries."""


class ApiUnavailable(ApiError):
    """Timeouts or connection errors that outlasted our retries."""


TRANSIENT = (ApiRateLimited, ApiServerError, ApiUnavailable)


class ApiClient:
    """Base for provider clients. Subclasses set ``name`` and ``base_url``."""

    name = "api"
    # Longest 429 wait we sleep through inside one call; longer ones raise.
    max_wait_seconds = 60.0

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout if timeout is not None else settings.HTTP_TIMEOUT
        self.max_retries = (
            max_retries if max_retries is not None else settings.HTTP_MAX_RETRIES
        )
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.sleep = sleep
        self.calls = 0
        self.retries = 0
        # One client may send from several threads (a run's imports go side
        # by side): the counts are kept under a lock so none is lost.
        self._counting = threading.Lock()

    # Hooks for subclasses --------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {}

    def budget_for(self, method: str, path: str, bucket: str | None) -> Iterable:
        """The rate-limit budgets a request spends (none by default)."""
        return ()

    def handle_unauthorized(self, response: requests.Response) -> bool:
        """Called once on a 401; return True to retry with fresh credentials."""
        return False

    def retry_delay_for_429(self, response: requests.Response) -> float:
        """Seconds to wait before retrying a 429; raise ApiDailyLimit for daily."""
        value = response.headers.get("Retry-After", "")
        try:
            return max(float(value), 0.0)
        except ValueError:
            return self.backoff(1)

    def error_for(self, response: requests.Response) -> ApiError:
        """Translate a failed response into a typed error."""
        status = response.status_code
        code, message = self.parse_error(response)
        kwargs = {"status": status, "code": code, "url": response.url}
        kwargs["body"] = response.text
        message = message or response.reason or "request failed"
        if status == 401:
            return ApiAuthError(message, **kwargs)
        if status == 403:
            return ApiForbidden(message, **kwargs)
        if status == 404:
            return ApiNotFound(message, **kwargs)
        if status == 429:
            return ApiRateLimited(message, **kwargs)
        if status >= 500:
            return ApiServerError(message, **kwargs)
        return ApiClientError(message, **kwargs)

    @staticmethod
    def parse_error(response: requests.Response) -> tuple[Any, str]:
        try:
            body = response.json()
        except ValueError:
            return None, ""
        if not isinstance(body, dict):
            return None, ""
        return body.get("code"), str(body.get("message") or body.get("reason") or "")

    # Machinery -------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … capped at 30 s."""
        cap = min(0.5 * (2 ** (attempt - 1)), 30.0)
        return random.uniform(cap / 2, cap)  # noqa: S311  (jitter, not crypto)

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict | None = None,
        bucket: str | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        url = self.url_for(path)
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            # Credentials first (they may need a token call), then the rate
            # slot: a slot taken before a slow token renewal would be spent
            # late, together with the slots other workers took meanwhile.
            sent_headers = {**self.auth_headers(), **(headers or {})}
            for budget in self.budget_for(method, path, bucket):
                ratelimit.acquire(budget, sleep=self.sleep)
            try:
                with self._counting:
                    self.calls += 1
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=sent_headers,
                    timeout=timeout or self.timeout,
                )
            except (requests.Timeout, requests.ConnectionError) as err:
                if attempt > self.max_retries:
                    raise ApiUnavailable(
                        f"{self.name} did not answer: {type(err).__name__}", url=url
                    ) from err
                self._wait_retry(attempt, "unavailable", url, None)
                continue

            status = response.status_code
            if status < 400:
                return response
            if status == 401 and not refreshed and self.handle_unauthorized(response):
                refreshed = True
                attempt -= 1  # a token renewal is not a retry of a failure
                continue
            if status == 429:
                delay = self.retry_delay_for_429(response)  # may raise ApiDailyLimit
                if attempt > self.max_retries or delay > self.max_wait_seconds:
                    error = self.error_for(response)
                    raise ApiRateLimited(
                        error.message,
                        retry_after=delay,
                        status=429,
                        code=error.code,
                        url=url,
                        body=response.text,
                    )
                self._wait_retry(attempt, "rate_limited", url, status, delay)
                continue
            if status >= 500 and attempt <= self.max_retries:
                self._wait_retry(attempt, "server_error", url, status)
                continue
            raise self.error_for(response)

    def _wait_retry(
        self,
        attempt: int,
        why: str,
        url: str,
        status: int | None,
        delay: float | None = None,
    ) -> None:
        delay = self.backoff(attempt) if delay is None else delay
        with self._counting:
            self.retries += 1
        logger.warning(
            "%s.request.retry",
            self.name,
            extra={
                "why": why,
                "status_code": status,
                "attempt": attempt,
                "delay": round(delay, 2),
                "path": url.split("?", 1)[0].removeprefix(self.base_url),
            },
        )
        self.sleep(delay)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()
