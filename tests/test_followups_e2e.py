"""A sandbox webinar played end to end, follow-ups checked in the sandbox's Brevo.

The sandbox plays a webinar against the live server: signed registration,
join, leave, ended and recording webhooks. The portal stores them, syncs the
occurrence from the sandbox's Zoom, and runs the follow-up rules through its
real Brevo client against the sandbox's Brevo. The test reads the sandbox's
inspection JSON and Brevo API to check events, list memberships and emails,
then delivers ``recording.completed`` once more and checks nothing is sent twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests
from django.core.management import call_command

from connector.models import (
    Attendance,
    FollowUpDispatch,
    FollowUpRule,
    SyncRun,
    WebhookDelivery,
    ZoomConnection,
)

from .conftest import wait_for

pytestmark = pytest.mark.e2e

NO_SHOW_LIST = 18
RECORDING_TEMPLATE = 7


@pytest.fixture
def portal(live_server, settings):
    pytest.importorskip("sandbox.playback")
    base = live_server.url
    settings.PORTAL_BASE_URL = base
    settings.ZOOM_API_BASE_URL = f"{base}/sandbox/zoom/v2"
    settings.ZOOM_OAUTH_BASE_URL = f"{base}/sandbox/zoom"
    settings.BREVO_API_BASE_URL = f"{base}/sandbox/brevo/v3"
    call_command("sandbox_seed", stdout=open("/dev/null", "w"))  # noqa: SIM115
    connection = ZoomConnection.objects.get(slug="sandbox")
    # The seeded Brevo events stay on; the recording email gets its template,
    # and no-shows go onto their own list.
    email = connection.follow_up_rules.get(action="transactional_template")
    email.template_id = RECORDING_TEMPLATE
    email.enabled = True
    email.save()
    FollowUpRule.objects.create(
        connection=connection,
        name="No-shows onto the catch-up list",
        trigger="no_show",
        action="add_to_list",
        list_id=NO_SHOW_LIST,
    )
    return connection


def brevo_get(connection: ZoomConnection, path: str) -> dict:
    answer = requests.get(
        f"{portal_url()}/sandbox/brevo/v3/{path}",
        headers={"api-key": connection.brevo_account.api_key},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def portal_url() -> str:
    from django.conf import settings

    return settings.PORTAL_BASE_URL


def inspection() -> dict:
    return requests.get(f"{portal_url()}/sandbox/api/stats", timeout=10).json()


def sent_emails() -> list[dict]:
    from sandbox.models import SentEmail

    return list(SentEmail.objects.values("to", "template_id", "params"))


def redeliver(connection: ZoomConnection, delivery: WebhookDelivery) -> int:
    """Zoom sends the same event again (a new event_ts, so a new body)."""
    from sandbox.playback import sign

    payload = dict(delivery.payload)
    payload["event_ts"] = int(payload.get("event_ts") or 0) + 1000
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    answer = requests.post(
        f"{portal_url()}/webhooks/zoom/{connection.slug}/",
        data=body,
        headers={
            "content-type": "application/json",
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": sign(connection.webhook_secret_token, timestamp, body),
        },
        timeout=60,
    )
    return answer.status_code


def test_played_webinar_gets_events_lists_and_recording_email_once(portal):
    from sandbox.playback import Options, play

    played = play(
        Options(kind="webinar", attendees=14, seed=29, retry_scale=0.001, timeout=60)
    )
    assert played.delivered == played.webhooks, played

    run = SyncRun.objects.filter(connection=portal).order_by("-id").first()
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    meeting = run.meeting
    meeting.refresh_from_db()
    assert meeting.recording_share_url and meeting.last_synced_at
    people = Attendance.objects.filter(meeting=meeting).exclude(email="")
    attended = set(people.filter(status="attended").values_list("email", flat=True))
    no_shows = set(people.filter(status="no_show").values_list("email", flat=True))
    # Each registration processed by the portal fired the registered rule.
    registered = {
        d.payload["payload"]["object"]["registrant"]["email"].lower()
        for d in WebhookDelivery.objects.filter(
            connection=portal,
            event="webinar.registration_created",
            status=WebhookDelivery.Status.PROCESSED,
        )
    }
    assert attended and no_shows and registered

    # Events, by name, in the sandbox's Brevo.
    def event_emails(name: str) -> set[str]:
        data = brevo_get(portal, f"events?event_name={name}&limit=1000")
        return {e["identifiers"]["email_id"] for e in data["events"]}

    assert event_emails("zoom_attended") == attended
    assert event_emails("zoom_no_show") == no_shows
    assert event_emails("zoom_registered") == registered
    assert event_emails("zoom_recording_ready") == attended | no_shows
    recording_event = brevo_get(portal, "events?event_name=zoom_recording_ready")[
        "events"
    ][0]["event_properties"]
    assert recording_event["recording_url"] == meeting.recording_share_url
    assert recording_event["meeting_topic"] == meeting.topic

    # No-shows on the catch-up list.
    members = brevo_get(portal, f"contacts/lists/{NO_SHOW_LIST}/contacts?limit=500")
    assert no_shows <= {c["email"] for c in members["contacts"]}

    # One recording email per attendee and no-show, with link and passcode.
    emails = sent_emails()
    recipients = [to["email"] for e in emails for to in e["to"]]
    assert sorted(recipients) == sorted(attended | no_shows)
    assert {e["template_id"] for e in emails} == {RECORDING_TEMPLATE}
    assert {e["params"]["RECORDING_URL"] for e in emails} == {
        meeting.recording_share_url
    }
    stats = inspection()
    assert stats["brevo"]["emails"] == len(attended | no_shows)
    events_before = stats["brevo"]["events"]

    # Zoom delivers recording.completed again: nothing more is sent.
    recording = WebhookDelivery.objects.filter(
        connection=portal, event="recording.completed"
    ).first()
    assert redeliver(portal, recording) == 200
    after = inspection()
    assert after["brevo"]["emails"] == len(attended | no_shows)
    assert after["brevo"]["events"] == events_before
    assert FollowUpDispatch.objects.filter(status="failed").count() == 0
    assert (
        WebhookDelivery.objects.filter(event="recording.completed")
        .exclude(status="processed")
        .count()
        == 0
    )


@pytest.fixture
def worker(portal, live_server, settings, monkeypatch, request) -> Iterator[None]:
    """A real Celery worker that reaches the sandbox through the live server."""
    from portal.celery import app

    monkeypatch.setenv("PORTAL_BASE_URL", live_server.url)
    monkeypatch.setenv("SANDBOX", "true")
    request.getfixturevalue("celery_worker_process")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    portal.sync_delay_seconds = 1
    portal.save()
    yield
    app.conf.task_always_eager = True


def test_follow_ups_in_a_real_worker_go_once(portal, worker):
    """The same flow with the tasks queued and run by a worker process."""
    from sandbox.playback import Options, play

    played = play(
        Options(kind="webinar", attendees=8, seed=31, retry_scale=0.001, timeout=30)
    )
    assert played.delivered == played.webhooks, played

    def settled():
        run = SyncRun.objects.filter(connection=portal).order_by("-id").first()
        if run is None or run.status != SyncRun.Status.SUCCEEDED:
            return None
        meeting = run.meeting
        meeting.refresh_from_db()
        people = Attendance.objects.filter(meeting=meeting).exclude(email="")
        expected = people.filter(status__in=["attended", "no_show"]).count()
        if inspection()["brevo"]["emails"] < expected:
            return None
        return meeting, expected

    meeting, expected = wait_for(settled, timeout=90, interval=0.5)
    assert meeting.recording_share_url
    recording = WebhookDelivery.objects.filter(
        connection=portal, event="recording.completed"
    ).first()
    assert redeliver(portal, recording) == 200
    wait_for(
        lambda: (
            not WebhookDelivery.objects.filter(
                event="recording.completed", status="accepted"
            ).exists()
        ),
        timeout=30,
    )
    time.sleep(1)  # give a wrongly repeated send the time to show up
    assert inspection()["brevo"]["emails"] == expected
    sent = FollowUpDispatch.objects.filter(
        meeting=meeting, rule__action="transactional_template", status="sent"
    )
    assert sent.count() == expected
