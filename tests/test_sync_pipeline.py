"""A sync run end to end with Zoom and Brevo mocked at the transport."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.utils import timezone

from connector.models import (
    Attendance,
    Audience,
    BrevoImport,
    ListAssignment,
    SyncRun,
    SyncRunItem,
    ZoomMeeting,
)
from connector.sync import imports as pipeline_imports
from connector.sync.pipeline import TransientSyncError, run_sync, start_sync
from tests.conftest import load_fixture

ZOOM = "https://zoom.test/v2"
BREVO = "https://brevo.test/v3"
UUID = "Wq7xE9p+Rk2oYvT1Jm3cTw=="
WEBINAR_ID = "94212345678"
DOWN = json.dumps({"code": "unavailable", "message": "Brevo is down"})


@pytest.fixture
def conn(connection, settings):
    settings.ZOOM_API_BASE_URL = ZOOM
    settings.BREVO_API_BASE_URL = BREVO
    settings.BREVO_IMPORT_NOTIFY = "off"
    connection.access_token = "zoom-access-token-test"
    connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    connection.save()
    return connection


def paged(first: str, second: str, token: str):
    """A callback answering page 1, or page 2 when asked for ``token``."""
    pages = {None: load_fixture(first), token: load_fixture(second)}

    def answer(request):
        asked = parse_qs(urlsplit(request.url).query).get("next_page_token", [None])[0]
        return 200, {}, json.dumps(pages[asked])

    return answer


def zoom_webinar() -> None:
    """Zoom's answers for the played webinar of tests/fixtures/sync/."""
    responses.get(
        re.compile(rf"{ZOOM}/past_webinars/[^/]+$"),
        json=load_fixture("sync/past_webinar.json"),
    )
    responses.get(
        f"{ZOOM}/webinars/{WEBINAR_ID}", json=load_fixture("sync/webinar.json")
    )
    responses.add_callback(
        responses.GET,
        f"{ZOOM}/webinars/{WEBINAR_ID}/registrants",
        callback=paged(
            "sync/registrants_page1.json", "sync/registrants_page2.json", "regpage2"
        ),
    )
    responses.add_callback(
        responses.GET,
        re.compile(rf"{ZOOM}/past_webinars/[^/]+/participants"),
        callback=paged(
            "sync/participants_page1.json", "sync/participants_page2.json", "partpage2"
        ),
    )


def brevo_ok(known_attributes: bool = False, before_import=None) -> None:
    """Brevo's answers for a run that goes well.

    ``before_import(request)`` is called on each import (from the run's
    upload threads) and may return an answer of its own, a refusal say.
    """
    attributes = load_fixture("brevo/attributes.json")
    responses.get(f"{BREVO}/contacts/attributes", json=attributes)
    responses.post(re.compile(rf"{BREVO}/contacts/attributes/normal/\w+"), status=201)
    ids = iter(range(500, 600))
    taking = threading.Lock()

    def importer(request):
        answer = before_import(request) if before_import else None
        if answer is not None:
            return answer
        with taking:
            return 202, {}, json.dumps({"processId": next(ids)})

    responses.add_callback(
        responses.POST, f"{BREVO}/contacts/import", callback=importer
    )
    responses.add_callback(
        responses.GET,
        re.compile(rf"{BREVO}/processes/\d+"),
        callback=lambda r: (
            200,
            {},
            json.dumps(
                {
                    **load_fixture("brevo/process_completed.json"),
                    "id": int(r.url.rsplit("/", 1)[1]),
                }
            ),
        ),
    )


def imports_sent() -> dict[tuple[int, ...], list[dict]]:
    found = {}
    for call in responses.calls:
        if call.request.url == f"{BREVO}/contacts/import":
            body = json.loads(call.request.body)
            found[tuple(body["listIds"])] = body["jsonBody"]
    return found


def new_run(conn, ref=WEBINAR_ID, kind="webinar") -> SyncRun:
    return SyncRun.objects.create(
        connection=conn, kind=kind, zoom_ref=ref, trigger="command"
    )


def sync(conn, **kwargs) -> SyncRun:
    run = run_sync(new_run(conn, **kwargs).pk, sleep=lambda s: None)
    run.refresh_from_db()
    return run


