"""No secret in logs, error pages or exports, after a full sandbox run.

The run: a host connects Zoom through the OAuth pages and the token is
refreshed; the sandbox plays a webinar and sends its signed webhooks to the
live server; a real worker (logging at DEBUG) processes them, syncs the webinar
to the sandbox's Brevo and runs the follow-ups; the configuration is exported.
Every log record of this process (root logger at DEBUG, every attribute of
every record, tracebacks included) and the worker's whole output are then
searched for every secret: client secrets, webhook secret tokens, every access
and refresh token the sandbox issued, and the Brevo API key.
"""

from __future__ import annotations

import io
import logging
import traceback
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from connector.models import (
    FollowUpDispatch,
    SyncRun,
    WebhookDelivery,
    ZoomConnection,
)
from connector.zoom.client import ZoomClient

from .conftest import wait_for
from .test_reliability_crash import Process, start_worker
from .test_webhook_endpoint import SECRET, body_of, zoom_headers
from .test_zoom_e2e import (  # noqa: F401 (fixture)
    PASSWORD,
    _close_sessions,
    connect_over_http,
    sign_in,
)

pytestmark = pytest.mark.e2e


class Everything(logging.Handler):
    """Keeps the message, every attribute and the traceback of each record."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.parts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.parts.append(record.getMessage())
        self.parts.append(repr(vars(record)))
        if record.exc_info:
            self.parts.append("".join(traceback.format_exception(*record.exc_info)))

    @property
    def text(self) -> str:
        return "\n".join(self.parts)


@pytest.fixture
def all_logs():
    handler = Everything()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("", "urllib3", "django")}
    root.addHandler(handler)
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def issued_tokens(monkeypatch):
    """Every access and refresh token value the sandbox hands out."""
    from sandbox import ids

    values: list[str] = []
    original = ids.token

    def token() -> str:
        value = original()
        values.append(value)
        return value

    monkeypatch.setattr(ids, "token", token)
    return values


@pytest.fixture
def queued(settings):
    from portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    with app.connection_for_write() as conn:
        app.amqp.queues["portal"](conn.default_channel).purge()
    yield
    app.conf.task_always_eager = True


def test_a_full_sandbox_run_logs_no_secret(
    sandbox_env, all_logs, issued_tokens, queued, django_user_model
):
    from sandbox.models import Event
    from sandbox.playback import Options, play

    connection = sandbox_env.connection
    connection.sync_delay_seconds = 0
    connection.save()
    worker: Process = start_worker(
        "security-worker",
        LOG_LEVEL="DEBUG",
        PORTAL_BASE_URL=sandbox_env.url,
        ZOOM_API_BASE_URL=sandbox_env.zoom_api,
        ZOOM_OAUTH_BASE_URL=sandbox_env.zoom_oauth,
        BREVO_API_BASE_URL=sandbox_env.brevo_api,
    )
    try:
        # A host connects Zoom; the token is refreshed once.
        host = django_user_model.objects.create_user(
            "secrets-host", "h@example.test", PASSWORD, is_staff=True
        )
        landed = connect_over_http(sandbox_env.url, sign_in(sandbox_env.url, host))
        assert "Zoom connected:" in landed.text
        user_conn = ZoomConnection.objects.get(owner=host)
        user_conn.access_token_expires_at = timezone.now() - timedelta(seconds=1)
        user_conn.save()
        ZoomClient(user_conn).get_user("me")

        # A webinar is played with its webhooks; the worker does the rest.
        played = play(
            Options(kind="webinar", attendees=15, webhooks=True, seed=41, timeout=20)
        )
        assert played.failed == 0 and played.delivered == played.webhooks

        def synced() -> bool:
            return SyncRun.objects.filter(
                zoom_ref=played.uuid,
                status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL],
            ).exists()

        wait_for(synced, timeout=90, interval=0.5)
        wait_for(lambda: Event.objects.exists(), timeout=60, interval=0.5)
        wait_for(
            lambda: (
                not WebhookDelivery.objects.filter(
                    status=WebhookDelivery.Status.ACCEPTED
                ).exists()
            ),
            timeout=60,
            interval=0.5,
        )
    finally:
        worker.stop()
    export = io.StringIO()
    call_command("export_connector_config", stdout=export)

    connection.refresh_from_db()
    user_conn.refresh_from_db()
    secrets = {
        "connection client secret": connection.client_secret,
        "connection webhook secret": connection.webhook_secret_token,
        "Brevo API key": connection.brevo_account.api_key,
        "OAuth app client secret": django_settings.ZOOM_OAUTH_CLIENT_SECRET,
        "OAuth app webhook secret": django_settings.ZOOM_OAUTH_WEBHOOK_SECRET,
        "user refresh token": user_conn.refresh_token,
        **{f"issued token {n}": value for n, value in enumerate(issued_tokens)},
    }
    assert len(issued_tokens) >= 4  # S2S, user access + refresh, their renewal
    assert all(secrets.values())
    texts = {
        "this process's log": all_logs.text,
        "the worker's output": worker.text(),
        "the export": export.getvalue(),
    }
    # The logs are the real thing: the whole run is in them.
    assert "zoom.webhook.received" in texts["this process's log"]
    assert "sync.run.finished" in texts["the worker's output"]
    assert "connector.process_delivery" in texts["the worker's output"]
    assert FollowUpDispatch.objects.exists()
    found = [
        f"{name} in {where}"
        for where, text in texts.items()
        for name, value in secrets.items()
        if value in text
    ]
    assert not found, found
    from .test_reliability_faults import record_figures

    record_figures(
        "full_run_logs",
        webhooks_sent=played.webhooks,
        webhooks_delivered=played.delivered,
        send_attempts=played.attempts,
        deliveries_stored=WebhookDelivery.objects.exclude(
            status__in=[
                WebhookDelivery.Status.REJECTED,
                WebhookDelivery.Status.DUPLICATE,
            ]
        ).count(),
        deliveries_processed=WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PROCESSED
        ).count(),
        secrets_searched=len(secrets),
        log_characters=sum(len(t) for t in texts.values()),
    )


def test_the_error_page_shows_no_secret(client, connection, monkeypatch, settings):
    settings.DEBUG = False
    client.raise_request_exception = False

    def broken(*args, **kwargs):
        raise RuntimeError("the signature check broke")

    monkeypatch.setattr("connector.zoom.webhooks.check_signature", broken)
    data = body_of({"event": "meeting.started", "payload": {"object": {}}})

    answer = client.post(
        f"/webhooks/zoom/{connection.slug}/",
        data=data,
        content_type="application/json",
        headers=zoom_headers(SECRET, data),
    )

    assert answer.status_code == 500
    page = answer.content.decode()
    for secret in (
        connection.webhook_secret_token,
        connection.client_secret,
        connection.brevo_account.api_key,
        django_settings.SECRET_KEY,
    ):
        assert secret not in page
    assert "Traceback" not in page and "RuntimeError" not in page
