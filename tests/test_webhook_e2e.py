"""Over real sockets: Zoom-signed deliveries to the live server, processed by a
real Celery worker."""

from __future__ import annotations

import pytest
import requests
from django.test import override_settings

from connector.models import Attendance, WebhookDelivery, ZoomMeeting

from .conftest import load_fixture, wait_for
from .test_webhook_endpoint import SECRET, body_of, zoom_headers

pytestmark = pytest.mark.e2e


@pytest.fixture
def real_queue():
    from portal.celery import app

    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_deliveries_over_http_are_processed_by_a_worker(
    live_server, connection, celery_worker_process, real_queue
):
    url = f"{live_server.url}/webhooks/zoom/{connection.slug}/"
    session = requests.Session()
    answers = []
    for name in (
        "meeting_participant_left",  # out of order: the leave first
        "meeting_started",
        "meeting_participant_joined",
        "meeting_participant_joined",  # Zoom's retry of the same delivery
    ):
        body = body_of(load_fixture(f"zoom_webhooks/{name}.json"))
        answers.append(
            session.post(url, data=body, headers=zoom_headers(SECRET, body), timeout=10)
        )
    forged = body_of(load_fixture("zoom_webhooks/meeting_ended.json"))
    refused = session.post(
        url, data=forged, headers=zoom_headers("forged", forged), timeout=10
    )

    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert [a.json()["status"] for a in answers] == [
        "accepted",
        "accepted",
        "accepted",
        "duplicate",
    ]
    assert refused.status_code == 401

    def all_processed():
        statuses = list(
            WebhookDelivery.objects.order_by("id").values_list("status", flat=True)
        )
        return statuses == [
            "processed",
            "processed",
            "processed",
            "duplicate",
            "rejected",
        ]

    wait_for(all_processed, timeout=30)
    meeting = ZoomMeeting.objects.get()
    assert meeting.status == ZoomMeeting.Status.STARTED
    attendance = Attendance.objects.get(meeting=meeting)
    assert attendance.sessions == 1
    assert attendance.total_seconds == 20 * 60
    assert set(
        WebhookDelivery.objects.exclude(status="rejected")
        .exclude(status="duplicate")
        .values_list("attempts", flat=True)
    ) == {1}


@pytest.fixture
def sandbox_portal(live_server, settings, monkeypatch):
    """The live server serves the portal and the sandbox's Zoom and Brevo; the
    worker process is pointed at it through its environment."""
    from django.core.management import call_command

    from connector.models import ZoomConnection

    base = live_server.url
    urls = {
        "PORTAL_BASE_URL": base,
        "ZOOM_API_BASE_URL": f"{base}/sandbox/zoom/v2",
        "ZOOM_OAUTH_BASE_URL": f"{base}/sandbox/zoom",
        "BREVO_API_BASE_URL": f"{base}/sandbox/brevo/v3",
    }
    for name, value in urls.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, value)
    call_command("sandbox_seed", stdout=open("/dev/null", "w"))  # noqa: SIM115
    connection = ZoomConnection.objects.get(slug="sandbox")
    connection.sync_delay_seconds = 1
    connection.save()
    return connection


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_played_webinar_ends_with_its_attendees_in_brevo(
    sandbox_portal, celery_worker_process, real_queue
):
    """No manual step: Zoom's webhooks in, the worker handles them, the ended
    webinar's sync run puts every attendee on the attendees list."""
    from connector.models import SyncRun
    from sandbox.models import Contact, Participant
    from sandbox.playback import Options, play

    played = play(
        Options(kind="webinar", attendees=12, seed=3, recording=False, timeout=10)
    )

    assert played.failed == 0
    assert played.delivered == played.webhooks > 0
    run = wait_for(
        lambda: SyncRun.objects.filter(
            zoom_ref=played.uuid,
            trigger=SyncRun.Trigger.WEBHOOK,
            status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL],
        ).first(),
        timeout=90,
        interval=0.5,
    )
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert not WebhookDelivery.objects.filter(status="failed").exists()
    attendees = {
        p.email.lower()
        for p in Participant.objects.filter(occurrence__uuid=played.uuid)
        if p.email
    }
    assert attendees
    on_list = {
        c.email.lower() for c in Contact.objects.filter(lists__list_id=16).distinct()
    }
    assert attendees <= on_list