@responses.activate
def test_webinar_run_writes_each_audience_to_its_lists(conn):
    zoom_webinar()
    brevo_ok()
    run = sync(conn)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.fetched, run.merged, run.no_shows) == (9 + 4, 6, 1)
    assert run.upserted == 5
    assert run.skipped_no_email == 1
    assert run.failed == 0
    assert run.zoom_calls == 6  # details, webinar, 2 registrant and 2 participant pages
    # Attributes read + 5 created, 3 imports (one per list set), 3 process checks.
    assert run.brevo_calls == 1 + 5 + 3 + 3
    assert run.started_at and run.finished_at

    sent = imports_sent()
    emails = {lists: sorted(c["email"] for c in rows) for lists, rows in sent.items()}
    assert emails == {
        (16, 17): ["jane.doe@example.com", "li.lei@example.cn", "zoe@example.com"],
        (16,): ["doe.john@example.com"],
        (17,): ["sam.noshow@example.com"],
    }
    by_email = {c["email"]: c["attributes"] for rows in sent.values() for c in rows}
    assert by_email["jane.doe@example.com"] == {
        "FIRSTNAME": "Jane",
        "MEETING_JOIN_DATE": "2026-03-02",
        "MEETING_DURATION": 55,
        "WEBINAR_NAME": "Q1 Roadmap",
        "ATTENDANCE_STATUS": "attended",
    }
    assert by_email["li.lei@example.cn"]["FIRSTNAME"] == "李雷"
    assert by_email["zoe@example.com"]["FIRSTNAME"] == "Zoë"
    assert by_email["doe.john@example.com"]["FIRSTNAME"] == "John"
    assert by_email["sam.noshow@example.com"]["ATTENDANCE_STATUS"] == "no_show"

    meeting = ZoomMeeting.objects.get(connection=conn, uuid=UUID)
    assert meeting.status == ZoomMeeting.Status.SYNCED
    assert meeting.last_synced_at == run.finished_at
    assert meeting.timezone == "Europe/Paris"
    assert run.meeting_id == meeting.pk

    rows = {a.person_key: a for a in Attendance.objects.filter(meeting=meeting)}
    assert set(rows) == {
        "jane.doe@example.com",
        "li.lei@example.cn",
        "zoe@example.com",
        "doe.john@example.com",
        "sam.noshow@example.com",
        "guest:iPhone de Marie",
        "invalid:typo.person@",
    }
    assert rows["jane.doe@example.com"].sessions == 3
    assert rows["jane.doe@example.com"].total_seconds == 3300
    assert rows["sam.noshow@example.com"].status == Attendance.Status.NO_SHOW
    assert rows["li.lei@example.cn"].registrant_id == "reg-li"

    items = {(i.reason, i.email or i.name) for i in run.items.all()}
    assert items == {
        (SyncRunItem.Reason.NO_EMAIL, "iPhone de Marie"),
        (SyncRunItem.Reason.INVALID_EMAIL, "typo.person@"),
    }
    guest = run.items.get(reason=SyncRunItem.Reason.NO_EMAIL)
    assert guest.detail.endswith("2 join sessions under this name.")
    assert all(i.status == BrevoImport.Status.COMPLETED for i in run.imports.all())


@responses.activate
def test_running_again_gives_the_same_brevo_state_and_no_duplicates(conn):
    zoom_webinar()
    brevo_ok()
    first = sync(conn)
    first_imports = imports_sent()
    responses.calls.reset()

    second = sync(conn)
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert imports_sent() == first_imports  # same contacts, same lists, upserted
    assert second.brevo_calls == 3 + 3  # attributes are cached: imports and checks
    assert Attendance.objects.filter(meeting=second.meeting).count() == 7
    assert second.meeting_id == first.meeting_id
    assert ZoomMeeting.objects.count() == 1
    assert all(
        "unlinkListIds" not in c.request.body.decode()
        for c in responses.calls
        if c.request.body
    )


@responses.activate
def test_a_finished_run_is_not_run_again(conn):
    zoom_webinar()
    brevo_ok()
    run = sync(conn)
    calls = len(responses.calls)
    again = run_sync(run.pk)
    assert again.status == SyncRun.Status.SUCCEEDED
    assert len(responses.calls) == calls


