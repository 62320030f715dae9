"""Two Celery workers on Redis behave as one client of Zoom.

- They share one rate-limit budget: backfills (Zoom calls only) run on both
  workers at once against a connection allowed 5 Medium calls a second; the
  arrival times the sandbox records never put more than that in any second,
  while the two together keep the budget busy.
- They never refresh the same user token twice: tasks on both workers need a
  user OAuth connection whose access token has just expired; Zoom (the
  sandbox) sees exactly one refresh, its rotated refresh token is the one
  stored, and every task gets through with the new access token.

These need real services: they are skipped on SQLite or the embedded broker.
"""

from __future__ import annotations

import os
from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from connector.models import ZoomConnection
from connector.tasks.sync import backfill_task
from connector.zoom.client import ZoomClient

from . import test_reliability_crash as crash
from .conftest import wait_for
from .test_reliability_faults import record_figures
from .test_zoom_e2e import (  # noqa: F401 (fixture)
    PASSWORD,
    _close_sessions,
    connect_over_http,
    sign_in,
)

pytestmark = [pytest.mark.services, pytest.mark.e2e]

_needs_services = crash._needs_services
real_queue = crash.real_queue
start_worker = crash.start_worker

SOAK = os.environ.get("SOAK") == "1"
LIMIT = 5  # Medium calls a second allowed to the connection
# A backfill over a range with no meetings: Zoom calls only, nothing queued.
EMPTY_RANGE = ("2001-01-01", "2001-01-31")


def worker_env(sandbox_env) -> dict[str, str]:
    return {
        "PORTAL_BASE_URL": sandbox_env.url,
        "ZOOM_API_BASE_URL": sandbox_env.zoom_api,
        "ZOOM_OAUTH_BASE_URL": sandbox_env.zoom_oauth,
        "BREVO_API_BASE_URL": sandbox_env.brevo_api,
    }


def finished_backfills(*workers) -> int:
    return sum(w.text().count("sync.backfill.queued") for w in workers)


def busiest_second(times: list[float]) -> int:
    """The most calls that arrived within any one second."""
    most = 0
    start = 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_two_workers_share_one_zoom_rate_budget(sandbox_env, real_queue):
    from sandbox.models import CallLog

    connection = sandbox_env.connection
    connection.rate_limit_medium = LIMIT
    connection.save()
    env = worker_env(sandbox_env)
    workers = [start_worker(f"scaleout-rate-{n}", **env) for n in (1, 2)]
    tasks = 24 if SOAK else 6
    try:
        CallLog.objects.all().delete()
        for _ in range(tasks):
            backfill_task.delay(connection.pk, *EMPTY_RANGE)
        wait_for(
            lambda: finished_backfills(*workers) == tasks, timeout=120, interval=0.3
        )
    finally:
        for worker in workers:
            worker.stop()

    assert all("sync.backfill.queued" in w.text() for w in workers)  # both worked
    calls = CallLog.objects.filter(api="zoom", category="Medium").order_by("created_at")
    # When each request arrived: the row is written as the answer leaves.
    times = sorted(c.created_at.timestamp() - c.duration_ms / 1000 for c in calls)
    assert len(times) >= tasks * 3
    assert {c.status for c in calls} == {200}
    span = times[-1] - times[0]
    rate = (len(times) - 1) / span
    most = busiest_second(times)
    # Spaced 1/LIMIT apart by the shared budget; one call of slack for the
    # jitter between reserving a slot and the request arriving.
    gaps = [round(b - a, 3) for a, b in pairwise(times)]
    assert most <= LIMIT + 1, (most, gaps)
    assert rate <= LIMIT * 1.05
    # The two together kept the budget busy: the limit, not the work, set the pace.
    assert rate >= LIMIT * 0.7, rate
    record_figures(
        "shared_rate_budget",
        workers=2,
        zoom_calls=len(times),
        seconds=round(span, 2),
        calls_per_second=round(rate, 2),
        busiest_second=most,
        limit=LIMIT,
    )


def test_two_workers_never_refresh_one_user_token_twice(
    sandbox_env, real_queue, django_user_model
):
    from sandbox.models import CallLog, IssuedToken

    host = django_user_model.objects.create_user(
        "scaleout-host", "s@example.test", PASSWORD, is_staff=True
    )
    landed = connect_over_http(sandbox_env.url, sign_in(sandbox_env.url, host))
    assert "Zoom connected:" in landed.text
    connection = ZoomConnection.objects.get(owner=host)
    stored_refresh = connection.refresh_token
    env = worker_env(sandbox_env)
    workers = [start_worker(f"scaleout-token-{n}", **env) for n in (1, 2)]
    tasks = 12 if SOAK else 4
    try:
        refreshes_before = IssuedToken.objects.filter(kind="refresh").count()
        token_calls_before = CallLog.objects.filter(api="zoom_oauth").count()
        # The token has just expired; both workers are about to need it.
        connection.access_token_expires_at = timezone.now() - timedelta(seconds=1)
        connection.save()
        for _ in range(tasks):
            backfill_task.delay(connection.pk, *EMPTY_RANGE)
        wait_for(
            lambda: finished_backfills(*workers) == tasks, timeout=60, interval=0.2
        )
    finally:
        for worker in workers:
            worker.stop()

    assert all("sync.backfill.queued" in w.text() for w in workers)
    token_calls = CallLog.objects.filter(api="zoom_oauth").order_by("id")[
        token_calls_before:
    ]
    assert [c.status for c in token_calls] == [200]  # one refresh, no invalid_grant
    assert IssuedToken.objects.filter(kind="refresh").count() == refreshes_before + 1
    connection.refresh_from_db()
    assert connection.status == ZoomConnection.Status.ACTIVE
    assert connection.refresh_token != stored_refresh
    assert connection.access_token_expires_at > timezone.now() + timedelta(minutes=30)
    # The stored token works here too, without another refresh.
    assert ZoomClient(connection).get_user("me")["id"] == connection.zoom_user_id
    assert CallLog.objects.filter(api="zoom_oauth").count() == token_calls_before + 1
    assert not CallLog.objects.filter(api="zoom", status=401).exists()
    record_figures(
        "single_refresh",
        workers=2,
        tasks=tasks,
        refresh_requests=len(token_calls),
    )
