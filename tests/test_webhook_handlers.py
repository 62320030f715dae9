"""Each event handler, run through process_delivery on captured-shape payloads."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.utils import timezone

from connector import events
from connector.http import ApiServerError
from connector.models import (
    Attendance,
    ConnectionEvent,
    SyncRun,
    SyncRunItem,
    WebhookDelivery,
    ZoomConnection,
    ZoomMeeting,
)
from connector.tasks.webhooks import MAX_RETRIES, process_delivery, safe_error
from connector.zoom.webhooks import seal_secrets

from .conftest import load_fixture

Status = WebhookDelivery.Status
MEETING_UUID = "de+IDqR9f3hhT9D8/NA/J1=="
WEBINAR_UUID = "WbSyntheticUuid0000001=="


def deliver(connection, data: dict) -> WebhookDelivery:
    """A delivery as the endpoint stores it (verified, accepted)."""
    body = json.dumps(data).encode()
    sha = hashlib.sha256(body).hexdigest()
    return WebhookDelivery.objects.create(
        connection=connection,
        connection_slug=connection.slug if connection else "",
        event=data["event"],
        event_ts=data.get("event_ts"),
        body_sha256=sha,
        dedupe_key=sha,
        payload=seal_secrets(data),
        signature_verdict=WebhookDelivery.Verdict.VALID,
        status=Status.ACCEPTED,
    )


def run(connection, data: dict) -> WebhookDelivery:
    delivery = deliver(connection, data)
    process_delivery(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def fixture(name: str) -> dict:
    return load_fixture(f"zoom_webhooks/{name}.json")


def participant(name: str, *, user_id: str, at: str, **changes) -> dict:
    data = fixture(name)
    person = data["payload"]["object"]["participant"]
    person["user_id"] = user_id
    person["join_time" if "joined" in name else "leave_time"] = at
    person.update(changes)
    data["event_ts"] = int(datetime.fromisoformat(at).timestamp() * 1000)
    return data


# started / ended -------------------------------------------------------------------


def test_meeting_started_creates_the_occurrence(connection):
    delivery = run(connection, fixture("meeting_started"))

    assert delivery.status == Status.PROCESSED
    assert delivery.processed_at is not None
    assert delivery.attempts == 1
    meeting = ZoomMeeting.objects.get()
    assert meeting.connection == connection
    assert meeting.uuid == MEETING_UUID
    assert meeting.zoom_id == "80000000001"
    assert meeting.kind == ZoomMeeting.Kind.MEETING
    assert meeting.topic == "Quarterly pipeline review"
    assert meeting.host_id == "UserSynthetic0001XXXXXXX"
    assert meeting.host_email == "host@example.test"
    assert meeting.timezone == "Europe/Paris"
    assert meeting.scheduled_minutes == 60
    assert meeting.start_time == datetime(2026, 8, 1, 9, 0, 4, tzinfo=UTC)
    assert meeting.status == ZoomMeeting.Status.STARTED


def test_webinar_started_is_a_webinar(connection):
    run(connection, fixture("webinar_started"))

    meeting = ZoomMeeting.objects.get()
    assert (meeting.kind, meeting.uuid, meeting.status) == (
        ZoomMeeting.Kind.WEBINAR,
        WEBINAR_UUID,
        ZoomMeeting.Status.STARTED,
    )


def test_started_twice_is_one_occurrence(connection):
    data = fixture("meeting_started")
    first = run(connection, data)
    again = copy.deepcopy(data)
    again["event_ts"] += 5  # a second subscription, a new body
    run(connection, again)
    # Processing the same delivery again does nothing.
    assert process_delivery(first.pk) == Status.PROCESSED

    assert ZoomMeeting.objects.count() == 1
    assert WebhookDelivery.objects.get(pk=first.pk).attempts == 1


def test_meeting_ended_schedules_the_sync_after_the_delay(
    connection, django_capture_on_commit_callbacks
):
    connection.sync_delay_seconds = 120
    connection.save()
    run(connection, fixture("meeting_started"))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery = run(connection, fixture("meeting_ended"))

    assert delivery.status == Status.PROCESSED
    meeting = ZoomMeeting.objects.get()
    assert meeting.status == ZoomMeeting.Status.ENDED
    assert meeting.end_time == datetime(2026, 8, 1, 10, 2, 11, tzinfo=UTC)
    sync = SyncRun.objects.get()
    assert sync.trigger == SyncRun.Trigger.WEBHOOK
    assert sync.status == SyncRun.Status.QUEUED
    assert (sync.kind, sync.zoom_ref, sync.meeting) == (
        "meeting",
        MEETING_UUID,
        meeting,
    )
    assert sync.not_before is not None
    wait = (sync.not_before - timezone.now()).total_seconds()
    assert 100 < wait <= 120
    # The run is enqueued on commit with the countdown.
    assert any(getattr(cb, "keywords", {}).get("countdown") == 120 for cb in callbacks)


def test_ended_twice_schedules_one_run(connection):
    data = fixture("webinar_ended")
    run(connection, data)
    again = copy.deepcopy(data)
    again["event_ts"] += 1
    run(connection, again)

    assert SyncRun.objects.count() == 1
    assert SyncRun.objects.get().kind == "webinar"


def test_ended_before_started_and_late_started_does_not_reopen(connection):
    run(connection, fixture("meeting_ended"))
    run(connection, fixture("meeting_started"))

    meeting = ZoomMeeting.objects.get()
    assert meeting.status == ZoomMeeting.Status.ENDED
    assert meeting.end_time is not None


def test_ended_with_syncing_switched_off_is_ignored_but_recorded(connection):
    connection.sync_webinars = False
    connection.save()

    delivery = run(connection, fixture("webinar_ended"))

    assert delivery.status == Status.IGNORED
    assert "switched off" in delivery.error
    assert ZoomMeeting.objects.get().status == ZoomMeeting.Status.ENDED
    assert not SyncRun.objects.exists()


# Joins and leaves ------------------------------------------------------------------


def test_join_then_leave_makes_one_session(connection):
    run(connection, fixture("meeting_participant_joined"))
    run(connection, fixture("meeting_participant_left"))

    attendance = Attendance.objects.get()
    assert attendance.person_key == "grace@example.test"
    assert attendance.email == "grace@example.test"
    assert attendance.name == "Grace Hopper"
    assert attendance.status == Attendance.Status.ATTENDED
    assert attendance.sessions == 1
    assert attendance.total_seconds == 20 * 60
    assert attendance.first_join == datetime(2026, 8, 1, 9, 1, 10, tzinfo=UTC)
    assert attendance.last_leave == datetime(2026, 8, 1, 9, 21, 10, tzinfo=UTC)
    assert attendance.live_sessions == {
        "16778240": {
            "join": "2026-08-01T09:01:10+00:00",
            "leave": "2026-08-01T09:21:10+00:00",
        }
    }
    # A join implies the meeting started, even if meeting.started was missed.
    assert ZoomMeeting.objects.get().status == ZoomMeeting.Status.STARTED


def test_leave_before_its_join_is_kept_and_merged(connection):
    run(connection, fixture("meeting_participant_left"))

    waiting = Attendance.objects.get()
    assert waiting.sessions == 0
    assert waiting.total_seconds == 0
    assert waiting.live_sessions["16778240"]["join"] is None
    assert waiting.live_sessions["16778240"]["leave"] == "2026-08-01T09:21:10+00:00"

    run(connection, fixture("meeting_participant_joined"))

    merged = Attendance.objects.get()
    assert merged.sessions == 1
    assert merged.total_seconds == 20 * 60
    assert merged.status == Attendance.Status.ATTENDED


def test_repeated_joins_and_leaves_change_nothing(connection):
    joined = fixture("meeting_participant_joined")
    left = fixture("meeting_participant_left")
    for data in (joined, left):
        run(connection, data)
    before = Attendance.objects.values().get()
    for n, data in enumerate((joined, left, joined), start=1):
        repeat = copy.deepcopy(data)
        repeat["event_ts"] += n  # a repeat with a new envelope
        run(connection, repeat)

    after = Attendance.objects.values().get()
    before.pop("updated_at")
    after.pop("updated_at")
    assert after == before


def test_rejoins_out_of_order_are_merged(connection):
    events_in_arrival_order = [
        participant(
            "meeting_participant_left", user_id="2", at="2026-08-01T09:50:00+00:00"
        ),
        participant(
            "meeting_participant_joined", user_id="1", at="2026-08-01T09:00:00+00:00"
        ),
        participant(
            "meeting_participant_joined", user_id="2", at="2026-08-01T09:30:00+00:00"
        ),
        participant(
            "meeting_participant_left", user_id="1", at="2026-08-01T09:10:00+00:00"
        ),
    ]
    for data in events_in_arrival_order:
        run(connection, data)

    attendance = Attendance.objects.get()
    assert attendance.sessions == 2
    assert attendance.rejoins == 1
    assert attendance.total_seconds == 30 * 60  # 10 + 20 minutes
    assert attendance.first_join == datetime(2026, 8, 1, 9, 0, tzinfo=UTC)
    assert attendance.last_leave == datetime(2026, 8, 1, 9, 50, tzinfo=UTC)


def test_overlapping_sessions_count_once(connection):
    for data in [
        participant(
            "meeting_participant_joined", user_id="1", at="2026-08-01T09:00:00+00:00"
        ),
        participant(
            "meeting_participant_joined", user_id="2", at="2026-08-01T09:05:00+00:00"
        ),
        participant(
            "meeting_participant_left", user_id="1", at="2026-08-01T09:20:00+00:00"
        ),
        participant(
            "meeting_participant_left", user_id="2", at="2026-08-01T09:10:00+00:00"
        ),
    ]:
        run(connection, data)

    assert Attendance.objects.get().total_seconds == 20 * 60


def test_guest_without_email_is_keyed_by_name(connection):
    run(
        connection,
        participant(
            "meeting_participant_joined",
            user_id="9",
            at="2026-08-01T09:00:00+00:00",
            email="",
            user_name="Phone guest",
        ),
    )

    attendance = Attendance.objects.get()
    assert attendance.person_key == "guest:Phone guest"
    assert attendance.email == ""


def test_webinar_join_marks_a_registrant_attended(connection):
    run(connection, fixture("webinar_started"))
    meeting = ZoomMeeting.objects.get()
    Attendance.objects.create(
        meeting=meeting,
        person_key="ada@example.test",
        email="ada@example.test",
        registrant_id="RgSyntheticRegistrant01",
        status=Attendance.Status.REGISTERED,
    )

    run(connection, fixture("webinar_participant_joined"))
    run(connection, fixture("webinar_participant_left"))

    attendance = Attendance.objects.get()
    assert attendance.status == Attendance.Status.ATTENDED
    assert attendance.total_seconds == 44 * 60
    assert attendance.registrant_id == "RgSyntheticRegistrant01"


def test_participant_event_without_join_time_fails_with_reason(connection):
    data = fixture("meeting_participant_joined")
    del data["payload"]["object"]["participant"]["join_time"]

    delivery = run(connection, data)

    assert delivery.status == Status.FAILED
    assert "join_time" in delivery.error
    assert not Attendance.objects.exists()


# Registration ------------------------------------------------------------------------


@responses.activate
def test_registration_becomes_a_contact_at_once(connection, settings):
    settings.HTTP_MAX_RETRIES = 0
    base = settings.BREVO_API_BASE_URL
    responses.get(f"{base}/contacts/attributes", json={"attributes": []})
    responses.add(
        responses.POST,
        re.compile(re.escape(base) + r"/contacts/attributes/.*"),
        status=201,
    )
    contact = responses.post(f"{base}/contacts", json={"id": 7}, status=201)

    delivery = run(connection, fixture("webinar_registration_created"))

    assert delivery.status == Status.PROCESSED, delivery.error
    assert contact.call_count == 1
    sent = json.loads(contact.calls[0].request.body)
    assert sent["email"] == "jchill@example.com"
    assert sent["attributes"]["UTM_SOURCE"] == "general"
    assert sent["listIds"] == [17]
    meeting = ZoomMeeting.objects.get()
    assert (meeting.kind, meeting.zoom_id) == (ZoomMeeting.Kind.WEBINAR, "1234567890")
    attendance = Attendance.objects.get()
    assert attendance.status == Attendance.Status.REGISTERED
    assert attendance.registrant_id == "iFxeBPYun6SAiWUzBcEkX"
    assert attendance.registration_source == "general"


@responses.activate
def test_registration_when_brevo_is_down_is_retried_then_failed(connection, settings):
    settings.HTTP_MAX_RETRIES = 0
    base = settings.BREVO_API_BASE_URL
    responses.get(f"{base}/contacts/attributes", status=503)
    delivery = deliver(connection, fixture("webinar_registration_created"))

    # Called as a function the retry re-raises; through Celery it is retried
    # with backoff up to the limit, then recorded as failed.
    with pytest.raises(ApiServerError):
        process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert "retry 1 of 5 scheduled" in delivery.error

    # The last allowed retry records the failure for good.
    process_delivery.apply(args=[delivery.pk], retries=MAX_RETRIES)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert "scheduled" not in delivery.error
    assert delivery.attempts == 2
    assert connection.brevo_account.api_key not in delivery.error


def test_registration_without_email_fails(connection):
    data = fixture("webinar_registration_created")
    data["payload"]["object"]["registrant"]["email"] = ""

    delivery = run(connection, data)

    assert delivery.status == Status.FAILED
    assert "no email" in delivery.error


# Recording ---------------------------------------------------------------------------


def test_recording_completed_keeps_link_and_passcode(connection):
    run(connection, fixture("meeting_ended"))

    delivery = run(connection, fixture("recording_completed"))

    assert delivery.status == Status.PROCESSED
    meeting = ZoomMeeting.objects.get()
    assert meeting.recording_share_url == (
        "https://example.zoom.us/rec/share/SyntheticShareToken000"
    )
    assert meeting.recording_passcode == "rec-pass-42"
    assert meeting.recording_ready_at is not None
    assert meeting.status == ZoomMeeting.Status.ENDED

    first_ready = meeting.recording_ready_at
    again = fixture("recording_completed")
    again["event_ts"] += 1
    run(connection, again)
    assert ZoomMeeting.objects.get().recording_ready_at == first_ready


# Deauthorization ---------------------------------------------------------------------


@pytest.fixture
def user_connection(make_connection, django_user_model):
    owner = django_user_model.objects.create_user("ada", "ada@example.test", "pw")
    return make_connection(
        name="Zoom - ada@example.test",
        slug="zoom-ada",
        auth_type=ZoomConnection.AuthType.USER_OAUTH,
        account_id="EabCDEFghiLHMA",
        client_id="",
        client_secret="",
        webhook_secret_token="",
        owner=owner,
        zoom_user_id="z9jkdsfsdfjhdkfjQ",
        zoom_user_email="ada@example.test",
        refresh_token="refresh-token-secret-000000",
        access_token="access-token-secret-000000",
        access_token_expires_at=timezone.now() + timedelta(hours=1),
    )


@responses.activate
def test_app_deauthorized_revokes_and_purges(user_connection, settings):
    settings.ZOOM_OAUTH_CLIENT_ID = "oauth-client"
    settings.ZOOM_OAUTH_CLIENT_SECRET = "oauth-client-secret"
    revoke = responses.post(
        f"{settings.ZOOM_OAUTH_BASE_URL}/oauth/revoke", json={"status": "success"}
    )
    run(user_connection, fixture("meeting_participant_joined"))
    old = WebhookDelivery.objects.get()
    sync = SyncRun.objects.create(
        connection=user_connection, kind="meeting", trigger="webhook"
    )
    SyncRunItem.objects.create(run=sync, email="guest@example.test", reason="no_email")

    delivery = run(user_connection, fixture("app_deauthorized"))

    assert delivery.status == Status.PROCESSED, delivery.error
    assert revoke.call_count == 1
    conn = ZoomConnection.objects.get(pk=user_connection.pk)
    assert conn.status == ZoomConnection.Status.REVOKED
    assert not conn.enabled
    assert (conn.access_token, conn.refresh_token) == ("", "")
    assert (conn.zoom_user_id, conn.zoom_user_email, conn.owner) == ("", "", None)
    assert "ada" not in conn.name and "ada" not in conn.slug
    assert not ZoomMeeting.objects.exists()
    assert not Attendance.objects.exists()
    assert not SyncRunItem.objects.exists()
    assert SyncRun.objects.filter(pk=sync.pk).exists()  # counts stay
    old.refresh_from_db()
    assert old.payload is None
    # The trail stays, without who it was.
    trail = ConnectionEvent.objects.filter(connection=conn)
    assert trail.filter(kind=ConnectionEvent.Kind.DEAUTHORIZED).count() == 1
    text = json.dumps(list(trail.values("connection_name", "detail")))
    assert "ada" not in text
    assert "z9jkdsfsdfjhdkfjQ" not in json.dumps(delivery.payload)
    assert delivery.payload["payload"]["deauthorization_time"]


@responses.activate
def test_app_deauthorized_is_idempotent(user_connection, settings):
    responses.post(f"{settings.ZOOM_OAUTH_BASE_URL}/oauth/revoke", status=400)
    data = fixture("app_deauthorized")
    run(user_connection, data)
    again = copy.deepcopy(data)
    again["event_ts"] += 1
    second = run(user_connection, again)

    assert second.status == Status.PROCESSED
    conn = ZoomConnection.objects.get(pk=user_connection.pk)
    assert conn.status == ZoomConnection.Status.REVOKED


@responses.activate
def test_app_deauthorized_for_server_to_server_keeps_meeting_records(
    connection, settings
):
    responses.post(f"{settings.ZOOM_OAUTH_BASE_URL}/oauth/revoke", json={})
    connection.access_token = "access-token-secret-000000"
    connection.save()
    run(connection, fixture("meeting_started"))

    run(connection, fixture("app_deauthorized"))

    conn = ZoomConnection.objects.get(pk=connection.pk)
    assert conn.status == ZoomConnection.Status.REVOKED
    assert conn.access_token == ""
    assert ZoomMeeting.objects.count() == 1


# The table ---------------------------------------------------------------------


def test_unknown_event_is_ignored(connection):
    delivery = run(connection, fixture("meeting_sharing_started"))

    assert delivery.status == Status.IGNORED
    assert delivery.error == "Event not handled."
    assert not ZoomMeeting.objects.exists()


def test_disabled_connection_is_ignored(connection):
    connection.enabled = False
    connection.save()

    delivery = run(connection, fixture("meeting_started"))

    assert delivery.status == Status.IGNORED
    assert not ZoomMeeting.objects.exists()


def test_every_handled_event_has_a_fixture():
    from pathlib import Path

    folder = Path(__file__).parent / "fixtures" / "zoom_webhooks"
    captured = {json.loads(p.read_text())["event"] for p in folder.glob("*.json")}
    assert set(events.HANDLERS) <= captured


def test_process_delivery_of_a_purged_row_returns_quietly(db):
    assert process_delivery(987654) is None


def test_failure_text_never_holds_a_secret(connection):
    err = RuntimeError(f"boom with {connection.webhook_secret_token} in it")

    text = safe_error(err, connection)

    assert text == "RuntimeError: boom with [redacted] in it"