@responses.activate
def test_no_show_list_is_used_only_when_assigned_and_topic_filters_apply(conn):
    ListAssignment.objects.create(
        connection=conn, audience=Audience.WEBINAR_NO_SHOWS, list_id=18
    )
    ListAssignment.objects.create(
        connection=conn,
        audience=Audience.WEBINAR_ATTENDEES,
        list_id=30,
        topic_filter="roadmap",
    )
    ListAssignment.objects.create(
        connection=conn,
        audience=Audience.WEBINAR_ATTENDEES,
        list_id=31,
        topic_filter="pricing",
    )
    zoom_webinar()
    brevo_ok()
    sync(conn)
    sent = imports_sent()
    assert set(sent) == {(16, 17, 30), (16, 30), (17, 18)}


@responses.activate
def test_registration_source_recorded_by_webhook_is_mapped_and_kept(conn):
    meeting = ZoomMeeting.objects.create(
        connection=conn, kind="webinar", zoom_id=WEBINAR_ID, uuid=UUID
    )
    Attendance.objects.create(
        meeting=meeting,
        person_key="zoe@example.com",
        email="zoe@example.com",
        registration_source="newsletter",
        status=Attendance.Status.REGISTERED,
    )
    zoom_webinar()
    brevo_ok()
    sync(conn)
    by_email = {
        c["email"]: c["attributes"] for rows in imports_sent().values() for c in rows
    }
    assert by_email["zoe@example.com"]["UTM_SOURCE"] == "newsletter"
    zoe = Attendance.objects.get(meeting=meeting, person_key="zoe@example.com")
    assert zoe.registration_source == "newsletter"
    assert zoe.status == Attendance.Status.ATTENDED


@responses.activate
def test_meeting_run_puts_participants_on_the_participants_list(conn):
    responses.get(
        re.compile(rf"{ZOOM}/past_meetings/[^/]+$"),
        json=load_fixture("sync/past_meeting.json"),
    )
    responses.get(
        f"{ZOOM}/meetings/81234567890",
        status=404,
        json={"code": 3001, "message": "Meeting does not exist: 81234567890."},
    )
    responses.get(
        re.compile(rf"{ZOOM}/past_meetings/[^/]+/participants"),
        json=load_fixture("sync/meeting_participants.json"),
    )
    brevo_ok()
    run = sync(conn, ref="aBc//dEf+gH/iJ==", kind="meeting")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert {k: sorted(c["email"] for c in v) for k, v in imports_sent().items()} == {
        (15,): ["ana@example.com", "bo@example.com"]
    }
    # The occurrence uuid starts with letters but holds "//": double encoded.
    participants_call = next(
        c for c in responses.calls if "/participants" in c.request.url
    )
    assert "aBc%252F%252FdEf%252BgH%252FiJ%253D%253D" in participants_call.request.url
    ana = Attendance.objects.get(person_key="ana@example.com")
    assert ana.minutes_late == 3.0  # no scheduled start known: actual start
    assert ana.attendance_percent == 90.0


