"""What every sandbox API endpoint shares: the call log, in-process rate limits,
fault injection and JSON answers.

Rate limits live in this process (a fixed window per key), which is what a
development server needs; the counters of calls are rows in ``CallLog`` so any
process can read them through ``/sandbox/api/stats``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse

from .models import CallLog, SandboxConfig

CALL_LOG_KEEP = 100_000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # seconds until the window ends


class WindowLimiter:
    """Fixed windows: at most ``limit`` calls per ``period`` seconds per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, int], tuple[int, int]] = {}

    def hit(self, key: str, limit: int, period: int) -> Verdict:
        now = time.time()
        window = int(now // period)
        reset = (window + 1) * period - now
        with self._lock:
            start, count = self._windows.get((key, period), (window, 0))
            if start != window:
                count = 0
            if count >= limit:
                self._windows[(key, period)] = (window, count)
                return Verdict(False, limit, 0, reset)
            count += 1
            self._windows[(key, period)] = (window, count)
            return Verdict(True, limit, limit - count, reset)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


limiter = WindowLimiter()


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    if data is None:
        response = HttpResponse(status=status)
    else:
        response = JsonResponse(
            data, status=status, safe=False, json_dumps_params={"ensure_ascii": False}
        )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def read_json(request: HttpRequest) -> Any:
    """The request body as JSON; raises ValueError with a reason when it is not."""
    if not request.body:
        raise ValueError("empty body")
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError("body is not valid JSON") from err


def inject_fault(config: SandboxConfig, api: str) -> int | None:
    """Sleep and/or pick an injected error status for this call (None = no fault)."""
    delay = getattr(config, f"{api}_delay_ms")
    if delay:
        time.sleep(delay / 1000)
    fail_field = f"{api}_fail_next"
    if getattr(config, fail_field):
        taken = SandboxConfig.objects.filter(pk=config.pk, **{f"{fail_field}__gt": 0})
        if taken.update(**{fail_field: F(fail_field) - 1}):
            return config.error_status
    rate = getattr(config, f"{api}_error_rate")
    if rate and random.random() < rate:
        return config.error_status
    return None


def log_call(
    request: HttpRequest,
    *,
    api: str,
    endpoint: str,
    status: int,
    started: float,
    category: str = "",
    account: str = "",
    outcome: str = "",
) -> None:
    row = CallLog.objects.create(
        api=api,
        method=request.method or "",
        path=request.path[:500],
        endpoint=endpoint,
        category=category,
        account=account,
        status=status,
        outcome=outcome,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    # Keep the log bounded on a long-running development server.
    if row.pk % 1000 == 0:
        CallLog.objects.filter(pk__lte=row.pk - CALL_LOG_KEEP).delete()


def next_midnight_utc() -> datetime:
    now = datetime.now(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
