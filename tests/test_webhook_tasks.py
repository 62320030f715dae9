"""Reconciliation, the sweep of stuck deliveries, and the delivery admin page."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import responses
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from connector.models import SyncRun, WebhookDelivery, ZoomMeeting
from connector.tasks import webhooks as tasks
from connector.zoom.webhooks import seal_secrets
from portal.celery import app

from .conftest import load_fixture

Status = WebhookDelivery.Status


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def zoom(connection, settings):
    """Zoom's API over `responses`, with the connection holding a valid token."""
    connection.access_token = "cached-access-token-000000"
    connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    connection.save()
    settings.HTTP_MAX_RETRIES = 0
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.base = settings.ZOOM_API_BASE_URL
        yield mock


def test_reconcile_starts_runs_for_uncovered_occurrences(connection, zoom):
    now = timezone.now()
    base = zoom.base
    zoom.get(f"{base}/users", json={"users": [{"id": "host1"}], "next_page_token": ""})
    meetings = zoom.get(
        f"{base}/users/host1/meetings",
        json={"meetings": [{"id": 80000000001, "uuid": "series"}]},
    )
    zoom.get(f"{base}/users/host1/webinars", json={"webinars": [{"id": 81000000002}]})
    zoom.get(
        f"{base}/past_meetings/80000000001/instances",
        json={
            "meetings": [
                {"uuid": "missed==", "start_time": iso(now - timedelta(days=1))},
                {"uuid": "synced==", "start_time": iso(now - timedelta(days=1))},
                {"uuid": "busy==", "start_time": iso(now - timedelta(hours=5))},
                {"uuid": "failed==", "start_time": iso(now - timedelta(hours=6))},
                {"uuid": "too-old==", "start_time": iso(now - timedelta(days=9))},
            ]
        },
    )
    zoom.get(
        f"{base}/past_webinars/81000000002/instances",
        json={"webinars": [{"uuid": "/web//x==", "start_time": iso(now)}]},
    )
    for uuid, status in [
        ("synced==", SyncRun.Status.SUCCEEDED),
        ("busy==", SyncRun.Status.QUEUED),
        ("failed==", SyncRun.Status.FAILED),
    ]:
        SyncRun.objects.create(
            connection=connection,
            kind="meeting",
            zoom_ref=uuid,
            trigger=SyncRun.Trigger.WEBHOOK,
            status=status,
        )

    started = tasks.reconcile_connection(connection.pk, 3)

    assert started == 3
    scheduled = SyncRun.objects.filter(trigger=SyncRun.Trigger.SCHEDULE)
    assert sorted(scheduled.values_list("kind", "zoom_ref")) == [
        ("meeting", "failed=="),
        ("meeting", "missed=="),
        ("webinar", "/web//x=="),
    ]
    assert "previous_meetings" in meetings.calls[0].request.url
    assert f"from={(now - timedelta(days=3)).date().isoformat()}" in (
        meetings.calls[0].request.url
    )


def test_reconcile_twice_starts_nothing_new(connection, zoom):
    base = zoom.base
    zoom.get(f"{base}/users", json={"users": [{"id": "host1"}]})
    zoom.get(f"{base}/users/host1/meetings", json={"meetings": [{"id": 5}]})
    zoom.get(f"{base}/users/host1/webinars", json={"webinars": []})
    zoom.get(
        f"{base}/past_meetings/5/instances",
        json={"meetings": [{"uuid": "a==", "start_time": iso(timezone.now())}]},
    )

    assert tasks.reconcile_connection(connection.pk) == 1
    assert tasks.reconcile_connection(connection.pk) == 0  # the first run is queued


def test_reconcile_gives_up_after_the_attempt_limit(connection, zoom, settings):
    settings.RECONCILE_MAX_ATTEMPTS = 2
    for _ in range(2):
        SyncRun.objects.create(
            connection=connection,
            kind="meeting",
            zoom_ref="a==",
            trigger=SyncRun.Trigger.SCHEDULE,
            status=SyncRun.Status.FAILED,
        )
    base = zoom.base
    zoom.get(f"{base}/users", json={"users": [{"id": "host1"}]})
    zoom.get(f"{base}/users/host1/meetings", json={"meetings": [{"id": 5}]})
    zoom.get(f"{base}/users/host1/webinars", json={"webinars": []})
    zoom.get(
        f"{base}/past_meetings/5/instances",
        json={"meetings": [{"uuid": "a==", "start_time": iso(timezone.now())}]},
    )

    assert tasks.reconcile_connection(connection.pk) == 0


def test_reconcile_includes_webinars_known_from_webhooks(connection, zoom):
    ZoomMeeting.objects.create(
        connection=connection,
        kind=ZoomMeeting.Kind.WEBINAR,
        zoom_id="777",
        uuid="registered-only==",
        start_time=timezone.now() - timedelta(hours=2),
    )
    base = zoom.base
    zoom.get(f"{base}/users", json={"users": [{"id": "host1"}]})
    zoom.get(f"{base}/users/host1/meetings", json={"meetings": []})
    zoom.get(f"{base}/users/host1/webinars", json={"webinars": []})
    zoom.get(
        f"{base}/past_webinars/777/instances",
        json={"webinars": [{"uuid": "occ-1==", "start_time": iso(timezone.now())}]},
    )

    assert tasks.reconcile_connection(connection.pk) == 1
    assert SyncRun.objects.get().zoom_ref == "occ-1=="


