"""At most once: a (rule, person, occurrence) follow-up is sent once, whatever
the number of deliveries, runs or workers."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta

import pytest
import responses
from django.db import connection as db_connection
from django.utils import timezone

from connector import followups
from connector.models import FollowUpDispatch, FollowUpRule, ZoomMeeting
from connector.tasks.followups import notify_recording, run_follow_ups

from .conftest import load_fixture
from .followups_factory import BREVO, make_occurrence, only_rule

T = FollowUpRule.Trigger
A = FollowUpRule.Action
ANSWERS = load_fixture("followups/brevo_answers.json")
SHARE = "https://us06web.zoom.us/rec/share/Q1RoadmapShare"


@pytest.fixture(autouse=True)
def _brevo(settings):
    settings.BREVO_API_BASE_URL = BREVO
    settings.HTTP_MAX_RETRIES = 0


def with_recording(meeting: ZoomMeeting) -> ZoomMeeting:
    meeting.recording_share_url = SHARE
    meeting.recording_passcode = "Rec0rd!ng"
    meeting.recording_ready_at = timezone.now()
    meeting.save()
    return meeting


def sent_to(mock) -> list[str]:
    found = []
    for call in mock.calls:
        if call.request.url.endswith("/smtp/email"):
            found += [t["email"] for t in json.loads(call.request.body)["to"]]
    return found


@pytest.mark.django_db
def test_recording_notified_twice_sends_each_email_once(connection):
    meeting = with_recording(make_occurrence(connection))
    only_rule(
        connection,
        trigger=T.RECORDING_READY,
        action=A.TRANSACTIONAL_TEMPLATE,
        template_id=7,
        include_no_shows=True,
    )
    with responses.RequestsMock() as mock:
        mock.post(f"{BREVO}/smtp/email", status=201, json=ANSWERS["smtp_email_created"])
        first = notify_recording.delay(meeting.pk).get()
        second = notify_recording.delay(meeting.pk).get()
        assert sorted(sent_to(mock)) == [
            "ana@example.test",
            "ben@example.test",
            "cleo@example.test",
            "dan@example.test",
            "eve@example.test",
        ]
    assert first["sent"] == 5
    assert second == {"sent": 0, "failed": 0, "retry": 0, "skipped": 5}
    assert FollowUpDispatch.objects.filter(status="sent").count() == 5


@pytest.mark.django_db
def test_recording_before_the_sync_waits_for_it(connection):
    meeting = ZoomMeeting.objects.create(
        connection=connection,
        kind="webinar",
        zoom_id="85746065432",
        uuid="fresh==",
        topic="Launch",
        recording_share_url=SHARE,
    )
    # Registered before; whether they came is not known until the sync.
    meeting.attendances.create(
        person_key="zoe@example.test", email="zoe@example.test", status="registered"
    )
    only_rule(
        connection,
        trigger=T.RECORDING_READY,
        action=A.TRANSACTIONAL_TEMPLATE,
        template_id=7,
        include_no_shows=True,
    )
    with responses.RequestsMock() as mock:  # any call to Brevo would fail here
        assert notify_recording.delay(meeting.pk).get() is None
        assert not mock.calls


@pytest.mark.django_db
def test_after_sync_runs_every_post_sync_trigger_once(connection):
    meeting = with_recording(make_occurrence(connection))
    # The seeded defaults: events for attended, no-show and recording ready.
    with responses.RequestsMock() as mock:
        mock.post(f"{BREVO}/events/batch", json=ANSWERS["events_batch_accepted"])
        result = run_follow_ups.delay(meeting.pk, "after_sync").get()
        again = run_follow_ups.delay(meeting.pk, "after_sync").get()
        names = [
            e["event_name"]
            for call in mock.calls
            for e in json.loads(call.request.body)["events"]
        ]
    # 3 attended + 2 no-shows + 5 recording (attendees and no-shows).
    assert result["sent"] == 10 and again["sent"] == 0
    assert sorted(set(names)) == [
        "zoom_attended",
        "zoom_no_show",
        "zoom_recording_ready",
    ]
    recording = [n for n in names if n == "zoom_recording_ready"]
    assert len(recording) == 5


@pytest.mark.django_db
def test_missing_meeting_is_a_no_op(connection):
    assert run_follow_ups.delay(987654, "attended").get() is None
    assert notify_recording.delay(987654).get() is None


@pytest.mark.django_db
def test_stale_claim_is_taken_over_but_a_fresh_one_is_not(connection):
    meeting = make_occurrence(connection)
    rule = only_rule(
        connection, trigger=T.NO_SHOW, action=A.TRANSACTIONAL_TEMPLATE, template_id=5
    )
    old = timezone.now() - followups.CLAIM_TIMEOUT - timedelta(minutes=1)
    FollowUpDispatch.objects.create(
        rule=rule, meeting=meeting, email="dan@example.test", claimed_at=old, attempts=1
    )
    FollowUpDispatch.objects.create(
        rule=rule,
        meeting=meeting,
        email="eve@example.test",
        claimed_at=timezone.now(),
        attempts=1,
    )
    with responses.RequestsMock() as mock:
        mock.post(f"{BREVO}/smtp/email", status=201, json=ANSWERS["smtp_email_created"])
        summary = followups.run(meeting, T.NO_SHOW)
        assert sent_to(mock) == ["dan@example.test"]
        # The same key as the first try: Brevo drops it if that one went out.
        key = json.loads(mock.calls[0].request.body)["headers"]["idempotencyKey"]
    assert key == followups.idempotency_key(rule.pk, meeting.pk, "dan@example.test")
    assert (summary.sent, summary.skipped) == (1, 1)
    assert FollowUpDispatch.objects.get(email="dan@example.test").attempts == 2


@pytest.mark.django_db
def test_plan_writes_nothing_and_knows_what_went(connection):
    meeting = make_occurrence(connection)
    rule = only_rule(connection, trigger=T.NO_SHOW, action=A.BREVO_EVENT)
    [before] = followups.plan(meeting, T.NO_SHOW)
    assert [r.email for r in before.recipients] == [
        "dan@example.test",
        "eve@example.test",
    ]
    assert not FollowUpDispatch.objects.exists()
    FollowUpDispatch.objects.create(
        rule=rule, meeting=meeting, email="dan@example.test", status="sent"
    )
    [after] = followups.plan(meeting, T.NO_SHOW)
    assert [r.email for r in after.recipients] == ["eve@example.test"]
    assert after.already == ["dan@example.test"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_dispatchers_send_each_follow_up_once(connection):
    """Two workers run the same rules at the same moment (e.g. two deliveries of
    recording.completed taken by two workers): one claim per person wins."""
    meeting = with_recording(make_occurrence(connection))
    only_rule(
        connection,
        trigger=T.RECORDING_READY,
        action=A.TRANSACTIONAL_TEMPLATE,
        template_id=7,
        include_no_shows=True,
    )
    start = threading.Barrier(2)
    summaries, errors = [], []

    def slow_send(request):
        time.sleep(0.05)  # keep both workers busy at once
        return (201, {}, json.dumps(ANSWERS["smtp_email_created"]))

    def worker():
        try:
            mine = ZoomMeeting.objects.select_related("connection").get(pk=meeting.pk)
            start.wait(timeout=10)
            summaries.append(followups.run(mine, T.RECORDING_READY))
        except Exception as err:  # reported below, with the thread's error
            errors.append(err)
        finally:
            db_connection.close()

    with responses.RequestsMock() as mock:
        mock.add_callback("POST", f"{BREVO}/smtp/email", callback=slow_send)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        recipients = sent_to(mock)

    assert not errors, errors
    assert sorted(recipients) == sorted(set(recipients))
    assert len(recipients) == 5
    assert sum(s.sent for s in summaries) == 5
    assert sum(s.skipped for s in summaries) == 5
    assert FollowUpDispatch.objects.filter(status="sent").count() == 5


@pytest.mark.django_db
def test_duplicated_recording_completed_deliveries_send_once(
    connection, django_capture_on_commit_callbacks
):
    """Zoom delivers recording.completed twice (two bodies, so two deliveries):
    the handler stores the link each time, the recipients get one email."""
    from connector import events
    from connector.models import WebhookDelivery

    meeting = make_occurrence(connection)
    only_rule(
        connection,
        trigger=T.RECORDING_READY,
        action=A.TRANSACTIONAL_TEMPLATE,
        template_id=7,
    )
    payload = load_fixture("followups/recording_completed.json")
    with responses.RequestsMock() as mock:
        mock.post(f"{BREVO}/smtp/email", status=201, json=ANSWERS["smtp_email_created"])
        for n in range(2):
            delivery = WebhookDelivery.objects.create(
                connection=connection,
                event="recording.completed",
                event_ts=payload["event_ts"] + n,
                body_sha256=f"{n:064d}",
                payload={**payload, "event_ts": payload["event_ts"] + n},
                status="accepted",
            )
            with django_capture_on_commit_callbacks(execute=True):
                assert events.dispatch(delivery).status == "processed"
        assert sorted(sent_to(mock)) == [
            "ana@example.test",
            "ben@example.test",
            "cleo@example.test",
        ]
        params = json.loads(mock.calls[0].request.body)["params"]
    assert params["RECORDING_URL"] == SHARE
    assert params["RECORDING_PASSCODE"] == "Rec0rd!ng"
    meeting.refresh_from_db()
    assert meeting.recording_share_url == SHARE


@pytest.mark.django_db
def test_registration_webhook_fires_the_registered_rule_for_that_person(
    connection, django_capture_on_commit_callbacks
):
    from connector import events
    from connector.models import WebhookDelivery

    meeting = make_occurrence(connection)
    # The seeded "Registered: Brevo event zoom_registered" rule is on.
    payload = {
        "event": "webinar.registration_created",
        "event_ts": 1772400000000,
        "payload": {
            "account_id": "AcctTest0001",
            "object": {
                "id": meeting.zoom_id,
                "uuid": meeting.uuid,
                "topic": meeting.topic,
                "type": 5,
                "start_time": "2026-03-02T17:00:00Z",
                "registrant": {
                    "id": "NewRegId99",
                    "email": "Nia@Example.test",
                    "first_name": "Nia",
                    "last_name": "Long",
                    "tracking_source": {"source_name": "linkedin"},
                },
            },
        },
    }
    delivery = WebhookDelivery.objects.create(
        connection=connection,
        event="webinar.registration_created",
        body_sha256="9" * 64,
        payload=payload,
        status="accepted",
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{BREVO}/contacts/attributes", json={"attributes": []})
        mock.add(
            responses.POST,
            re.compile(rf"{BREVO}/contacts/attributes/normal/\w+"),
            status=201,
        )
        mock.post(f"{BREVO}/contacts", status=201, json={"id": 1})
        mock.post(f"{BREVO}/events/batch", json=ANSWERS["events_batch_accepted"])
        with django_capture_on_commit_callbacks(execute=True):
            assert events.dispatch(delivery).status == "processed"
        batches = [
            json.loads(c.request.body)["events"]
            for c in mock.calls
            if c.request.url.endswith("/events/batch")
        ]
    # Only the new registrant: the others registered before this delivery.
    assert [[e["identifiers"]["email_id"] for e in b] for b in batches] == [
        ["nia@example.test"]
    ]
    assert batches[0][0]["event_name"] == "zoom_registered"
    assert FollowUpDispatch.objects.get().email == "nia@example.test"


@pytest.mark.django_db
def test_busy_brevo_leaves_rows_for_the_next_run(connection, settings):
    settings.HTTP_MAX_RETRIES = 0
    meeting = make_occurrence(connection)
    only_rule(connection, trigger=T.NO_SHOW, action=A.BREVO_EVENT)
    with responses.RequestsMock() as mock:
        mock.post(f"{BREVO}/events/batch", status=503, json={})
        first = run_follow_ups.delay(meeting.pk, "no_show").get()
        mock.replace("POST", f"{BREVO}/events/batch", json={"count": 2})
        second = run_follow_ups.delay(meeting.pk, "no_show").get()
    assert (first["retry"], second["sent"]) == (2, 2)
    assert set(FollowUpDispatch.objects.values_list("status", "attempts")) == {
        ("sent", 2)
    }