@responses.activate
def test_zoom_daily_limit_reschedules_the_run_for_the_reset(
    conn, django_capture_on_commit_callbacks
):
    responses.get(
        re.compile(rf"{ZOOM}/past_webinars/[^/]+$"),
        status=429,
        json={
            "code": 429,
            "message": "You have reached the maximum daily rate limit for this API.",
        },
        headers={
            "X-RateLimit-Type": "Daily-limit",
            "X-RateLimit-Category": "Medium",
            "Retry-After": "2026-12-04T00:00:00Z",
        },
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = sync(conn)
    assert run.status == SyncRun.Status.RESCHEDULED
    assert run.not_before == datetime(2026, 12, 4, tzinfo=UTC)
    assert "daily rate limit" in run.error
    assert "2026-12-04 00:00" in run.error
    assert len(callbacks) == 1
    assert callbacks[0].keywords["eta"] == datetime(2026, 12, 4, tzinfo=UTC)


@responses.activate
def test_deleted_webinar_fails_with_a_clear_message(conn):
    responses.get(
        re.compile(rf"{ZOOM}/past_webinars/[^/]+$"),
        status=404,
        json={"code": 3001, "message": "Webinar 94212345678 not found or has expired."},
    )
    run = sync(conn)
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("Zoom has no webinar 94212345678")
    assert run.zoom_calls == 1
    assert run.finished_at


@responses.activate
def test_missing_scope_fails_naming_the_scope(conn):
    responses.get(
        re.compile(rf"{ZOOM}/past_webinars/[^/]+$"),
        json=load_fixture("sync/past_webinar.json"),
    )
    responses.get(
        f"{ZOOM}/webinars/{WEBINAR_ID}", json=load_fixture("sync/webinar.json")
    )
    responses.get(
        f"{ZOOM}/webinars/{WEBINAR_ID}/registrants",
        status=400,
        json={
            "code": 4711,
            "message": "Invalid access token, does not contain scopes:"
            "[webinar:read:list_registrants:admin].",
        },
    )
    responses.add_callback(
        responses.GET,
        re.compile(rf"{ZOOM}/past_webinars/[^/]+/participants"),
        callback=paged(
            "sync/participants_page1.json", "sync/participants_page2.json", "partpage2"
        ),
    )
    run = sync(conn)
    assert run.status == SyncRun.Status.FAILED
    assert "webinar:read:list_registrants:admin" in run.error


@responses.activate
def test_transient_failure_requeues_then_fails_on_the_last_attempt(conn, settings):
    settings.HTTP_MAX_RETRIES = 0
    responses.get(re.compile(rf"{ZOOM}/past_webinars/[^/]+$"), status=503)
    run = new_run(conn)
    with pytest.raises(TransientSyncError):
        run_sync(run.pk, final_attempt=False)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.QUEUED
    assert run.attempt == 2
    assert run.error.startswith("Will retry")

    run_sync(run.pk, final_attempt=True)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("Gave up after retries")


@responses.activate
def test_all_time_figures_count_this_occurrence_once_however_often_synced(conn):
    """The rows of this occurrence are stored after the imports leave: its
    figures come from the run itself, added once to the other occurrences'."""
    from connector.models import FieldMapping, ZoomField

    T = FieldMapping.Transform
    for field, attribute, transform in [
        (ZoomField.EVENTS_ATTENDED, "ZOOM_EVENTS_ATTENDED", T.NONE),
        (ZoomField.TOTAL_MINUTES, "ZOOM_TOTAL_MINUTES", T.NONE),
        (ZoomField.LAST_ATTENDED, "ZOOM_LAST_ATTENDED", T.DATE),
    ]:
        FieldMapping.objects.create(
            connection=conn, zoom_field=field, brevo_attribute=attribute,
            transform=transform,
        )  # fmt: skip
    earlier = ZoomMeeting.objects.create(
        connection=conn, kind="webinar", uuid="earlier==", zoom_id=WEBINAR_ID
    )
    Attendance.objects.create(
        meeting=earlier,
        person_key="jane.doe@example.com",
        email="jane.doe@example.com",
        first_join=datetime(2026, 2, 2, 17, 0, tzinfo=UTC),
        total_seconds=600,
        status=Attendance.Status.ATTENDED,
    )
    zoom_webinar()
    brevo_ok()

    for _ in range(2):
        responses.calls.reset()
        run = sync(conn)
        assert run.status == SyncRun.Status.SUCCEEDED, run.error
        sent = imports_sent()
        by_email = {c["email"]: c["attributes"] for rows in sent.values() for c in rows}
        jane = by_email["jane.doe@example.com"]
        assert jane["ZOOM_EVENTS_ATTENDED"] == 2
        assert jane["ZOOM_TOTAL_MINUTES"] == 65  # 10 before + 55 now
        assert jane["ZOOM_LAST_ATTENDED"] == "2026-03-02"
        zoe = by_email["zoe@example.com"]
        assert (zoe["ZOOM_EVENTS_ATTENDED"], zoe["ZOOM_TOTAL_MINUTES"]) == (1, 30)
        # A no-show attended nothing.
        assert "ZOOM_EVENTS_ATTENDED" not in by_email["sam.noshow@example.com"]
    meeting = ZoomMeeting.objects.get(connection=conn, uuid=UUID)
    assert meeting.attendances.filter(email="jane.doe@example.com").count() == 1


@responses.activate
def test_a_refused_brevo_key_stops_the_run_before_zoom_is_read_to_the_end(conn):
    """The Brevo side is checked while Zoom's pages come in: a key Brevo
    refuses ends the run early, with nothing stored and nothing imported."""
    import threading
    import time

    refused = threading.Event()
    zoom_webinar()
    first_page = paged(
        "sync/participants_page1.json", "sync/participants_page2.json", "partpage2"
    )
    pages = []

    def participants(request):
        pages.append(request.url)
        refused.wait(5)
        time.sleep(0.3)  # time for the refusal to reach the run
        return first_page(request)

    responses.remove(
        responses.GET, re.compile(rf"{ZOOM}/past_webinars/[^/]+/participants")
    )
    responses.add_callback(
        responses.GET,
        re.compile(rf"{ZOOM}/past_webinars/[^/]+/participants"),
        callback=participants,
    )

    def attributes(request):
        refused.set()
        return 401, {}, json.dumps({"code": "unauthorized", "message": "Key not found"})

    responses.add_callback(
        responses.GET, f"{BREVO}/contacts/attributes", callback=attributes
    )
    run = sync(conn)
    assert run.status == SyncRun.Status.FAILED
    assert "Brevo refused the API key" in run.error and "Key not found" in run.error
    assert len(pages) == 1  # page 2 was never asked for
    assert imports_sent() == {}
    assert not Attendance.objects.exists()


@responses.activate
def test_one_refused_import_makes_the_run_partial(conn):
    zoom_webinar()
    responses.get(
        f"{BREVO}/contacts/attributes", json=load_fixture("brevo/attributes.json")
    )
    responses.post(re.compile(rf"{BREVO}/contacts/attributes/normal/\w+"), status=201)

    def importer(request):
        body = json.loads(request.body)
        if body["listIds"] == [17]:
            return (
                400,
                {},
                json.dumps({"code": "invalid_parameter", "message": "listIds invalid"}),
            )
        return 202, {}, json.dumps({"processId": 700})

    responses.add_callback(
        responses.POST, f"{BREVO}/contacts/import", callback=importer
    )
    responses.get(
        re.compile(rf"{BREVO}/processes/700"),
        json=load_fixture("brevo/process_completed.json"),
    )
    run = sync(conn)
    assert run.status == SyncRun.Status.PARTIAL
    assert run.upserted == 4
    assert run.failed == 1
    refused = run.items.get(reason=SyncRunItem.Reason.BREVO_REJECTED)
    assert refused.email == "sam.noshow@example.com"
    assert "listIds invalid" in refused.detail


@responses.activate
def test_imports_are_uploaded_side_by_side(conn):
    """The three imports of the run are in flight together: each answer waits
    until all three requests have reached Brevo (a serial upload would time
    out on the first)."""
    zoom_webinar()
    all_in = threading.Barrier(3, timeout=5)

    def wait_for_the_others(request):
        all_in.wait()  # raises BrokenBarrierError after 5 s alone

    brevo_ok(before_import=wait_for_the_others)
    run = sync(conn)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.upserted == 5
    assert sorted(run.imports.values_list("process_id", flat=True)) == [500, 501, 502]
    assert run.brevo_calls == 1 + 5 + 3 + 3  # counted from three threads, none lost


@responses.activate
def test_brevo_down_for_every_import_requeues_the_run_with_nothing_lost(conn, settings):
    settings.HTTP_MAX_RETRIES = 0
    zoom_webinar()
    brevo_ok(before_import=lambda request: (503, {}, DOWN))
    run = new_run(conn)
    with pytest.raises(TransientSyncError):
        run_sync(run.pk, final_attempt=False, sleep=lambda s: None)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.QUEUED
    assert run.error.startswith("Will retry")
    assert not run.items.filter(reason=SyncRunItem.Reason.BREVO_REJECTED).exists()
    statuses = set(run.imports.values_list("status", flat=True))
    assert statuses == {BrevoImport.Status.FAILED}


@responses.activate
def test_brevo_down_for_one_import_only_fails_its_contacts(conn, settings):
    settings.HTTP_MAX_RETRIES = 0
    zoom_webinar()

    def down_for_the_registered_attendees(request):
        if json.loads(request.body)["listIds"] == [16, 17]:
            return 503, {}, DOWN
        return None

    brevo_ok(before_import=down_for_the_registered_attendees)
    run = sync(conn)
    assert run.status == SyncRun.Status.PARTIAL
    assert (run.upserted, run.failed) == (2, 3)
    failed = run.items.filter(reason=SyncRunItem.Reason.BREVO_REJECTED)
    assert set(failed.values_list("email", flat=True)) == {
        "jane.doe@example.com",
        "li.lei@example.cn",
        "zoe@example.com",
    }
    assert all("Import refused by Brevo" in item.detail for item in failed)


@responses.activate
def test_import_never_confirmed_is_not_called_a_success(conn, settings):
    settings.BREVO_IMPORT_FOLLOW_SECONDS = 0.05
    zoom_webinar()
    responses.get(
        f"{BREVO}/contacts/attributes", json=load_fixture("brevo/attributes.json")
    )
    responses.post(re.compile(rf"{BREVO}/contacts/attributes/normal/\w+"), status=201)
    responses.post(f"{BREVO}/contacts/import", status=202, json={"processId": 9})
    responses.get(
        f"{BREVO}/processes/9", json=load_fixture("brevo/process_in_process.json")
    )
    run = run_sync(new_run(conn).pk, sleep=lambda s: __import__("time").sleep(0.03))
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED  # nothing confirmed at all
    assert "not confirmed" in run.error
    assert set(run.imports.values_list("status", flat=True)) == {
        BrevoImport.Status.UNCONFIRMED
    }


@responses.activate
def test_processes_are_polled_sparingly_with_backoff(conn):
    zoom_webinar()
    responses.get(
        f"{BREVO}/contacts/attributes", json=load_fixture("brevo/attributes.json")
    )
    responses.post(re.compile(rf"{BREVO}/contacts/attributes/normal/\w+"), status=201)
    responses.post(f"{BREVO}/contacts/import", status=202, json={"processId": 77})
    answers = iter(["queued", "in_process"] + ["completed"] * 3)
    responses.add_callback(
        responses.GET,
        f"{BREVO}/processes/77",
        callback=lambda r: (200, {}, json.dumps({"status": next(answers)})),
    )
    waits: list[float] = []
    run = run_sync(new_run(conn).pk, sleep=waits.append)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # Three imports: first round asks all three (queued, in_process, completed),
    # the next round 4 s later asks the two still running.
    assert waits == [2.0, 4.0]
    polls = [c for c in responses.calls if "/processes/" in c.request.url]
    assert len(polls) == 5
    assert sum(i.process_polls for i in run.imports.all()) == 5


def test_start_sync_queues_the_run_and_enqueues_on_commit(
    conn, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "connector.tasks.sync.run_sync_task.apply_async",
        lambda args, countdown=None: sent.append((args, countdown)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = start_sync(conn, "webinar", WEBINAR_ID, "admin", countdown=300)
        assert sent == []  # not before the commit
    assert run.status == SyncRun.Status.QUEUED
    assert run.not_before is not None
    assert sent == [((run.pk,), 300)]


def test_notify_endpoint_marks_the_import_completed_once(client, conn):
    record = BrevoImport.objects.create(
        account=conn.brevo_account, process_id=5, contacts=3
    )
    url = f"/hooks/brevo/import/{pipeline_imports.notify_token(record.pk)}/"
    assert (
        client.post(
            url, data=b'{"status":"done"}', content_type="application/json"
        ).status_code
        == 200
    )
    record.refresh_from_db()
    assert record.status == BrevoImport.Status.COMPLETED
    first = record.notified_at
    assert (
        client.post(url, data=b"{}", content_type="application/json").status_code == 200
    )
    record.refresh_from_db()
    assert record.notified_at == first
    assert record.detail["notify_body"] == {"status": "done"}

    forged = f"/hooks/brevo/import/{record.pk}:forged/"
    assert client.post(forged).status_code == 404


def test_notify_is_used_only_where_brevo_can_reach_the_portal(settings, monkeypatch):
    monkeypatch.setattr(pipeline_imports, "_probe", lambda base: True)
    settings.BREVO_IMPORT_NOTIFY = "auto"
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"
    settings.BREVO_API_BASE_URL = "https://api.brevo.com/v3"
    assert pipeline_imports.notify_base_url() is None  # Brevo cannot call a loopback
    settings.BREVO_API_BASE_URL = "http://127.0.0.1:8000/sandbox/brevo/v3"
    assert pipeline_imports.notify_base_url() == "http://127.0.0.1:8000"
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    settings.BREVO_API_BASE_URL = "https://api.brevo.com/v3"
    assert pipeline_imports.notify_base_url() == "https://portal.example.com"
    monkeypatch.setattr(pipeline_imports, "_probe", lambda base: False)
    assert pipeline_imports.notify_base_url() is None
    settings.BREVO_IMPORT_NOTIFY = "off"
    monkeypatch.setattr(pipeline_imports, "_probe", lambda base: True)
    assert pipeline_imports.notify_base_url() is None


def test_task_is_declared_for_the_portal_queue_and_retries_only_transient_errors():
    from connector.tasks.sync import run_sync_task

    assert run_sync_task.name == "connector.sync.run"
    assert run_sync_task.queue == "portal"
    assert run_sync_task.acks_late is True
    assert run_sync_task.autoretry_for == (TransientSyncError,)
    assert run_sync_task.max_retries == 5


@responses.activate
def test_task_on_a_finished_run_does_nothing(conn):
    from connector.tasks.sync import run_sync_task

    zoom_webinar()
    brevo_ok()
    run = sync(conn)
    calls = len(responses.calls)
    assert run_sync_task.apply(args=(run.pk,)).get() == SyncRun.Status.SUCCEEDED
    assert len(responses.calls) == calls


@responses.activate
def test_task_retries_a_transient_failure_then_fails_on_the_last_try(conn, settings):
    from celery.exceptions import Retry

    from connector.tasks.sync import run_sync_task

    settings.HTTP_MAX_RETRIES = 0
    responses.get(re.compile(rf"{ZOOM}/past_webinars/[^/]+$"), status=502)
    run = new_run(conn)
    with pytest.raises(Retry):
        run_sync_task.apply(args=(run.pk,), throw=True)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.QUEUED
    assert run.error.startswith("Will retry")

    last = run_sync_task.apply(args=(run.pk,), retries=run_sync_task.max_retries)
    assert last.get() == SyncRun.Status.FAILED
    run.refresh_from_db()
    assert run.error.startswith("Gave up after retries")


@responses.activate
def test_webinar_without_registrant_ids_reads_the_report_instead(conn):
    zoom_webinar()
    brevo_ok()
    without_ids = load_fixture("sync/participants_page1.json")
    for row in without_ids["participants"]:
        del row["registrant_id"]
    without_ids["next_page_token"] = ""
    responses.replace(
        responses.GET,
        re.compile(rf"{ZOOM}/past_webinars/[^/]+/participants"),
        json=without_ids,
    )
    responses.add_callback(
        responses.GET,
        re.compile(rf"{ZOOM}/report/webinars/[^/]+/participants"),
        callback=paged(
            "sync/participants_page1.json", "sync/participants_page2.json", "partpage2"
        ),
    )
    run = sync(conn)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    report_calls = [c for c in responses.calls if "/report/webinars/" in c.request.url]
    assert len(report_calls) == 2
    assert "include_fields=registrant_id" in report_calls[0].request.url
    li = Attendance.objects.get(person_key="li.lei@example.cn")
    assert li.registrant_id == "reg-li"


@responses.activate
def test_portal_probe_is_remembered_for_a_while_then_asked_again(monkeypatch):
    base = "http://portal.test"
    pipeline_imports._probed.clear()
    responses.get(f"{base}/healthz", body=requests.ConnectionError("refused"))
    assert pipeline_imports._probe(base) is False
    responses.replace(responses.GET, f"{base}/healthz", status=503)
    assert pipeline_imports._probe(base) is False  # remembered
    assert len(responses.calls) == 1
    monkeypatch.setattr(pipeline_imports, "PROBE_TTL", 0.0)
    assert pipeline_imports._probe(base) is True  # any HTTP answer counts
    assert len(responses.calls) == 2
    pipeline_imports._probed.clear()


def test_collector_is_paused_while_mapping_and_left_as_it_was():
    import gc

    from connector.sync.pipeline import collector_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("mapping failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # whoever turned it off turns it back on
    finally:
        gc.enable()