def test_reconcile_skips_disabled_connections(connection, make_connection):
    make_connection(enabled=False)

    assert tasks.reconcile_connection(connection.pk + 1) == 0


def test_reconcile_is_on_the_beat_schedule():
    entries = {e["task"] for e in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "connector.reconcile_recent_meetings" in entries
    assert "connector.requeue_stale_deliveries" in entries
    assert {"connector.reconcile_recent_meetings", "connector.process_delivery"} <= set(
        app.tasks
    )


def test_reconcile_recent_meetings_covers_each_enabled_connection(
    connection, zoom, make_connection
):
    make_connection(enabled=False)  # would fail: it has no token and no mocks
    base = zoom.base
    zoom.get(f"{base}/users", json={"users": [{"id": "host1"}]})
    zoom.get(f"{base}/users/host1/meetings", json={"meetings": [{"id": 5}]})
    zoom.get(f"{base}/users/host1/webinars", json={"webinars": []})
    zoom.get(
        f"{base}/past_meetings/5/instances",
        json={"meetings": [{"uuid": "a==", "start_time": iso(timezone.now())}]},
    )

    # Eager in tests: each per-connection task runs inline.
    assert tasks.reconcile_recent_meetings(2) == 1
    run = SyncRun.objects.get()
    assert (run.connection, run.trigger) == (connection, SyncRun.Trigger.SCHEDULE)


# Sweep ------------------------------------------------------------------------------


def make_delivery(connection, status=Status.ACCEPTED, age=timedelta(0), **extra):
    data = load_fixture("zoom_webhooks/meeting_started.json")
    data["event_ts"] += WebhookDelivery.objects.count()
    sha = hashlib.sha256(json.dumps(data).encode()).hexdigest()
    return WebhookDelivery.objects.create(
        connection=connection,
        received_at=timezone.now() - age,
        event=data["event"],
        body_sha256=sha,
        dedupe_key=sha,
        payload=seal_secrets(data),
        signature_verdict=WebhookDelivery.Verdict.VALID,
        status=status,
        **extra,
    )


def test_sweep_processes_deliveries_whose_message_was_lost(connection):
    lost = make_delivery(connection, age=timedelta(minutes=30))
    fresh = make_delivery(connection)
    done = make_delivery(connection, Status.PROCESSED, age=timedelta(hours=1))

    # Tasks run eagerly in tests: the re-queued one is processed at once.
    assert tasks.requeue_stale_deliveries() == 1

    statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert statuses == {
        lost.pk: Status.PROCESSED,
        fresh.pk: Status.ACCEPTED,
        done.pk: Status.PROCESSED,
    }


# Admin ------------------------------------------------------------------------------


@pytest.fixture
def operator(staff_user):
    staff_user.user_permissions.add(
        Permission.objects.get(codename="view_webhookdelivery"),
        Permission.objects.get(codename="reprocess_delivery"),
    )
    return staff_user


def test_admin_page_shows_payload_pretty_and_redacted(client, operator, connection):
    data = load_fixture("zoom_webhooks/recording_completed.json")
    sha = hashlib.sha256(json.dumps(data).encode()).hexdigest()
    delivery = WebhookDelivery.objects.create(
        connection=connection,
        event=data["event"],
        body_sha256=sha,
        dedupe_key=sha,
        payload=seal_secrets(data),
        headers={"x-zm-request-id": "req-1"},
        status=Status.PROCESSED,
    )
    client.force_login(operator)

    page = client.get(
        reverse("admin:connector_webhookdelivery_change", args=[delivery.pk])
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert "<pre" in html
    assert "&quot;share_url&quot;: &quot;https://example.zoom.us/rec/share/" in html
    assert "[redacted]" in html
    assert "rec-pass-42" not in html
    assert "synthetic-download-token-not-real" not in html
    assert "enc1:" not in html
    assert "req-1" in html


def test_admin_reprocesses_failed_deliveries_only(
    client, operator, connection, django_capture_on_commit_callbacks
):
    failed = make_delivery(connection, Status.FAILED, error="OperationalError: locked")
    processed = make_delivery(connection, Status.PROCESSED)
    client.force_login(operator)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(
            reverse("admin:connector_webhookdelivery_changelist"),
            {"action": "reprocess", "_selected_action": [failed.pk, processed.pk]},
            follow=True,
        )

    assert len(queued) == 1

    assert response.status_code == 200
    text = response.content.decode()
    assert "1 failed delivery queued for processing." in text
    assert "1 delivery skipped" in text
    failed.refresh_from_db()
    assert failed.status == Status.PROCESSED  # eager in tests: it ran on commit
    assert failed.error == ""
    assert ZoomMeeting.objects.filter(connection=connection).count() == 1
    from django.contrib.admin.models import LogEntry

    assert LogEntry.objects.filter(object_id=str(failed.pk)).exists()


def test_reprocess_needs_its_permission(
    client, staff_user, connection, django_capture_on_commit_callbacks
):
    staff_user.user_permissions.add(
        Permission.objects.get(codename="view_webhookdelivery")
    )
    failed = make_delivery(connection, Status.FAILED)
    client.force_login(staff_user)

    page = client.get(reverse("admin:connector_webhookdelivery_changelist"))
    assert b'value="reprocess"' not in page.content

    with django_capture_on_commit_callbacks(execute=True) as queued:
        client.post(
            reverse("admin:connector_webhookdelivery_changelist"),
            {"action": "reprocess", "_selected_action": [failed.pk]},
        )
    assert queued == []
    failed.refresh_from_db()
    assert failed.status == Status.FAILED
